"""What both entries (`ragq`, `python -m ragq.worker`) share on the command line: errors reported as one line on
stderr and an exit code (RAGQ_DEBUG=1 shows the traceback), and the placement options, declared once."""

import errno
import functools
import os

import click

from ragq.shared.errors import RagqError
from ragq.shared.models.placement import PlacementOptions


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


def placement_options(command):
    """--threads, --threads-batch, --gpu-layers, --flash-attn/--no-flash-attn, --tuned/--no-tuned, for every command
    that starts or loads a model (`ragq run`, `ragq worker`, `ragq models check`, `ragq models tune`,
    `python -m ragq.worker`). The command receives one `PlacementOptions`, `placement`, checked here: the one place
    a placement enters a process. `PlacementOptions.argv` writes the same options back for a worker process."""

    @click.option(
        "--threads", type=int, help="llama.cpp threads for generation and prompts (default: tuned or machine)."
    )
    @click.option("--threads-batch", type=int, help="llama.cpp threads for prompt evaluation alone.")
    @click.option(
        "--gpu-layers",
        help="Layers on the accelerator, overriding the catalog's n_gpu_layers: N, -1 (all), 0 (CPU) or auto.",
    )
    @click.option("--flash-attn/--no-flash-attn", default=None, help="llama.cpp's flash attention (default: off).")
    @click.option("--tuned/--no-tuned", default=True, help="Start from the placement `ragq models tune` saved here.")
    @functools.wraps(command)
    def wrapper(*args, threads, threads_batch, gpu_layers, flash_attn, tuned, **kwargs):
        placement = PlacementOptions.parse(
            threads=threads, threads_batch=threads_batch, gpu_layers=gpu_layers, flash_attn=flash_attn, tuned=tuned
        )
        return command(*args, placement=placement, **kwargs)

    return wrapper
