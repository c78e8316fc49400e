"""The `ragq` command line: thin commands over functions in ragq.shared and ragq.producer."""

import errno
import os
from pathlib import Path

import click

from ragq.shared.config import load_settings
from ragq.shared.errors import RagqError


class RagqGroup(click.Group):
    """Turns every RagqError into one line on stderr and an exit code; RAGQ_DEBUG=1 shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
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


@click.group(cls=RagqGroup)
@click.option("--home", type=click.Path(path_type=Path), help="ragq home folder (default: $RAGQ_HOME or ~/.ragq).")
@click.version_option(package_name="ragq")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """Measure how well small local LLMs answer questions about your documents (RAG), and how fast."""
    ctx.obj = load_settings(home=home)


def _register() -> None:
    from ragq.producer.cli import config, db, ingest, models, questions, results, retrieval, runs

    for module in (config, db, ingest, models, questions, results, retrieval, runs):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
