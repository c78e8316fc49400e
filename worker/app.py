"""The worker's Celery app and its one task, declared once at import. What a worker holds (the loaded model, the
indexes, the scorer) lives on the task object (`AnswerTask.runtime`), set by `consume` before the first message.

The pool is Celery's `threads` pool with one thread, not `solo`: the job runs in that thread while the main
thread keeps answering the broker's control messages, so `ragq workers` (Celery inspect) sees a busy worker
too; a solo worker answers nothing while it generates.
"""

import logging
import os
import signal
import socket

from celery import Task
from celery.exceptions import Reject
from celery.worker.control import inspect_command

from ragq.shared.celery_app import TASK_NAME, make_app, node_name
from ragq.shared.errors import DatabaseError
from ragq.worker.runtime import WorkerRuntime

log = logging.getLogger("ragq.worker")
app = make_app(None)  # the broker URL is the entry's to set (worker/__main__.py), before it consumes


class AnswerTask(Task):
    """The task type; its one instance per app holds the worker's runtime."""

    runtime: WorkerRuntime | None = None


@app.task(name=TASK_NAME, base=AnswerTask, bind=True, acks_late=True)
def answer(self: AnswerTask, job_id: int) -> str:
    """Claim the job, answer it, store one result; running it twice is harmless (runtime.process)."""
    if self.runtime is None:
        raise RuntimeError("no worker runtime: start workers with `python -m ragq.worker --model NAME`")
    try:
        return self.runtime.process(int(job_id))
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
    runtime = state.consumer.app.tasks[TASK_NAME].runtime
    return runtime.info() if runtime is not None else {}


def consume(runtime: WorkerRuntime, broker_url: str, queue: str, loglevel: str) -> None:
    """Serve `queue` one job at a time with `runtime`, until the worker is stopped."""
    app.conf.broker_url = broker_url
    answer.runtime = runtime
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            "--concurrency=1",
            f"--queues={queue}",
            "--prefetch-multiplier=1",
            f"--hostname={node_name(runtime.spec.name, socket.gethostname(), os.getpid())}",
            "--without-gossip",
            "--without-mingle",
            "--task-events",  # for Flower and other event monitors
            f"--loglevel={loglevel}",
        ]
    )
