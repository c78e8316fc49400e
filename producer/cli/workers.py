"""`ragq worker`, `workers`, `monitor`: the workers themselves, the live fleet, and Flower over it."""

import os
import sys

import click

from ragq.producer.cli.output import json_option, print_json, print_table
from ragq.producer.supervisor import worker_command
from ragq.shared.cli import worker_options
from ragq.shared.config import Settings
from ragq.shared.models.placement import PlacementOptions


@click.command()
@worker_options
@click.pass_obj
def worker(settings, model, placement, indexes, queue, loglevel) -> None:
    """Serve the queue of MODEL: one model, the indexes and the scorer loaded once, one job at a time.
    The same as `python -m ragq.worker`, which this command becomes (the process is replaced)."""
    exec_worker(settings, model, placement=placement, indexes=list(indexes), queue=queue, loglevel=loglevel)


@click.command()
@click.option("--timeout", default=2.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds to wait.")
@json_option
@click.pass_obj
def workers(settings, timeout, as_json) -> None:
    """The live workers, asked over the broker: model, host, pid, threads, GPU layers, uptime, jobs done, the job
    each holds now."""
    from ragq.shared.broker import broker_url, check_broker
    from ragq.shared.celery_app import fleet, make_app

    url = broker_url(settings, start_embedded=False)
    check_broker(url)  # one clear line when no broker answers, not Celery's retries
    found = fleet(make_app(url, settings.signing), timeout)
    if as_json:
        print_json(found)
        return
    columns = ["worker", "model", "host", "pid", "threads", "gpu_layers", "uptime_s", "jobs_done", "job"]
    print_table(f"{len(found)} live workers", columns, [[w[c] for c in columns] for w in found])


@click.command()
@click.option("--port", default=5555, show_default=True, type=click.IntRange(1, 65535))
@click.option("--address", default="127.0.0.1", show_default=True, help="Listen address; 0.0.0.0 for every host.")
@click.pass_obj
def monitor(settings, port, address) -> None:
    """Flower, Celery's web monitor, on the configured broker: workers, queues, task events
    (`pip install 'ragq[monitor]'`). Its HTTP API answers without login on a loopback address only."""
    import importlib.util
    import os
    import sys

    from ragq.shared.broker import broker_url, check_broker
    from ragq.shared.errors import UsageError

    if importlib.util.find_spec("flower") is None:
        raise UsageError("Flower is not installed: run `pip install 'ragq[monitor]'` (or `pip install flower`).")
    url = broker_url(settings, start_embedded=False)
    check_broker(url)
    env = {**os.environ, "CELERY_BROKER_URL": url}  # not `--broker URL`: a command line is anyone's to read (ps)
    if address.startswith("127.") or address in ("localhost", "::1"):
        env.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
    app = ["-A", "ragq.producer.monitor_app"]
    args = [sys.executable, "-m", "celery", *app, "flower", f"--port={port}", f"--address={address}"]
    click.echo(f"Flower on http://{address}:{port} (Ctrl-C stops it)", err=True)
    os.execvpe(args[0], args, env)


def exec_worker(
    settings: Settings,
    model: str,
    *,
    placement: PlacementOptions,
    indexes: list[str],
    queue: str | None,
    loglevel: str,
) -> None:
    """`ragq worker`: become the worker process (the same pid, so signals reach it directly)."""
    options = placement.argv() + [arg for name in indexes for arg in ("--index", name)]
    options += ([] if queue is None else ["--queue", queue]) + ["--loglevel", loglevel]
    cmd = worker_command(settings, model, options)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


COMMANDS = [worker, workers, monitor]
