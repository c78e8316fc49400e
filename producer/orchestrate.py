"""What only the producer does: write runs and jobs, publish them, and `ragq run`: embedded broker,
one worker subprocess per model, waiting with progress, stopping everything it started."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ragq.shared import catalog, spec
from ragq.shared.broker import broker_url, embedded
from ragq.shared.config import Settings
from ragq.shared.corpus.index import load_index
from ragq.shared.errors import RagqError, UsageError
from ragq.shared.queue import make_app, publish, worker_id
from ragq.shared.rag.retrieval import RetrievalConfig, check_ratio
from ragq.shared.store import catalog_rows, db, jobs


@dataclass(frozen=True)
class Plan:
    runs: list[jobs.RunPlan]
    published: int
    changes: list[str] = field(default_factory=list)  # "smollm2-135m: top_k unset -> 40: new runs"

    @property
    def run_ids(self) -> list[int]:
        return [r.run_id for r in self.runs]


@dataclass(frozen=True)
class RunRequest:
    """What work to do: every (model, ratio) pair becomes one run over the question set."""

    models: list[str]
    ratios: list[float]
    index: str
    questions: str
    retrieval: RetrievalConfig = RetrievalConfig()
    new_run: bool = False
    repeat: int = 1
    kv_reuse: bool = False
    prompts: list[str] = field(default_factory=lambda: ["chat"])
    queue: str | None = None  # None: each model's own queue


def _change_line(s, model: str, ms: jobs.ModelSettings) -> str | None:
    """What changed in the model's settings since its last run with this prompt kind, in one line."""
    last = jobs.last_spec(s, model, ms.prompt_kind)
    if last is None or last[0] == ms.digest:
        return None
    changed = spec.changes(last[1] or {}, ms.identity)
    return f"{model}: {', '.join(changed) or 'settings changed'}: new runs"


def enqueue(settings: Settings, req: RunRequest) -> Plan:
    """Check everything, write every run and job row, then publish the new jobs to their models' queues."""
    specs = [catalog.get_model(settings, m) for m in dict.fromkeys(req.models)]
    settings_of = {
        (sp.name, kind): jobs.ModelSettings(*catalog.resolve_identity(settings, sp, kind), kind)
        for sp in specs
        for kind in dict.fromkeys(req.prompts)
    }
    for ratio in req.ratios:
        check_ratio(ratio)
    if req.repeat < 1:
        raise UsageError(f"--repeat {req.repeat}: give 1 or more timed repetitions.")
    load_index(settings.indexes_dir, req.index)
    url = broker_url(settings)  # before any row is written: an unreachable broker leaves nothing behind
    engine = db.engine_for(settings)
    with db.session(engine) as s:
        index_row = catalog_rows.get_index(s, req.index)
        qset = catalog_rows.get_question_set(s, req.questions)
        changes = [line for (name, _), ms in settings_of.items() if (line := _change_line(s, name, ms))]
        plans = [
            jobs.plan_run(
                s,
                catalog_rows.record_model(s, sp.name, catalog.as_dict(sp)),
                settings_of[(sp.name, kind)],
                index_row,
                qset,
                req.retrieval,
                ratio,
                req.new_run,
                req.repeat,
                req.kv_reuse,
                req.queue,
            )
            for sp in specs
            for kind in dict.fromkeys(req.prompts)
            for ratio in dict.fromkeys(req.ratios)
        ]
    new_jobs = [(job_id, plan.queue) for plan in plans if plan.created for job_id in plan.job_ids]
    with db.session(engine) as s:  # an earlier enqueue may have died while publishing: finish its work
        unfinished = jobs.pending(s, [plan.run_id for plan in plans if not plan.created])
    return Plan(plans, publish(make_app(url), new_jobs + unfinished), list(dict.fromkeys(changes)))


def requeue(settings: Settings, run_ids: list[int]) -> int:
    """Publish again every job of these runs that is neither finished nor held by a live lease."""
    engine = db.engine_for(settings)
    with db.session(engine) as s:
        pending = jobs.pending(s, jobs.resolve_runs(s, run_ids))
    return publish(make_app(broker_url(settings)), pending)


