"""The worker processes `ragq run` starts on this machine, through the worker's own entry (`python -m ragq.worker`),
and `ragq worker`, which becomes one. Killed workers are replaced; a worker that exits by itself (bad model, bad
settings) ends the run with its log's last lines."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from ragq.shared.celery_app import publish, worker_id
from ragq.shared.config import Settings
from ragq.shared.errors import RagqError
from ragq.shared.models.placement import Placement
from ragq.shared.store import db, jobs


def worker_command(settings: Settings, model: str, options: list[str]) -> list[str]:
    """The command that starts a worker of `model` through the worker's own entry (`python -m ragq.worker`)."""
    return [sys.executable, "-m", "ragq.worker", "--home", str(settings.home), "--model", model, *options]


def exec_worker(settings: Settings, model: str, threads, indexes: list[str], queue, loglevel: str, gpu_layers) -> None:
    """`ragq worker`: become the worker process (the same pid, so signals reach it directly)."""
    options = [] if threads is None else ["--threads", str(threads)]
    options += [] if gpu_layers is None else ["--gpu-layers", str(gpu_layers)]
    options += [arg for name in indexes for arg in ("--index", name)]
    options += ([] if queue is None else ["--queue", queue]) + ["--loglevel", loglevel]
    cmd = worker_command(settings, model, options)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


def _spawn_worker(settings: Settings, url: str, model: str, placement: Placement, index: str) -> subprocess.Popen:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"worker-{model}.log").open("ab")
    cmd = worker_command(settings, model, [*placement.worker_args(), "--index", index])
    env = {**os.environ, "RAGQ_BROKER_URL": url}
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
    placement: Placement
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    restarts: int = 0

    def _id(self, model: str) -> str:
        return worker_id(model, socket.gethostname(), self.procs[model].pid)

    def start(self, model: str) -> None:
        self.procs[model] = _spawn_worker(self.settings, self.url, model, self.placement, self.index)

    def finish(self, model: str) -> None:
        """Stop a worker whose model has no work left, so the next one gets the machine."""
        _stop([self.procs[model]])
        _release(self.settings, [self._id(model)])
        del self.procs[model]

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
            publish(app, _release(self.settings, [self._id(model)]))
            self.start(model)

    def stop(self) -> None:
        _stop(list(self.procs.values()))
        if self.procs:
            _release(self.settings, [self._id(m) for m in self.procs])
        self.procs.clear()
