"""The one clock leases are set and judged by: the database server's, in UTC, never a worker's own.

Hosts' clocks differ (no NTP, a laptop back from sleep, a VM after migration); a lease written with one host's
time and judged with another's frees a live worker's job or keeps a dead one's. `db_now(seconds)` renders as the
database's own time plus an offset, inside the statement that uses it, so every comparison is made by one clock:
SQLite `strftime('%Y-%m-%d %H:%M:%f', 'now', ...)` (the same text form SQLAlchemy stores, so text comparison is
time order), PostgreSQL `statement_timestamp() AT TIME ZONE 'UTC'` plus an interval. `utcnow` is this host's UTC
time as the tables store it (naive UTC): when a job started and finished, never a lease.
"""

from datetime import UTC, datetime

from sqlalchemy import DateTime, literal
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class db_now(FunctionElement):  # noqa: N801 (an SQL function, named as one)
    """The database's current UTC time plus `seconds` (0: now; a lease length: the lease's end)."""

    type = DateTime()
    inherit_cache = True
    name = "db_now"

    def __init__(self, seconds: float = 0.0):
        super().__init__(literal(float(seconds)))


@compiles(db_now, "sqlite")
def _sqlite(element, compiler, **kw) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', {seconds}))"


@compiles(db_now, "postgresql")
def _postgresql(element, compiler, **kw) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"((statement_timestamp() AT TIME ZONE 'UTC') + make_interval(secs => {seconds}))"


@compiles(db_now)
def _other(element, compiler, **kw) -> str:
    raise CompileError(f"ragq's leases need SQLite or PostgreSQL, not {compiler.dialect.name}.")
