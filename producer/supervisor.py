"""`ragq run`'s local supervisor: the embedded broker, the workers of this machine, waiting with progress.

One model at a time by default: its worker holds the machine (every thread, the accelerator) while it answers
every job of its model, across all ratios, prompt kinds and repeats; then it stops, its memory is freed, and the
next model in the plan's order starts. A model's timings then do not depend on what else is in the grid.
`--parallel N` runs N models at once for throughput (the cores split between them), each next worker starting
only when its memory fits beside the running ones. Workers are processes started through the worker's own entry
(`python -m ragq.worker`). Killed workers are replaced; a worker that exits by itself (bad model, bad settings)
ends the run with its log's last lines.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ragq.producer import memory
from ragq.producer.planning import Plan, RunRequest, enqueue
from ragq.shared import presence
from ragq.shared.broker import broker_url, embedded
from ragq.shared.celery_app import WorkerName, activate, make_app, publish
from ragq.shared.config import Settings
from ragq.shared.errors import RagqError
from ragq.shared.hardware import default_threads
from ragq.shared.models import tuned
from ragq.shared.models.placement import Placement, PlacementOptions
from ragq.shared.store import standing
from ragq.shared.store.door import Store
from ragq.shared.store.queues import queue_name


@dataclass(frozen=True)
class Schedule:
    """What `ragq run` will do, said before it starts: the models in order, how many at once, each one's placement
    and why (tuned on this host, the machine's default, options)."""

    order: list[str]
    parallel: int
    placements: dict[str, Placement]
    reasons: dict[str, str]
    need_mb: dict[str, float]


def oversubscribed(placement: Placement, parallel: int, cores: int | None = None) -> str | None:
    """A warning when `parallel` workers with this placement would want more cores than the machine has.

    Measured here: two workers with 2 threads each on 2 cores ran 3-4x slower than one; with 1 each, near single speed.
    """
    count = cores or default_threads()[0]
    busiest = max(placement.n_threads, placement.batch_threads)
    if parallel < 2 or busiest * parallel <= count:
        return None
    return (
        f"{parallel} workers x {busiest} threads on {count} cores: the workers will slow each other down and their "
        f"timings will not be comparable; use --threads {max(1, count // parallel)}."
    )


def worker_command(settings: Settings, model: str, options: list[str]) -> list[str]:
    """The command that starts a worker of `model` through the worker's own entry (`python -m ragq.worker`)."""
    return [sys.executable, "-m", "ragq.worker", "--home", str(settings.home), "--model", model, *options]


def _spawn_worker(
    settings: Settings, url: str, model: str, placement: Placement, index: str, standby: bool = False
) -> subprocess.Popen:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"worker-{model}.log").open("ab")
    cmd = worker_command(
        settings, model, [*placement.as_options().argv(), "--index", index, *(["--standby"] * standby)]
    )
    env = {
        **os.environ,
        "RAGQ_BROKER_URL": settings.broker_url or url,
        "RAGQ_DATABASE_URL": settings.database_url or settings.db_url,
    }  # this run's, whatever else is set; passwords reach the worker as they reached ragq (environment, files)
    # a session of its own: Ctrl-C reaches ragq run, which then stops the workers itself
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(procs: list[subprocess.Popen], timeout: float = 15) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    placements: dict[str, Placement]
    warn: Callable[[str], None] = print  # a database outage is reported in one line when it starts and ends
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    standby: set[str] = field(default_factory=set)  # loaded (or loading), taking no job until activated
    restarts: int = 0

    def __post_init__(self):
        # waits out a database restart (RAGQ_DB_OUTAGE_S) instead of ending the run; its `outage` holds the
        # reaping off for a lease after the database was away
        self.store = Store(self.settings, waiting=True, say=self.warn)

    def _release(self, workers: list[str]) -> list[tuple[int, str]]:
        """Jobs that gone workers held go back to queued, for the next worker to take."""
        return self.store.release_workers(workers)

    def _id(self, model: str) -> str:
        return WorkerName(model, socket.gethostname(), self.procs[model].pid).id

    def active(self) -> list[str]:
        return [m for m in self.procs if m not in self.standby]

    def start(self, model: str, standby: bool = False) -> None:
        self.procs[model] = _spawn_worker(self.settings, self.url, model, self.placements[model], self.index, standby)
        if standby:
            self.standby.add(model)

    def activate(self, app, model: str) -> bool:
        """A standby worker starts taking its model's jobs (False while it is still loading)."""
        node = WorkerName(model, socket.gethostname(), self.procs[model].pid).node
        if activate(app, node, queue_name(model)):
            self.standby.discard(model)
            return True
        return False

    def finish(self, model: str) -> None:
        """Stop a worker whose model has no work left, so the next one gets the machine."""
        _stop([self.procs[model]])
        self._release([self._id(model)])
        del self.procs[model]
        self.standby.discard(model)

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
            publish(app, self._release([self._id(model)]))
            self.start(model, standby=model in self.standby)

    def stop(self) -> None:
        _stop(list(self.procs.values()))
        if self.procs:
            self._release([self._id(m) for m in self.procs])
        self.procs.clear()
        self.standby.clear()


# progress(per-run job counts, run -> model, models running, models waiting in order, models loading on standby)
Progress = Callable[[dict[int, dict[str, int]], dict[int, str], list[str], list[str], set[str]], None]


