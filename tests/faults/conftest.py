"""Fault tests: real Redis, real worker processes killed for real. Each prints its figures."""

import pytest
from fleet import PgServer
from helpers import DEMO_PDF, ragq

from ragq.shared.broker import EmbeddedRedis


@pytest.fixture
def figures(capsys):
    """Print one line of figures past pytest's capture, so CI logs show them."""

    def report(name: str, **numbers) -> None:
        with capsys.disabled():
            print(f"\n[fault figures] {name}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))

    return report


@pytest.fixture
def demo_home(home, monkeypatch):
    """The demo guide ingested, short leases (1 s heartbeats), and an embedded Redis running."""
    yield from _demo(home, monkeypatch)


@pytest.fixture
def pg_demo_home(home, postgres, monkeypatch):
    """demo_home with its database on the PostgreSQL server (`postgres`: after `home`, which clears the URL)."""
    yield from _demo(home, monkeypatch)


@pytest.fixture
def own_postgres(home, monkeypatch):
    """A PostgreSQL server of the test's own (initdb, pg_ctl on a free port), which the test may stop and start;
    RAGQ_DATABASE_URL points at it. Skipped where none can be made (not root, no PostgreSQL binaries)."""
    reason = PgServer.missing()
    if reason:
        pytest.skip(reason)
    server = PgServer().init()
    monkeypatch.setenv("RAGQ_DATABASE_URL", server.url)
    yield server
    server.remove()


def _demo(home, monkeypatch):
    monkeypatch.setenv("RAGQ_LEASE_S", "3")
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    broker = EmbeddedRedis(home / "redis")
    broker.start()
    yield home
    broker.stop()
