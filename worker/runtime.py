"""What one worker holds for its whole life: one llama.cpp model, the embedder/scorer, the indexes it has used."""

import atexit
import functools
import json
import logging
import os
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import select

from ragq.shared import faults, presence, provenance
from ragq.shared.celery_app import worker_id
from ragq.shared.config import Settings
from ragq.shared.corpus.embedding import Embedder
from ragq.shared.corpus.index import HybridIndex, content_id, load_index
from ragq.shared.errors import CorpusIndexError, RagqError
from ragq.shared.models import catalog, files, identity
from ragq.shared.models.placement import Placement
from ragq.shared.rag.llm import LlamaRunner
from ragq.shared.rag.pipeline import Outcome, answer_question
from ragq.shared.store import db, jobs
from ragq.shared.store.schema import utcnow
from ragq.shared.usage import cpu_seconds, peak_rss_mb
from ragq.worker.startup import StartupClock

log = logging.getLogger("ragq.worker")
REFUSED = (
    "job %s: this worker's attempt %s lost its lease (paused or cut off longer than a lease) and another worker took "
    "the job over: its late result was refused, not stored (counted on the job: `ragq status`)"
)


class WorkerRuntime:
    def __init__(self, settings: Settings, model: str, placement: Placement, preload: list[str]):
        phases = StartupClock()
        self.settings = settings
        self.lease = timedelta(seconds=settings.lease_s)
        self.outage = db.Outage(settings.lease_s)  # the reaper holds off for a lease after the database was away
        self.engine = db.engine_for(settings)
        self.spec = catalog.get_model(settings, model)
        path = files.model_path(settings, self.spec)
        self.sha256 = files.file_sha256(settings, path)
        phases.lap("catalog")
        self.runner = LlamaRunner(path, self.spec, placement)
        self.runner.layout("chat")  # a chat template that cannot render stops the worker here, not every job
        phases.lap("model")
        self.runner.warmup()
        phases.lap("warmup")
        # free the model before interpreter teardown: llama-cpp-python's own finaliser fails after it
        atexit.register(self.runner.llm.close)
        self.embedder = Embedder.from_settings(settings, placement.n_threads)
        self.embedder.encode(["warm up"])  # load now, not inside the first job's timing
        phases.lap("embedder")
        self.indexes: dict[str, HybridIndex] = {}
        for name in preload:
            self.index(name)
        phases.lap("index")
        self.worker_id = worker_id(model, socket.gethostname(), os.getpid())
        self.started = time.time()
        self.jobs_done = 0
        self.current_job: int | None = None
        self.presence = None  # (redis connection, host) once the worker announces itself (worker/__main__.py)
        self.before_first_job: Callable[[], None] | None = None  # a standby worker announces itself then
        self.startup = phases.seconds
        log.info("ready in %.2f s: %s", sum(self.startup.values()), json.dumps(self.startup))
        self.provenance = {
            **provenance.model_provenance(path, self.runner, self.sha256),
            "embedder": self.embedder.name,
            "embedder_runtime": self.embedder.runtime,
            "worker": self.worker_id,
        }

    def index(self, name: str, manifest: dict | None = None) -> HybridIndex:
        """The index, loaded once; with `manifest` (the run's, from the database), checked to hold the same content,
        read again from disk if it was re-ingested since, refused if this host's copy differs."""
        if name not in self.indexes:
            self.indexes[name] = load_index(self.settings.indexes_dir, name)
        if manifest is not None and content_id(self.indexes[name].manifest) != content_id(manifest):
            self.indexes[name] = load_index(self.settings.indexes_dir, name)
            if content_id(self.indexes[name].manifest) != content_id(manifest):
                raise CorpusIndexError(
                    f"index '{name}' on {socket.gethostname()} holds other documents than the run's (content "
                    f"{content_id(self.indexes[name].manifest)[:8]} against {content_id(manifest)[:8]}): ingest the "
                    f"same files on this host (`ragq ingest ... --index {name}`) or share $RAGQ_HOME/indexes."
                )
        return self.indexes[name]

    def process(self, job_id: int) -> str:
        """Claim the job, answer it, store exactly one result. A job done or leased elsewhere is skipped."""
        if self.before_first_job is not None:
            self.before_first_job()
            self.before_first_job = None
        holder = self._transaction(jobs.claim, job_id, self.worker_id, self.lease, self.settings.max_attempts)
        if holder is None:
            return "skipped"
        self.current_job = job_id
        try:
            outcome = self._answer(job_id, holder)
        finally:
            self.current_job = None
        self.jobs_done += outcome == "done"
        return outcome

    def info(self) -> dict:
        """What `ragq workers` shows for this worker."""
        return {
            "worker": self.worker_id,
            "model": self.spec.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "threads": self.runner.placement.n_threads,
            "gpu_layers": f"{self.runner.offload['layers_offloaded']}/{self.runner.offload['layers_total']}",
            "backend": self.runner.offload["backend"],
            "uptime_s": round(time.time() - self.started, 1),
            "startup_s": self.startup,
            "jobs_done": self.jobs_done,
            "job": self.current_job,
        }

    def host_workers(self) -> int | None:
        """Live ragq workers on this host now, this one included (None when the broker cannot say)."""
        if self.presence is None:
            return None
        try:
            return len(presence.on_host(*self.presence))
        except Exception:  # noqa: BLE001 - provenance without the count beats a failed job
            return None

    def _answer(self, job_id: int, holder: jobs.Holder) -> str:
        started, cpu_start = utcnow(), cpu_seconds()
        sharing = [self.host_workers()]
        try:
            ctx = self._transaction(jobs.job_context, job_id)  # a database restart here is waited out, not failed
            if ctx.model != self.spec.name:
                raise RagqError(f"job {job_id} is for model '{ctx.model}', this worker runs '{self.spec.name}'.")
            self._check_settings(ctx)
            faults.on_question(ctx.ask.question)
            with self._heartbeat(job_id, holder):
                index = self.index(ctx.index, ctx.index_manifest)
                outcome = answer_question(ctx.ask, index, self.embedder, self.runner)
        except RagqError as exc:
            return self._fail(job_id, str(exc), holder)
        except Exception as exc:  # a bug or a model crash: record it on the job, keep serving the queue
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            return self._fail(job_id, f"{type(exc).__name__}: {exc}", holder)
        sharing.append(self.host_workers())
        counted = [n for n in sharing if n is not None]
        fields = self._result_fields(ctx, outcome, started, cpu_seconds() - cpu_start, max(counted, default=None))
        stored = self._transaction(jobs.complete, job_id, fields, holder)
        if stored == "refused":
            log.warning(REFUSED, job_id, holder.attempt)
        return stored

    @functools.cache  # noqa: B019 - one runtime per worker process: the cache lives as long as it
    def digest(self, prompt_kind: str) -> str:
        """The spec digest this worker answers with, per prompt kind (fixed once the model is loaded)."""
        return identity.identity(self.spec, self.sha256, prompt_kind).digest

    def _check_settings(self, ctx: jobs.JobContext) -> None:
        """A number is stored only with the settings that produced it: a run enqueued with other settings (the
        catalog entry or the file changed since) is not answered with this worker's."""
        if ctx.spec_digest is not None and ctx.spec_digest != self.digest(ctx.ask.prompt_kind):
            raise RagqError(
                f"run of job {ctx.job_id} was enqueued with other settings for '{ctx.model}' than this worker "
                f"loaded (spec {ctx.spec_digest[:8]} against {self.digest(ctx.ask.prompt_kind)[:8]}): the catalog entry "
                "or the model file changed; enqueue again to make a run with the new settings."
            )

    def start_reaper(self, publish: Callable[[list[tuple[int, str]]], int]) -> threading.Thread:
        """Every live worker frees the jobs of dead ones, of any model, at a jittered interval near lease/3:
        a worker killed mid-job has its job queued again within about one lease, with no `ragq run` watching and
        no manual `ragq requeue`."""

        def reap() -> None:
            rng = random.Random(os.getpid())
            while True:
                db.pause_for(self.lease.total_seconds() / 3 * rng.uniform(0.8, 1.2))
                try:
                    released = self._reap_round()
                    if released:
                        publish(released)
                        log.warning("queued again %d job(s) whose worker stopped: %s", len(released), released)
                except Exception as exc:  # noqa: BLE001 - a missed round only delays recovery to the next one
                    self._missed("could not free expired jobs", exc)

        thread = threading.Thread(target=reap, name="reaper", daemon=True)
        thread.start()
        return thread

    def _reap_round(self) -> list[tuple[int, str]]:
        """Free the jobs whose leases ran out, unless the database was away within the last lease (db.Outage)."""
        with db.session(self.engine) as s:
            s.execute(select(1))  # reaches the database, so an outage and its end show here
            released = jobs.release_expired(s) if self.outage.may_free() else []
        self.outage.over()
        return released

    def _missed(self, what: str, exc: Exception) -> None:
        """A failed background round (reaper, heartbeat): an outage in one line, anything else with its traceback."""
        if db.transient(exc):
            self.outage.seen()
        log.warning("%s: %s", what, db.first_line(exc), exc_info=not db.transient(exc))

    def _transaction(self, fn, *args):
        """fn(session, *args), tried again while the database is away (a restart, a lock) up to RAGQ_DB_OUTAGE_S."""
        return db.transaction(self.engine, fn, *args, limit_s=self.settings.db_outage_s, outage=self.outage)

    @contextmanager
    def _heartbeat(self, job_id: int, holder: jobs.Holder):
        """Renew the job's lease while it runs (llama.cpp releases the GIL), so only a dead worker loses it."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.lease.total_seconds() / 3):
                try:
                    with db.session(self.engine) as s:
                        jobs.renew(s, job_id, holder, self.lease)
                except Exception as exc:  # noqa: BLE001 - a missed beat only shortens the lease; the job goes on
                    self._missed(f"could not renew the lease of job {job_id}", exc)

        thread = threading.Thread(target=beat, name=f"lease-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _fail(self, job_id: int, error: str, holder: jobs.Holder) -> str:
        outcome = self._transaction(jobs.fail, job_id, error, holder)
        if outcome == "refused":
            log.warning(REFUSED, job_id, holder.attempt)
        return outcome

    def _result_fields(self, ctx: jobs.JobContext, o: Outcome, started, cpu_s: float, host_workers) -> dict:
        g = o.generation
        index = self.index(ctx.index).manifest
        job_provenance = {
            **self.provenance,
            "retrieval": {
                **ctx.ask.retrieval.as_dict(ctx.ask.ratio),
                "embedder": self.embedder.name,
                "index": ctx.index,
                "index_sources": {s["name"]: s["sha256"] for s in index["sources"]},
            },
            "kv_cache": "reuse shared prefix" if ctx.ask.kv_reuse else "reset before each job",
            "host_workers": host_workers,  # ragq workers alive on this host while the job ran, this one included
            "expert_score": {**(o.expert_note or {}), "by": "job"},
            **provenance.prompt_provenance(self.runner.layout(ctx.ask.prompt_kind), self.digest(ctx.ask.prompt_kind)),
        }
        return dict(
            answer=o.answer,
            prompt=o.prompt,
            chunk_ids=o.chunk_ids,
            dropped_chunks=o.dropped_chunks,
            cosine=o.cosine,
            retrieval_ms=o.retrieval_ms,
            ttft_s=g.ttft_s,
            prompt_tokens=g.prompt_tokens,
            prompt_eval_s=g.prompt_eval_s,
            gen_tokens=g.gen_tokens,
            gen_s=g.gen_s,
            total_s=g.total_s,
            peak_rss_mb=peak_rss_mb(),
            cpu_s=cpu_s,
            prefix_reused_tokens=g.prefix_reused_tokens,
            evidence_rank=o.evidence_rank,
            **(o.metrics.as_dict() if o.metrics else {}),
            **(o.expert.columns() if o.expert else {}),
            host=socket.gethostname(),
            pid=os.getpid(),
            worker=self.worker_id,
            provenance=job_provenance,
            started_at=started,
            finished_at=utcnow(),
        )
