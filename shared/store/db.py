"""Engine, sessions and the schema check. SQLite by default (WAL, busy timeout); any SQLAlchemy URL works."""

import logging
import threading
import time
from contextlib import contextmanager
from functools import cache
from importlib import resources

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import sessionmaker

from ragq.shared import transport
from ragq.shared.config import Settings
from ragq.shared.errors import DatabaseError


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below), so writes take the lock early
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # a writer waits up to 30 s for the lock: on a loaded 2-core machine 5 s was seen to run out
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


log = logging.getLogger("ragq.db")


@cache
def _engine(url: str) -> Engine:
    # a server restarts: each pooled connection is checked before use, so one broken by the restart is replaced
    # instead of failing the transaction that drew it
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        # read-then-write in a deferred transaction fails with SQLITE_BUSY_SNAPSHOT: take the write lock at BEGIN
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("ragq.migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str) -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(alembic_config(url)).get_current_head())


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(settings: Settings) -> tuple[str | None, str | None]:
    """Migrate to head; returns (before, after)."""
    from alembic import command
    from alembic.util import CommandError

    engine = connect(settings)
    before = current_revision(engine)
    try:
        command.upgrade(alembic_config(settings.db_url), "head")
    except CommandError as exc:
        raise DatabaseError(
            f"cannot upgrade the database schema from revision {before} ({exc}): a newer ragq may "
            "have written it; upgrade ragq, or use another RAGQ_HOME / RAGQ_DATABASE_URL."
        ) from exc
    return before, current_revision(engine)


def connect(settings: Settings) -> Engine:
    if settings.database_url is None:
        settings.ensure_home()
    transport.check(None, settings.database_url, settings.allow_plaintext)
    engine = _engine(settings.db_url)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        if refusal := transport.database_refusal(settings.db_url, exc.orig or exc):
            raise DatabaseError(refusal) from exc
        raise DatabaseError(
            f"cannot reach the database {engine.url.render_as_string(hide_password=True)} ({exc.orig}): "
            "check RAGQ_DATABASE_URL and that the server runs."
        ) from exc
    return engine


def engine_for(settings: Settings) -> Engine:
    """An engine on an up-to-date schema. A brand-new database is created; a stale one is refused."""
    engine = connect(settings)
    current = current_revision(engine)
    if current is None and not inspect(engine).get_table_names():
        upgrade(settings)
    elif current != head_revision(settings.db_url):
        raise DatabaseError(
            f"the database schema is at revision {current}, this ragq needs {head_revision(settings.db_url)}: "
            "run `ragq db upgrade`."
        )
    if settings.fleet:
        check_fleet(engine, settings.fleet)
    return engine


def check_fleet(engine: Engine, fleet: str) -> None:
    """Claim an unclaimed database for this host's fleet; refuse one that belongs to another, changing nothing."""
    from sqlalchemy import select

    from ragq.shared.store.schema import FleetRow

    with session(engine) as s:
        recorded = s.scalars(select(FleetRow.id)).all()
        if not recorded:
            s.add(FleetRow(id=fleet))
        elif fleet not in recorded:
            raise DatabaseError(
                f"the database {engine.url.render_as_string(hide_password=True)} belongs to fleet {recorded[0]}, "
                f"this host to fleet {fleet} (RAGQ_FLEET): point RAGQ_DATABASE_URL at fleet {fleet}'s database, "
                "or this host's settings at the other fleet's secrets."
            )


# what a server going away or coming back says (PostgreSQL through psycopg), and SQLite's lock left taken
TRANSIENT = (
    "database is locked",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "connection timed out",
    "could not receive data",
    "could not send data",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "consuming input failed",
    "no route to host",
    "network is unreachable",
)


def transient(exc: BaseException) -> bool:
    """An error worth waiting out: the database restarted or cannot be reached for now, or SQLite's lock stayed
    taken past its busy timeout. A wrong query or a missing table is not."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(marker in text for marker in TRANSIENT)


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def retrying(fn, limit_s: float, say=log.warning, first_pause_s: float = 0.5, most_pause_s: float = 5.0, outage=None):
    """fn() again after a transient database error, pausing 0.5 s, 1 s, 2 s ... (at most `most_pause_s`) for at
    most `limit_s` seconds in all; the outage is reported in one line when it starts and one when it ends. Past the
    limit, or on any other error, the error is raised (a DatabaseError naming the outage for a transient one).

    fn must be one whole transaction: when the connection breaks during COMMIT the outcome is unknown, so what fn
    writes must be safe to try again (jobs.complete and jobs.fail recognise their own earlier success). `outage`
    (an Outage) learns when the database went away and came back."""
    started, pause = None, first_pause_s
    while True:
        try:
            value = fn()
        except DBAPIError as exc:
            if not transient(exc):
                raise
            now = time.monotonic()
            if started is None:
                started = now
                say(f"database unavailable ({first_line(exc)}): trying again for up to {limit_s:.0f} s")
            waited = now - started
            if waited >= limit_s:
                raise DatabaseError(
                    f"the database stayed unavailable for {waited:.0f} s ({first_line(exc)}): check that the "
                    "server runs and is reachable (RAGQ_DATABASE_URL), or raise RAGQ_DB_OUTAGE_S."
                ) from exc
            if outage is not None:
                outage.seen()
            pause_for(min(pause, limit_s - waited))
            pause = min(pause * 2, most_pause_s)
            continue
        if started is not None:
            say(f"database back after {time.monotonic() - started:.1f} s: going on")
        if outage is not None:
            outage.over()
        return value


def pause_for(seconds: float) -> None:
    """time.sleep, but by a timed wait: under libfaketime with the monotonic clock left real (how the clock tests
    shift a worker's wall clock), time.sleep's absolute-deadline nanosleep fails with EINVAL; a timed wait does not."""
    threading.Event().wait(seconds)


class Outage:
    """What a reaper needs to know about database outages: not to free expired leases for one lease after one.
    While the database was away no holder could renew its lease, so leases that ran out meanwhile belong to live
    workers as often as to dead ones; one lease after it is back every live holder has renewed (its heartbeat beats
    at lease/3), and a lease still expired then is abandoned. Fed by every transaction of the process."""

    def __init__(self, lease_s: float):
        self.lease_s, self.down, self.until = lease_s, False, 0.0

    def seen(self) -> None:
        self.down = True

    def over(self) -> None:
        if self.down:
            self.down, self.until = False, time.monotonic() + self.lease_s

    def may_free(self) -> bool:
        return not self.down and time.monotonic() >= self.until


def transaction(engine: Engine, fn, *args, limit_s: float, say=log.warning, outage: "Outage | None" = None):
    """fn(session, *args) in one short transaction, tried again across a database outage (`retrying`)."""

    def attempt():
        with session(engine) as s:
            return fn(s, *args)

    return retrying(attempt, limit_s, say, outage=outage)


@contextmanager
def session(engine: Engine):
    """One short transaction: commit on success, roll back on error."""
    with sessionmaker(engine, expire_on_commit=False)() as s:
        with s.begin():
            yield s
