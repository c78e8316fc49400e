"""What both entries (`ragq`, `python -m ragq.worker`) share on the command line: errors reported as one line on
stderr and an exit code (RAGQ_DEBUG=1 shows the traceback), and the options declared once: placement, a worker's,
and the layer count's parser (`--gpu-layers`, `ragq models add --n-gpu-layers`)."""

import errno
import functools
import os

import click

from ragq.shared.errors import RagqError
from ragq.shared.models.placement import PlacementOptions, layers_from_text


class OneLineErrors:
    """A mixin for click.Command and click.Group: errors become one line, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except RagqError as exc:
            if os.environ.get("RAGQ_DEBUG", "") not in ("", "0"):
                raise
            click.echo("Error: " + " ".join(str(exc).split()), err=True)  # one line, even for a driver's message
            ctx.exit(exc.exit_code)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EPIPE, errno.EDQUOT):
                raise
            _silence_stdout()
            if exc.errno != errno.EPIPE:  # a closed pipe (ragq ... | head) is not an error
                click.echo(
                    f"Error: could not write the output ({exc.strerror}): free some space or write elsewhere.", err=True
                )
                ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of unwritable output stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)


class Command(OneLineErrors, click.Command):
    pass


class Group(OneLineErrors, click.Group):
    pass


def layer_count(_ctx, _param, value: str | None) -> int | str | None:
    """A layer count as typed ("12", "-1", "auto") in the type it is checked as: a click callback, so that every
    layer-count option reads its value the same way (the check itself is the placement's or the model spec's, which
    name the option in their message)."""
    return None if value is None else layers_from_text(value)


def placement_options(command, start_from_tuned: bool = True):
    """--threads, --threads-batch, --gpu-layers, --flash-attn/--no-flash-attn, --tuned/--no-tuned, for every command
    that starts or loads a model (`ragq run`, `ragq worker`, `ragq models check`, `ragq models tune` (less --tuned),
    `python -m ragq.worker`). The command receives one `PlacementOptions`, `placement`, checked here: the one place
    a placement enters a process. `PlacementOptions.argv` writes the same options back for a worker process."""
    options = [
        click.option(
            "--threads", type=int, help="llama.cpp threads for generation and prompts (default: tuned or machine)."
        ),
        click.option("--threads-batch", type=int, help="llama.cpp threads for prompt evaluation alone."),
        click.option(
            "--gpu-layers",
            callback=layer_count,
            help="Layers on the accelerator, overriding the catalog's n_gpu_layers: N, -1 (all), 0 (CPU) or auto.",
        ),
        click.option("--flash-attn/--no-flash-attn", default=None, help="llama.cpp's flash attention (default: off)."),
    ]
    if start_from_tuned:
        tuned = "Start from the placement `ragq models tune` saved here."
        options.append(click.option("--tuned/--no-tuned", default=True, help=tuned))

    @functools.wraps(command)
    def wrapper(*args, threads, threads_batch, gpu_layers, flash_attn, tuned=True, **kwargs):
        placement = PlacementOptions.parse(
            threads=threads, threads_batch=threads_batch, gpu_layers=gpu_layers, flash_attn=flash_attn, tuned=tuned
        )
        return command(*args, placement=placement, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def measured_placement_options(command):
    """The placement options of `ragq models tune`, less --tuned/--no-tuned: tune measures placements from this
    machine's default and saves the fastest; it never starts from a saved one, so the flag would mean nothing."""
    return placement_options(command, start_from_tuned=False)


def worker_options(command):
    """--model, the placement options, --index, --queue, --loglevel: what starts a worker, for both of its entries
    (`ragq worker` and `python -m ragq.worker`, which it becomes)."""
    options = [
        click.option("--model", required=True, help="Catalog model this worker loads and serves."),
        placement_options,
        click.option("--index", "indexes", multiple=True, help="Index to load at start (others load on first use)."),
        click.option(
            "--queue", help="Consume this queue instead of the model's own (runs enqueued with --queue NAME)."
        ),
        click.option("--loglevel", default="INFO", show_default=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command
