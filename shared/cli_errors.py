"""How both entries (`ragq`, `python -m ragq.worker`) report errors: every RagqError as one line on stderr and an
exit code; RAGQ_DEBUG=1 shows the traceback."""

import errno
import os

import click

from ragq.shared.errors import RagqError


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
