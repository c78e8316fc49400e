"""How a worker answers one job, read top to bottom in `process`: claim it, read what it asks, check the run's
settings, answer under a renewed lease, store the one result. Loading happens before (worker/loaded.py); the
store's calls are shared/store/jobstore.py's, each waited out across a database outage."""

import functools
import logging
import os
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ragq.shared import fault_injection, presence
from ragq.shared.errors import RagqError
from ragq.shared.models import identity
from ragq.shared.rag.pipeline import answer_question
from ragq.shared.records import JobContext
from ragq.shared.store import db
from ragq.shared.store.clock import utcnow
from ragq.shared.store.jobs import Holder, NotClaimed
from ragq.shared.store.jobstore import JobStore
from ragq.shared.usage import cpu_seconds, return_free_memory
from ragq.worker.loaded import Loaded
from ragq.worker.result import job_provenance, job_result

log = logging.getLogger("ragq.worker")
REFUSED = (
    "job %s: this worker's attempt %s lost its lease (paused or cut off longer than a lease) and another worker took "
    "the job over: its late result was refused, not stored (counted on the job: `ragq status`)"
)
LEASE_LOST = (
    "job %s: this worker's attempt %s lost its lease (the database holds another holder now): it stopped answering "
    "at the next heartbeat (%s); nothing was stored"
)  # GenerationStopped says how far it got


class Lease:
    """One job's lease as the worker sees it: lost once a renewal found another holder."""

    def __init__(self):
        self.lost = threading.Event()

    def keep_going(self) -> bool:
        """Asked by the runner before the first token and after each."""
        fault_injection.after_token()
        return not self.lost.is_set()


