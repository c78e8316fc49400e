"""The `ragq` command line: thin commands over functions in ragq.shared and ragq.producer."""

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
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


@click.group(cls=RagqGroup)
@click.option("--home", type=click.Path(path_type=Path), help="ragq home folder (default: $RAGQ_HOME or ~/.ragq).")
@click.version_option(package_name="ragq")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """Measure how well small local LLMs answer questions about your documents (RAG), and how fast."""
    ctx.obj = load_settings(home=home)


def _register() -> None:
    from ragq.producer.cli import db, ingest, models, questions, results, runs

    for module in (db, ingest, models, questions, results, runs):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
