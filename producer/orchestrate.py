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

from ragq.shared import catalog
from ragq.shared.broker import broker_url, embedded
from ragq.shared.config import Settings
from ragq.shared.corpus.index import load_index
from ragq.shared.errors import RagqError
from ragq.shared.queue import make_app, publish
from ragq.shared.rag.retrieval import FUSIONS, check_ratio
from ragq.shared.registry import lookup
from ragq.shared.store import catalog_rows, db, jobs


@dataclass(frozen=True)
class Plan:
    runs: list[jobs.RunPlan]
    published: int

    @property
    def run_ids(self) -> list[int]:
        return [r.run_id for r in self.runs]


def enqueue(
    settings: Settings,
    models: list[str],
    ratios: list[float],
    index: str,
    questions: str,
    fusion: str = "seed",
    new_run: bool = False,
) -> Plan:
    """Check everything, write every run and job row, then publish the new jobs to their models' queues."""
    specs = [catalog.get_model(settings, m) for m in dict.fromkeys(models)]
    for spec in specs:
        catalog.model_path(settings, spec)
    for ratio in ratios:
        check_ratio(ratio)
    lookup("fusion mode", fusion, FUSIONS)
    load_index(settings.indexes_dir, index)
    url = broker_url(settings)  # before any row is written: an unreachable broker leaves nothing behind
    engine = db.engine_for(settings)
    with db.session(engine) as s:
        index_row = catalog_rows.get_index(s, index)
        qset = catalog_rows.get_question_set(s, questions)
        plans = [
            jobs.plan_run(
                s, catalog_rows.record_model(s, spec.name, spec.as_dict()), index_row, qset, fusion, ratio, new_run
            )
            for spec in specs
            for ratio in dict.fromkeys(ratios)
        ]
    new_jobs = [(job_id, plan.model) for plan in plans if plan.created for job_id in plan.job_ids]
    with db.session(engine) as s:  # an earlier enqueue may have died while publishing: finish its work
        unfinished = jobs.pending(s, [plan.run_id for plan in plans if not plan.created])
    return Plan(plans, publish(make_app(url), new_jobs + unfinished))


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


def _worker_id(model: str, proc: subprocess.Popen) -> str:
    return f"{model}@{socket.gethostname()}:{proc.pid}"  # as WorkerRuntime names itself


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
            publish(app, _release(self.settings, [_worker_id(model, proc)]))
            self.start(model)

    def stop(self) -> None:
        _stop_workers(self.procs)
        if self.procs:
            _release(self.settings, [_worker_id(m, p) for m, p in self.procs.items()])


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
        if all(c["queued"] == 0 and c["running"] == 0 for c in counts.values()):
            return
        workers.check(app)
        if time.monotonic() >= next_reap:  # a worker elsewhere that died without anyone noticing
            with db.session(engine) as s:
                publish(app, jobs.release_expired(s, run_ids))
            next_reap = time.monotonic() + settings.lease_s / 3
        time.sleep(poll_s)


def run(
    settings: Settings,
    models: list[str],
    ratios: list[float],
    index: str,
    questions: str,
    fusion: str,
    threads: int | None,
    new_run: bool,
    progress: Progress,
) -> Plan:
    """Enqueue, start one worker per model, wait until every job is done or failed, stop what was started."""
    server = None if settings.broker_url else embedded(settings)
    started_here = server.start() if server else False
    workers = None
    try:
        # enqueue also republishes unfinished jobs of existing runs (an interrupted run, a broker restart)
        plan = enqueue(settings, models, ratios, index, questions, fusion, new_run)
        with db.session(db.engine_for(settings)) as s:
            busy_models = {model for _, model in jobs.pending(s, plan.run_ids)}
        each = threads or max(1, (os.cpu_count() or 1) // max(1, len(busy_models)))
        workers = Workers(settings, broker_url(settings), index, each)
        for model in sorted(busy_models):
            workers.start(model)
        wait(settings, plan.run_ids, workers, progress)
        return plan
    finally:
        if workers:
            workers.stop()
        if started_here:
            server.stop()
