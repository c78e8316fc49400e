"""`python -m ragq.worker --model M`: the worker's own entry. Parse, load everything once, consume the queue.

`ragq worker` and `ragq run`'s supervisor both start workers through this entry; the producer never imports
worker/. Its options are `ragq worker`'s, the same declaration (shared/cli.py `worker_options`), with --home in
place of `ragq --home`, and --standby.
"""

import atexit
import logging
import os
import socket
import threading
from pathlib import Path

import click

from ragq.shared import presence
from ragq.shared.broker import broker_url, shared_database_warning
from ragq.shared.celery_app import WorkerName, make_app, publish
from ragq.shared.cli import Command, worker_options
from ragq.shared.config import load_settings
from ragq.shared.models.tuned import placement_for
from ragq.shared.store.queues import queue_name, standby_queue

log = logging.getLogger("ragq.worker")


@click.command(cls=Command)
@click.option("--home", type=click.Path(path_type=Path), help="ragq home folder (default: $RAGQ_HOME or ~/.ragq).")
@worker_options
@click.option(
    "--standby",
    is_flag=True,
    help="Load everything, then take no job until told to (`ragq run` starts the next model's worker this way "
    "while the model before it answers its last jobs).",
)
def main(home, model, placement, indexes, queue, loglevel, standby) -> None:
    """Serve the queue of MODEL: one model, the indexes and the scorer loaded once, one job at a time."""
    settings = load_settings(home=home)
    chosen, why = placement_for(settings, model, placement)  # a whole placement from `ragq run`: taken as is
    if warning := shared_database_warning(settings):
        click.echo(f"Warning: {warning}", err=True)
    # until Celery sets up its own logging: the "ready in ..." line with its start-up phases
    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s: %(levelname)s/%(name)s] %(message)s")
    url = broker_url(settings)
    reaper_app = make_app(url, settings.signing)  # its own connection pool: it publishes from its own thread
    from ragq.shared.store.jobstore import JobStore
    from ragq.worker.app import consume  # Celery and llama.cpp load after the options are known to be good
    from ragq.worker.loaded import load
    from ragq.worker.runtime import WorkerRuntime

    name = WorkerName(model, socket.gethostname(), os.getpid())
    log.info("placement %s (%s)", chosen.label(), why)
    loaded = load(settings, model, chosen, list(indexes), name.id)
    atexit.register(loaded.close)  # where Celery's worker_shutdown did not (a cold shutdown)
    runtime = WorkerRuntime(loaded, JobStore(settings, name.id), name.id)
    if standby:  # counted among the host's workers from its first job: until then it only waits, loaded
        runtime.before_first_job = lambda: announce(runtime, url)
    else:
        announce(runtime, url)
    runtime.start_reaper(lambda jobs: publish(reaper_app, jobs))
    consume(
        runtime,
        name,
        url,
        standby_queue(name.id) if standby else queue or queue_name(model),
        loglevel,
        settings.signing,
    )


def announce(runtime, url: str) -> None:
    """Other ragq runs on this host see this worker, and each result records how many shared the host."""
    try:
        conn = presence.client(url)
        presence.keep_alive(conn, socket.gethostname(), runtime.worker, threading.Event())
        runtime.presence = (conn, socket.gethostname())
        atexit.register(presence.leave, conn, socket.gethostname(), runtime.worker)
    except Exception:  # noqa: BLE001 - a broker without presence keys still gets its jobs answered
        log.warning("could not announce this worker's presence on the broker")


if __name__ == "__main__":
    main(prog_name="python -m ragq.worker")
