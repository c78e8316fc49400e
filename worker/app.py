"""Start a worker: load everything once, then consume the model's queue with Celery's solo pool."""

import os

from ragq.shared.broker import broker_url
from ragq.shared.config import Settings
from ragq.shared.queue import TASK_NAME, make_app, publish, queue_name
from ragq.worker import runtime, tasks


def start(settings: Settings, model: str, threads: int | None, preload: list[str], loglevel: str = "INFO") -> None:
    url = broker_url(settings)
    worker = runtime.WorkerRuntime(settings, model, threads or os.cpu_count() or 1, preload)
    runtime.install(worker)
    reaper_app = make_app(url)  # its own connection pool: it publishes from its own thread
    worker.start_reaper(lambda jobs: publish(reaper_app, jobs))
    app = make_app(url)
    app.task(name=TASK_NAME, acks_late=True)(tasks.answer)
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--concurrency=1",
            f"--queues={queue_name(model)}",
            "--prefetch-multiplier=1",
            f"--hostname={model}@%h-{os.getpid()}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--loglevel={loglevel}",
        ]
    )
