"""`python -m ragq.worker --model M`: the worker's own entry. Parse, load everything once, consume the queue.

`ragq worker` and `ragq run`'s supervisor both start workers through this entry; the producer never imports
worker/. Options mirror `ragq worker`'s, with --home in place of `ragq --home`.
"""

import atexit
import logging
import socket
import threading
from pathlib import Path

import click

from ragq.shared import presence
from ragq.shared.broker import broker_url, shared_database_warning
from ragq.shared.celery_app import make_app, publish, queue_name, standby_queue
from ragq.shared.cli_errors import Command
from ragq.shared.config import load_settings
from ragq.shared.models.placement import PlacementOptions, choose
from ragq.shared.models.tuned import saved_for

log = logging.getLogger("ragq.worker")


@click.command(cls=Command)
@click.option("--home", type=click.Path(path_type=Path), help="ragq home folder (default: $RAGQ_HOME or ~/.ragq).")
@click.option("--model", required=True, help="Catalog model this worker loads and serves.")
@click.option("--threads", type=int, help="llama.cpp threads for generation and prompts (default: tuned or machine).")
@click.option("--threads-batch", type=int, help="llama.cpp threads for prompt evaluation alone.")
@click.option("--gpu-layers", help="Layers on the accelerator: N, -1 (all), 0 (CPU) or auto (the catalog's default).")
@click.option("--flash-attn/--no-flash-attn", default=None, help="llama.cpp's flash attention (default: off).")
@click.option("--tuned/--no-tuned", default=True, help="Start from the placement `ragq models tune` saved here.")
@click.option("--index", "indexes", multiple=True, help="Index to load at start (others load on first use).")
@click.option("--queue", help="Consume this queue instead of the model's own (runs enqueued with --queue NAME).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option(
    "--standby",
    is_flag=True,
    help="Load everything, then take no job until told to (`ragq run` starts the next model's worker this way "
    "while the model before it answers its last jobs).",
)
def main(home, model, threads, threads_batch, gpu_layers, flash_attn, tuned, indexes, queue, loglevel, standby) -> None:
    """Serve the queue of MODEL: one model, the indexes and the scorer loaded once, one job at a time."""
    settings = load_settings(home=home)
    options = PlacementOptions(
        threads=threads, threads_batch=threads_batch, gpu_layers=gpu_layers, flash_attn=flash_attn
    )
    placement, why = choose(options, saved_for(settings, model) if tuned else None)
    if warning := shared_database_warning(settings):
        click.echo(f"Warning: {warning}", err=True)
    # until Celery sets up its own logging: the runtime's "ready in ..." line with its start-up phases
    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s: %(levelname)s/%(name)s] %(message)s")
    url = broker_url(settings)
    from ragq.worker.app import consume  # Celery and llama.cpp load after the options are known to be good
    from ragq.worker.runtime import WorkerRuntime

    log.info("placement %s (%s)", placement.label(), why)
    runtime = WorkerRuntime(settings, model, placement, list(indexes))
    if standby:  # counted among the host's workers from its first job: until then it only waits, loaded
        runtime.before_first_job = lambda: announce(runtime, url)
    else:
        announce(runtime, url)
    reaper_app = make_app(url)  # its own connection pool: it publishes from its own thread
    runtime.start_reaper(lambda jobs: publish(reaper_app, jobs))
    consume(runtime, url, standby_queue(runtime.worker_id) if standby else queue or queue_name(model), loglevel)


def announce(runtime, url: str) -> None:
    """Other ragq runs on this host see this worker, and each result records how many shared the host."""
    try:
        conn = presence.client(url)
        presence.keep_alive(conn, socket.gethostname(), runtime.worker_id, threading.Event())
        runtime.presence = (conn, socket.gethostname())
        atexit.register(presence.leave, conn, socket.gethostname(), runtime.worker_id)
    except Exception:  # noqa: BLE001 - a broker without presence keys still gets its jobs answered
        log.warning("could not announce this worker's presence on the broker")


if __name__ == "__main__":
    main(prog_name="python -m ragq.worker")
