"""`ragq fleet secrets`: a fleet's CA, certificates and passwords, and the lines each host needs."""

from pathlib import Path

import click


@click.group()
def fleet() -> None:
    """Many machines: make the secrets that keep a fleet's broker and database to itself."""


@fleet.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--host", "hosts", multiple=True, required=True,
    help="A name or address the broker and database host answers to (repeat it; the first goes in the URLs).",
)  # fmt: skip
@click.option(
    "--install-dir", default=None,
    help="Where every host will keep these files (default: FOLDER itself), for the paths in the printed lines.",
)  # fmt: skip
@click.option("--database-host", default=None, help="Where PostgreSQL runs, when not on the first --host.")
def secrets(folder: Path, hosts: tuple[str, ...], install_dir: str | None, database_host: str | None) -> None:
    """Write a new fleet's CA, server and client certificates and passwords into FOLDER (each file 0600), with the
    broker's and the database server's configuration, then print what each machine needs."""
    from ragq.producer import fleet_secrets

    made = fleet_secrets.make(folder, list(hosts), install_dir, database_host)
    click.echo(f"fleet {made.fleet_id}: secrets written to {folder} (0600; keep ca.key offline once done)")
    click.echo(f"\nOn {hosts[0]}, the broker (Redis 6+ built with TLS):\n  redis-server {made.path('redis.conf')}")
    click.echo(
        f"\nOn {made.database_host or hosts[0]}, PostgreSQL: include {made.path('postgresql.conf')} in postgresql.conf, put "
        f"{made.path('pg_hba.conf')}'s lines first in pg_hba.conf, then `psql -f {made.path('database.sql')}` as "
        "the postgres user (the server key must be owned by postgres)."
    )
    click.echo(
        "\nOn every ragq host (workers and producer): copy ca.pem, client.pem, client.key, signer.pem, signer.key, "
        f"broker-password and database-password to {made.install_dir}, then set (or `set -a; . {made.path('ragq.env')}`):"
    )
    for key, value in fleet_secrets.host_settings(made).items():
        click.echo(f"  export {key}='{value}'")
    click.echo("\nNo password is printed or put in a URL: hosts read them from the files named above.")


COMMANDS = [fleet]