def supervise(
    settings: Settings,
    run_models: dict[int, str],
    schedule: Schedule,
    workers: Workers,
    progress: Progress,
    budget_mb: float,
    poll_s: float = 0.5,
) -> None:
    """Until every job is done or failed: start workers in the schedule's order as slots and memory allow, stop
    each once its model's work is done, replace killed ones, requeue expired leases."""
    app = make_app(workers.url, settings.signing)
    run_ids = list(run_models)
    next_reap = time.monotonic() + settings.lease_s / 3
    while True:
        counts = workers.store.progress(run_ids)
        # a model has work while any of its jobs is queued or running (a running job may yet be released)
        busy = {run_models[r] for r, c in counts.items() if c["queued"] or c["running"]}
        for model in [m for m in workers.procs if m not in busy]:
            workers.finish(model)
        waiting = [m for m in schedule.order if m in busy and m not in workers.procs]
        fill_slots(workers, schedule, waiting, budget_mb, app)
        last_jobs = all(queued(counts, run_models, m) == 0 for m in workers.active())
        if waiting and last_jobs and not workers.standby and fits(schedule, workers, waiting[0], budget_mb):
            workers.start(waiting.pop(0), standby=True)  # loads while the running model answers its last jobs
        progress(counts, run_models, workers.active(), waiting, workers.standby)
        if standing.all_finished(counts):
            return
        workers.check(app)
        if time.monotonic() >= next_reap and workers.store.outage.may_free():  # a worker elsewhere died unnoticed
            publish(app, workers.store.release_expired(run_ids))
            next_reap = time.monotonic() + settings.lease_s / 3
        time.sleep(poll_s)


def queued(counts: dict[int, dict[str, int]], run_models: dict[int, str], model: str) -> int:
    return sum(c["queued"] for run_id, c in counts.items() if run_models[run_id] == model)


def fits(schedule: Schedule, workers: Workers, model: str, budget_mb: float) -> bool:
    """Whether `model`'s worker fits in memory beside the ones started (each fits alone: checked before the run)."""
    in_use = sum(schedule.need_mb[m] for m in workers.procs)
    return not workers.procs or in_use + schedule.need_mb[model] <= budget_mb


def fill_slots(workers: Workers, schedule: Schedule, waiting: list[str], budget_mb: float, app) -> None:
    """Free slots go first to standby workers (already loaded), then to new workers that fit in memory; a standby
    worker still loading holds its slot."""
    for model in sorted(workers.standby):
        if len(workers.active()) < schedule.parallel:
            workers.activate(app, model)
    while waiting and len(workers.procs) < schedule.parallel and fits(schedule, workers, waiting[0], budget_mb):
        workers.start(waiting.pop(0))


def make_schedule(
    settings: Settings, plan: Plan, asked: PlacementOptions | Placement, parallel: int, needs: dict[str, float], warn
) -> Schedule:
    busy = Store(settings).pending_models(plan.run_ids)
    order = [m for m in dict.fromkeys(r.model for r in plan.runs) if m in busy]
    slots = max(1, min(parallel, len(order) or 1))
    chosen = {m: tuned.placement_for(settings, m, asked, slots) for m in order}
    for warning in dict.fromkeys(oversubscribed(p, slots) for p, _ in chosen.values()):
        if warning:
            warn(warning)
    placements = {m: p for m, (p, _) in chosen.items()}
    return Schedule(order, slots, placements, {m: why for m, (_, why) in chosen.items()}, {m: needs[m] for m in order})


def run(
    settings: Settings,
    req: RunRequest,
    progress: Progress,
    *,
    placement: PlacementOptions | Placement = PlacementOptions(),
    parallel: int = 1,
    warn=print,
    say=print,
) -> Plan:
    """Check that every model fits, enqueue, run the models' workers as scheduled, stop what was started."""
    if parallel < 1:
        raise RagqError(f"--parallel {parallel}: give 1 (one model at a time) or more.")
    budget = memory.memory_budget_mb(settings)
    needs = {m: memory.estimate_need_mb(settings, m) for m in dict.fromkeys(req.models)}
    memory.check_fits_alone(needs, budget)
    server = None if settings.broker_url else embedded(settings)
    started_here = server.start() if server else False
    workers = None
    try:
        url = broker_url(settings)
        others = presence.others_on_host(url, socket.gethostname()) if not started_here else []
        if others:
            warn(
                f"{len(others)} ragq worker(s) already run on this host ({', '.join(others)}): "
                "they share its cores and memory, so this run's timings will not be comparable to a run made alone."
            )
        # enqueue also republishes unfinished jobs of existing runs (an interrupted run, a broker restart)
        plan = enqueue(settings, req)
        schedule = make_schedule(settings, plan, placement, parallel, needs, warn)
        if schedule.order:
            say(describe(schedule))
        workers = Workers(settings, url, req.index, schedule.placements, warn)
        supervise(settings, {r.run_id: r.model for r in plan.runs}, schedule, workers, progress, budget[0])
        return plan
    finally:
        if workers:
            workers.stop()
        if server is not None and started_here:
            server.stop()


def describe(schedule: Schedule) -> str:
    how = "one at a time" if schedule.parallel == 1 else f"{schedule.parallel} at a time"
    models = " -> ".join(
        f"{m} (~{schedule.need_mb[m]:,.0f} MB, {schedule.placements[m].label()}: {schedule.reasons[m]})"
        for m in schedule.order
    )
    return f"models {how}: {models}"