class WorkerRuntime:
    """One worker process's answering: what it loaded, its name, its store, and what `ragq workers` shows."""

    def __init__(self, loaded: Loaded, store: JobStore, worker: str):
        self.loaded = loaded
        self.store = store
        self.worker = worker  # WorkerName.id: as job and result rows name their holder
        self.spec = loaded.runner.spec
        self.started = time.time()
        self.jobs_done = 0
        self.current_job: int | None = None
        self.presence = None  # (redis connection, host) once the worker announces itself (worker/__main__.py)
        self.before_first_job: Callable[[], None] | None = None  # a standby worker announces itself then

    def process(self, job_id: int) -> str:
        """Claim the job, answer it, store exactly one result; what became of it, in a word or two."""
        if self.before_first_job is not None:
            self.before_first_job()
            self.before_first_job = None
        claimed = self.store.claim(job_id)
        if isinstance(claimed, NotClaimed):
            log.info("job %s not taken: %s", job_id, claimed.reason)
            return f"skipped: {claimed.reason}"
        self.current_job = job_id
        try:
            outcome = self._answer(job_id, claimed)
        finally:
            self.current_job = None
            return_free_memory()  # what the job freed stays resident in glibc's heap otherwise (bench: memory)
        self.jobs_done += outcome == "done"
        return outcome

    def _answer(self, job_id: int, holder: Holder) -> str:
        started, cpu_start = utcnow(), cpu_seconds()
        sharing = [self.host_workers()]
        lease = Lease()
        try:
            ctx = self.store.context(job_id)
            self._check_settings(ctx)
            fault_injection.on_question(ctx.ask.question)
            with self._renewing(job_id, holder, lease):
                index = self.loaded.indexes.get(ctx.index, ctx.index_manifest)  # loaded on first use: under the lease
                outcome = answer_question(ctx.ask, index, self.loaded.embedders, self.loaded.runner, lease.keep_going)
        except Exception as exc:
            if lease.lost.is_set():  # stopped, or cut off mid-read by `interrupt`: the job is another holder's now
                log.warning(LEASE_LOST, job_id, holder.attempt, exc)
                return "lease lost"
            if isinstance(exc, RagqError):
                return self._fail(job_id, str(exc), holder)
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())  # a bug or a model crash: recorded
            return self._fail(job_id, f"{type(exc).__name__}: {exc}", holder)  # on the job; the queue goes on
        sharing.append(self.host_workers())
        counted = max((n for n in sharing if n is not None), default=None)
        digest = self.digest(ctx.ask.prompt_kind)
        made_with = job_provenance(self.loaded, ctx, outcome, index, digest, counted)
        result = job_result(outcome, started, cpu_seconds() - cpu_start, self.worker, made_with)
        stored = self.store.complete(job_id, result, holder)
        if stored == "refused":
            log.warning(REFUSED, job_id, holder.attempt)
        return stored

    def _fail(self, job_id: int, error: str, holder: Holder) -> str:
        outcome = self.store.fail(job_id, error, holder)
        if outcome == "refused":
            log.warning(REFUSED, job_id, holder.attempt)
        return outcome

    @functools.cache  # noqa: B019 - one runtime per worker process: the cache lives as long as it
    def digest(self, prompt_kind: str) -> str:
        """The spec digest this worker answers with, per prompt kind (fixed once the model is loaded)."""
        return identity.identity(self.spec, self.loaded.sha256, prompt_kind).digest

    def _check_settings(self, ctx: JobContext) -> None:
        """A number is stored only with the settings that produced it: a job for another model, or of a run
        enqueued with other settings (the catalog entry or the file changed since), is not answered here."""
        if ctx.model != self.spec.name:
            raise RagqError(f"job {ctx.job_id} is for model '{ctx.model}', this worker runs '{self.spec.name}'.")
        if ctx.spec_digest is not None and ctx.spec_digest != self.digest(ctx.ask.prompt_kind):
            raise RagqError(
                f"run of job {ctx.job_id} was enqueued with other settings for '{ctx.model}' than this worker "
                f"loaded (spec {ctx.spec_digest[:8]} against {self.digest(ctx.ask.prompt_kind)[:8]}): the catalog entry "
                "or the model file changed; enqueue again to make a run with the new settings."
            )

    @contextmanager
    def _renewing(self, job_id: int, holder: Holder, lease: "Lease") -> Iterator[None]:
        """Renew the job's lease every lease/3 while it runs (llama.cpp releases the GIL). A renewal that finds the
        job held by someone else marks the lease lost and interrupts the model: the generation stops at its next
        token, or a prompt's evaluation at its next batch, instead of answering to the end only to be refused."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.store.lease.total_seconds() / 3):
                try:
                    if not self.store.renew(job_id, holder):
                        lease.lost.set()
                        self.loaded.runner.interrupt()
                        return
                except Exception as exc:  # noqa: BLE001 - a missed beat (an outage) only shortens the lease
                    self.store.missed(f"could not renew the lease of job {job_id}", exc)

        thread = threading.Thread(target=beat, name=f"lease-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def start_reaper(self, publish: Callable[[list[tuple[int, str]]], int]) -> threading.Thread:
        """Every live worker frees the jobs of dead ones, of any model, at a jittered interval near lease/3:
        a worker killed mid-job has its job queued again within about one lease, with no `ragq run` watching and
        no manual `ragq requeue`."""

        def reap() -> None:
            rng = random.Random(os.getpid())
            while True:
                db.pause_for(self.store.lease.total_seconds() / 3 * rng.uniform(0.8, 1.2))
                try:
                    released = self.store.release_expired()
                    if released:
                        publish(released)
                        log.warning("queued again %d job(s) whose worker stopped: %s", len(released), released)
                except Exception as exc:  # noqa: BLE001 - a missed round only delays recovery to the next one
                    self.store.missed("could not free expired jobs", exc)

        thread = threading.Thread(target=reap, name="reaper", daemon=True)
        thread.start()
        return thread

    def host_workers(self) -> int | None:
        """Live ragq workers on this host now, this one included (None when the broker cannot say)."""
        if self.presence is None:
            return None
        try:
            return len(presence.on_host(*self.presence))
        except Exception:  # noqa: BLE001 - provenance without the count beats a failed job
            return None

    def info(self) -> dict:
        """What `ragq workers` shows for this worker."""
        runner = self.loaded.runner
        return {
            "worker": self.worker,
            "model": self.spec.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "threads": runner.placement.n_threads,
            "gpu_layers": f"{runner.offload['layers_offloaded']}/{runner.offload['layers_total']}",
            "backend": runner.offload["backend"],
            "uptime_s": round(time.time() - self.started, 1),
            "startup_s": self.loaded.startup,
            "jobs_done": self.jobs_done,
            "job": self.current_job,
        }
