"""Engine, sessions and the schema check. SQLite by default (WAL, busy timeout); any SQLAlchemy URL works."""

import time
from contextlib import contextmanager
from functools import cache
from importlib import resources

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

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


@cache
def _engine(url: str) -> Engine:
    engine = create_engine(url)
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
    engine = _engine(settings.db_url)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
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
    return engine


def retry_locked(fn, attempts: int = 5, pause_s: float = 1.0):
    """Run a short transaction again when SQLite reports its lock still taken after the busy timeout."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or attempt == attempts:
                raise
            time.sleep(pause_s * attempt)


@contextmanager
def session(engine: Engine):
    """One short transaction: commit on success, roll back on error."""
    with sessionmaker(engine, expire_on_commit=False)() as s:
        with s.begin():
            yield s
