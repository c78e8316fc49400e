"""Start a worker: load everything once, then consume the model's queue, one job at a time.

The pool is Celery's `threads` pool with one thread, not `solo`: the job runs in that thread while the main
thread keeps answering the broker's control messages, so `ragq workers` (Celery inspect) sees a busy worker
too; a solo worker answers nothing while it generates.
"""

import atexit
import logging
import os
import socket
import threading

from celery.worker.control import inspect_command

from ragq.shared import machine, presence
from ragq.shared.broker import broker_url
from ragq.shared.config import Settings
from ragq.shared.queue import TASK_NAME, make_app, publish, queue_name
from ragq.worker import runtime, tasks

log = logging.getLogger("ragq.worker")


def start(
    settings: Settings,
    model: str,
    threads: int | None,
    preload: list[str],
    loglevel: str = "INFO",
    queue=None,
    gpu_layers: int | str | None = None,
) -> None:
    # until Celery sets up its own logging: the runtime's "ready in ..." line with its start-up phases
    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s: %(levelname)s/%(name)s] %(message)s")
    url = broker_url(settings)
    worker = runtime.WorkerRuntime(settings, model, threads or machine.default_threads()[0], preload, gpu_layers)
    runtime.install(worker)
    try:  # other ragq runs on this host see this worker, and each result records how many shared the host
        conn = presence.client(url)
        presence.keep_alive(conn, socket.gethostname(), worker.worker_id, threading.Event())
        worker.presence = (conn, socket.gethostname())
        atexit.register(presence.leave, conn, socket.gethostname(), worker.worker_id)
    except Exception:  # noqa: BLE001 - a broker without presence keys still gets its jobs answered
        log.warning("could not announce this worker's presence on the broker")
    reaper_app = make_app(url)  # its own connection pool: it publishes from its own thread
    worker.start_reaper(lambda jobs: publish(reaper_app, jobs))
    app = make_app(url)
    app.task(name=TASK_NAME, acks_late=True)(tasks.answer)
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            "--concurrency=1",
            f"--queues={queue or queue_name(model)}",
            "--prefetch-multiplier=1",
            f"--hostname={model}@%h-{os.getpid()}",
            "--without-gossip",
            "--without-mingle",
            "--task-events",  # for Flower and other event monitors
            f"--loglevel={loglevel}",
        ]
    )


@inspect_command()
def ragq_worker(state) -> dict:
    """ragq's own view of this worker (model, threads, jobs done, the job it holds), for `ragq workers`."""
    return runtime.current().info()
