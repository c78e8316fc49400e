"""The worker's Celery app and its one task, declared once at import. What the worker answers with belongs to the
process, and lives where Celery's guide puts a per-process resource: on the task, an instance of its base class
(`Answering`: Celery makes one per process and keeps it in its registry). `consume` sets it before the first
message, after loading (so a worker is ready, or on standby, loaded: not loading lazily on its first job), and
Celery's `worker_shutdown` signal frees the model when the worker stops.

The pool is Celery's `threads` pool with one thread, not `solo`: the job runs in that thread while the main
thread keeps answering the broker's control messages, so `ragq workers` (Celery inspect) sees a busy worker
too; a solo worker answers nothing while it generates.
"""

import logging
import os
import signal

from celery import Task
from celery.exceptions import Reject
from celery.signals import worker_shutdown
from celery.worker.control import inspect_command

from ragq.shared.celery_app import TASK_NAME, WorkerName, make_app, sign_messages
from ragq.shared.errors import DatabaseError
from ragq.worker.runtime import WorkerRuntime

log = logging.getLogger("ragq.worker")
app = make_app(None)  # the broker URL is the entry's to set (worker/__main__.py), before it consumes


class Answering(Task):
    """The one task's class. `runtime`: this process's WorkerRuntime, from `consume` until the worker stops."""

    runtime: WorkerRuntime | None = None

    def serving(self) -> WorkerRuntime:
        if self.runtime is None:
            raise RuntimeError("no worker runtime: start workers with `python -m ragq.worker --model NAME`")
        return self.runtime


@app.task(name=TASK_NAME, acks_late=True, base=Answering, bind=True)
def answer(self: Answering, job_id: int) -> str:
    """Claim the job, answer it, store one result; running it twice is harmless (WorkerRuntime.process)."""
    try:
        return self.serving().process(int(job_id))
    except DatabaseError as exc:
        # the database stayed away past RAGQ_DB_OUTAGE_S: acknowledged, the message would be gone while its job
        # is still to do, so it goes back on the queue, and this worker stops (warm shutdown) instead of
        # emptying the queue into the same error
        log.error("%s This worker stops; job %s goes back on the queue.", exc, job_id)
        os.kill(os.getpid(), signal.SIGTERM)
        raise Reject(str(exc), requeue=True) from exc


@inspect_command()
def ragq_worker(state) -> dict:
    """ragq's own view of this worker (model, threads, jobs done, the job it holds), for `ragq workers`."""
    runtime = answer.runtime
    return runtime.info() if runtime is not None else {}


@worker_shutdown.connect
def _free_the_model(**_) -> None:
    if answer.runtime is not None:
        answer.runtime.loaded.close()


def consume(runtime: WorkerRuntime, name: WorkerName, broker_url: str, queue: str, loglevel: str, signing=None) -> None:
    """Serve `queue` one job at a time with `runtime`, until the worker is stopped; with signing (key file,
    certificate file), only messages signed by that certificate are taken."""
    answer.runtime = runtime
    app.conf.broker_url = broker_url
    if signing is not None:
        sign_messages(app, *signing)
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            "--concurrency=1",
            f"--queues={queue}",
            "--prefetch-multiplier=1",
            f"--hostname={name.node}",
            "--without-gossip",
            "--without-mingle",
            "--task-events",  # for Flower and other event monitors
            f"--loglevel={loglevel}",
        ]
    )
