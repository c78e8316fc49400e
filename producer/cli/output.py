"""Printing: rich tables for people, plain JSON for programs."""

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

# piped output gets a wide table instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(title: str, columns: list[str], rows: list[list]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(fmt(v) for v in row))
    console.print(table)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int | None], None]]:
    """Yields a callback (stage, done, total) that drives one bar per stage (total None: not known yet)."""
    if not enabled:
        yield lambda stage, done, total: None
        return
    columns = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # transient: the bar goes away at the end, so an error is the only line left on stderr
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield update


@contextmanager
def live(renderable) -> Iterator[None]:
    """rich's Live display, ended on a line of its own: piped output gets no newline after the last refresh, so
    the next table's title would start on the progress line ("0:01:11Answers")."""
    from rich.live import Live

    with Live(renderable, console=console):
        yield
    if not console.is_terminal:
        console.line()


@contextmanager
def download_bar(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """Yields a callback (bytes so far, total or None) that drives a bar with bytes, speed and time left."""
    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def run_bar() -> Progress:
    """One bar per run: its model's state, answers done of all, failures, time."""
    return Progress(
        TextColumn("run {task.fields[run]:>4} {task.fields[status]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=console,
    )


def statuses(
    run_models: dict[int, str], running: list[str], waiting: list[str], loading: set[str] | None = None
) -> dict[int, str]:
    def status(model: str) -> str:
        if model in (loading or set()):
            return f"{model} loading (takes over when the model before it finishes)"
        if model in running:
            return f"{model} running"
        if model in waiting:
            ahead = waiting.index(model) + len(running)
            return f"{model} waits ({ahead} model{'s' if ahead != 1 else ''} before it)"
        return f"{model} finished"

    return {run_id: status(model) for run_id, model in run_models.items()}


def run_progress(progress: Progress):
    """The supervisor's progress callback, drawn as one bar per run with its model's state."""
    tasks: dict[int, TaskID] = {}

    def update(counts, run_models=None, running=(), waiting=(), loading=frozenset()) -> None:
        status = statuses(run_models, list(running), list(waiting), set(loading)) if run_models else {}
        for run_id, c in counts.items():
            total = sum(c.values())
            line = status.get(run_id, "")
            if run_id not in tasks:
                tasks[run_id] = progress.add_task("", total=total, run=run_id, failed=0, status=line)
            progress.update(
                tasks[run_id], completed=c["done"] + c["failed"], failed=c["failed"], total=total, status=line
            )

    return update
