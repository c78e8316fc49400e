"""`ragq config`: the settings in force and where each came from."""

import click

from ragq.producer.cli.output import json_option, print_json, print_table
from ragq.shared.config import describe


@click.group()
def config() -> None:
    """Settings: show what is in force."""


@config.command()
@json_option
@click.pass_obj
def show(settings, as_json: bool) -> None:
    """Every setting, its value (passwords redacted) and where it came from (option, environment, file, default)."""
    rows = describe(settings)
    if as_json:
        print_json(rows)
        return
    print_table("Settings", ["key", "value", "from"], [[r["key"], r["value"], r["origin"]] for r in rows])


COMMANDS = [config]
