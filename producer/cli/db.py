"""`ragq db`: the database schema."""

import click

from ragq.producer.cli.output import json_option, print_json
from ragq.shared.config import redact
from ragq.shared.store import db as store_db


@click.group()
def db() -> None:
    """Database schema: upgrade, current revision."""


@db.command()
@click.pass_obj
def upgrade(settings) -> None:
    """Migrate the database to the schema this ragq needs."""
    before, after = store_db.upgrade(settings)
    click.echo(f"database {redact(settings.db_url)}: {before or 'empty'} -> {after}")


@db.command()
@json_option
@click.pass_obj
def current(settings, as_json: bool) -> None:
    """Show the database URL and its schema revision."""
    engine = store_db.connect(settings)
    data = {
        "url": redact(settings.db_url),
        "revision": store_db.current_revision(engine),
        "head": store_db.head_revision(settings.db_url),
    }
    print_json(data) if as_json else click.echo(f"{data['url']}: revision {data['revision']} (head {data['head']})")


COMMANDS = [db]