def _spawn_worker(settings: Settings, url: str, model: str, threads: int, index: str) -> subprocess.Popen:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"worker-{model}.log").open("ab")
    cmd = [
        sys.executable,
        "-m",
        "ragq.producer.cli",
        "--home",
        str(settings.home),
        "worker",
        "--model",
        model,
        "--threads",
        str(threads),
        "--index",
        index,
    ]
    env = {**os.environ, "RAGQ_BROKER_URL": url}
    # a session of its own: Ctrl-C reaches ragq run, which then stops the workers itself
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop_workers(procs: dict[str, subprocess.Popen], timeout: float = 15) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _release(settings: Settings, workers: list[str]) -> list[tuple[int, str]]:
    """Jobs that gone workers held go back to queued, for the next worker to take."""
    with db.session(db.engine_for(settings)) as s:
        return jobs.release_workers(s, workers)


def _log_tail(settings: Settings, model: str, lines: int = 5) -> str:
    path = settings.home / "logs" / f"worker-{model}.log"
    tail = path.read_text(errors="replace").strip().splitlines()[-lines:] if path.exists() else []
    return " | ".join(tail)


@dataclass
class Workers:
    """The worker subprocesses `ragq run` started, replaced when something kills them."""

    settings: Settings
    url: str
    index: str
    threads: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    restarts: int = 0

    def start(self, model: str) -> None:
        self.procs[model] = _spawn_worker(self.settings, self.url, model, self.threads, self.index)

    def check(self, app) -> None:
        """A worker that exited by itself (bad model, bad settings) ends the run. A killed one is replaced and
        its job queued again at once; the job's attempt counter stops a job that kills every worker."""
        for model, proc in list(self.procs.items()):
            if proc.poll() is None:
                continue
            if proc.returncode >= 0:
                raise RagqError(
                    f"the worker for '{model}' stopped (exit {proc.returncode}): "
                    f"{_log_tail(self.settings, model)} (log: {self.settings.home / 'logs'})"
                )
            self.restarts += 1
            publish(app, _release(self.settings, [worker_id(model, socket.gethostname(), proc.pid)]))
            self.start(model)

    def stop(self) -> None:
        _stop_workers(self.procs)
        if self.procs:
            _release(self.settings, [worker_id(m, socket.gethostname(), p.pid) for m, p in self.procs.items()])


Progress = Callable[[dict[int, dict[str, int]]], None]


def wait(settings: Settings, run_ids: list[int], workers: Workers, progress: Progress, poll_s: float = 0.5) -> None:
    """Until every job is done or failed: show progress, replace killed workers, requeue expired leases."""
    engine = db.engine_for(settings)
    app = make_app(workers.url)
    next_reap = time.monotonic() + settings.lease_s / 3
    while True:
        with db.session(engine) as s:
            counts = jobs.progress(s, run_ids)
        progress(counts)
        if jobs.all_finished(counts):
            return
        workers.check(app)
        if time.monotonic() >= next_reap:  # a worker elsewhere that died without anyone noticing
            with db.session(engine) as s:
                publish(app, jobs.release_expired(s, run_ids))
            next_reap = time.monotonic() + settings.lease_s / 3
        time.sleep(poll_s)


def threads_per_worker(requested: int | None, workers: int) -> tuple[int, str | None]:
    """Cores divided among the workers unless asked otherwise; a warning when the host is oversubscribed.

    Measured here: two workers with 2 threads each on 2 cores ran 3-4x slower than one; with 1 each, near single speed.
    """
    cores = os.cpu_count() or 1
    threads = requested or max(1, cores // max(1, workers))
    if threads * workers > cores:
        return threads, (
            f"{workers} workers x {threads} threads on {cores} cores: the workers will slow each other "
            f"down and their timings will not be comparable; use --threads {max(1, cores // workers)}."
        )
    return threads, None


def run(settings: Settings, req: RunRequest, threads: int | None, progress: Progress, warn=print) -> Plan:
    """Enqueue, start one worker per model, wait until every job is done or failed, stop what was started."""
    server = None if settings.broker_url else embedded(settings)
    started_here = server.start() if server else False
    workers = None
    try:
        # enqueue also republishes unfinished jobs of existing runs (an interrupted run, a broker restart)
        plan = enqueue(settings, req)
        with db.session(db.engine_for(settings)) as s:
            busy_models = jobs.pending_models(s, plan.run_ids)
        each, warning = threads_per_worker(threads, len(busy_models))
        if warning:
            warn(warning)
        workers = Workers(settings, broker_url(settings), req.index, each)
        for model in sorted(busy_models):
            workers.start(model)
        wait(settings, plan.run_ids, workers, progress)
        return plan
    finally:
        if workers:
            workers.stop()
        if started_here:
            server.stop()
