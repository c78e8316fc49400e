"""The worker's Celery app and its one task, declared once at import. What the worker answers with belongs to the
process: `consume` sets it before the first message (`_serving`), and Celery's `worker_shutdown` signal frees the
model when the worker stops.

The pool is Celery's `threads` pool with one thread, not `solo`: the job runs in that thread while the main
thread keeps answering the broker's control messages, so `ragq workers` (Celery inspect) sees a busy worker
too; a solo worker answers nothing while it generates.
"""

import logging
import os
import signal

from celery.exceptions import Reject
from celery.signals import worker_shutdown
from celery.worker.control import inspect_command

from ragq.shared.celery_app import TASK_NAME, WorkerName, make_app, sign_messages
from ragq.shared.errors import DatabaseError
from ragq.worker.runtime import WorkerRuntime

log = logging.getLogger("ragq.worker")
app = make_app(None)  # the broker URL is the entry's to set (worker/__main__.py), before it consumes
_serving: WorkerRuntime | None = None  # this process's runtime, from `consume` until the worker stops


def serving() -> WorkerRuntime:
    if _serving is None:
        raise RuntimeError("no worker runtime: start workers with `python -m ragq.worker --model NAME`")
    return _serving


@app.task(name=TASK_NAME, acks_late=True)
def answer(job_id: int) -> str:
    """Claim the job, answer it, store one result; running it twice is harmless (WorkerRuntime.process)."""
    try:
        return serving().process(int(job_id))
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
    return _serving.info() if _serving is not None else {}


@worker_shutdown.connect
def _free_the_model(**_) -> None:
    if _serving is not None:
        _serving.loaded.close()


def consume(runtime: WorkerRuntime, name: WorkerName, broker_url: str, queue: str, loglevel: str, signing=None) -> None:
    """Serve `queue` one job at a time with `runtime`, until the worker is stopped; with signing (key file,
    certificate file), only messages signed by that certificate are taken."""
    global _serving
    _serving = runtime
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
