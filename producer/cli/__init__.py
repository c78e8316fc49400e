"""The `ragq` command line: thin commands over functions in ragq.shared and ragq.producer."""

from pathlib import Path

import click

from ragq.shared.cli import Group
from ragq.shared.config import load_settings


@click.group(cls=Group)
@click.option("--home", type=click.Path(path_type=Path), help="ragq home folder (default: $RAGQ_HOME or ~/.ragq).")
@click.version_option(package_name="ragq")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """Measure how well small local LLMs answer questions about your documents (RAG), and how fast."""
    ctx.obj = load_settings(home=home)


def _register() -> None:
    from ragq.producer.cli import (
        compare,
        config,
        db,
        drift,
        fleet,
        ingest,
        models,
        questions,
        rescore,
        results,
        retrieval,
        runs,
        workers,
    )

    modules = (compare, config, db, drift, fleet, ingest, models, questions, rescore, results, retrieval, runs, workers)
    for module in modules:
        for command in module.COMMANDS:
            main.add_command(command)


_register()
