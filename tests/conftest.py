"""Fixtures shared by every tier. Each test gets its own RAGQ_HOME; nothing touches ~/.ragq.

Skips that speak: every run lists its skips with their reasons (`-rs`, pyproject.toml). The skips an environment may
have, and why (README, "Tests"):
- a laptop or a plain Linux box: no PostgreSQL on 127.0.0.1:5432 (the PostgreSQL, fleet, clock and database-restart
  tests), not root or no `ip` (the multi-host tests), no Chromium, docker-compose or faketime (the report's browser
  test, the compose check, the clock test), ../shared/data not beside the clone (the analysts' question files), a
  system other than Linux (the CPU name's check against lscpu);
- CI (`.ci/run` sets RAGQ_CI=1): none. It installs Chromium, docker-compose and faketime, runs as root on a machine
  that starts PostgreSQL and Redis, and clones beside ../shared; a skip there fails the run, with its reason.
"""

import os
from pathlib import Path

import pytest
from helpers import DEMO_PDF

from ragq.shared.config import load_settings


@pytest.fixture(scope="session")
def onnx_export(tmp_path_factory) -> Path:
    """all-MiniLM-L6-v2 exported to ONNX once per session (about 8 s), and quantized to int8 (4 s), as a home's
    first use would make them."""
    from ragq.shared import hardware
    from ragq.shared.corpus import quantize
    from ragq.shared.corpus.embedding import Embedder
    from ragq.shared.corpus.onnx_export import ensure_onnx

    path = ensure_onnx(tmp_path_factory.mktemp("embedders"))
    quantize.ensure_int8(path, quantize.plan(hardware.cpu_flags()), Embedder("onnx", path.parent).feeds)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch, onnx_export) -> Path:
    # short path: the embedded Redis listens on a unix socket under it (path length limit ~104)
    import os
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="rq", dir="/tmp"))
    (folder / "embedders").mkdir()
    for file in onnx_export.parent.iterdir():  # linked, not exported again: each home would pay 8 s
        os.link(file, folder / "embedders" / file.name)
    monkeypatch.setenv("RAGQ_HOME", str(folder))
    settings = ["DATABASE_URL", "BROKER_URL", "DEBUG", "FLEET", "ALLOW_PLAINTEXT"]
    settings += ["BROKER_PASSWORD", "BROKER_PASSWORD_FILE", "DATABASE_PASSWORD", "DATABASE_PASSWORD_FILE"]
    settings += ["EMBEDDER", "EMBEDDER_RUNTIME", "PDF_READER"]
    for var in settings:
        monkeypatch.delenv(f"RAGQ_{var}", raising=False)
    yield folder
    from ragq.shared.broker import EmbeddedRedis

    EmbeddedRedis(folder / "redis").stop()  # in case a test left the embedded server up
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def settings(home):
    return load_settings()


@pytest.fixture(scope="session")
def embedder():
    """sentence-transformers, the study's runtime. With RAGQ_TEST_ONNX_EMBEDDER=DIR, ragq's ONNX export kept in DIR
    (exported there once): scripts/mutation.py runs the retrieval tests thousands of times, and importing torch was
    most of each run. Only tests that use the vectors, not the runtime, run that way."""
    from ragq.shared.corpus.embedding import Embedder

    kept = os.environ.get("RAGQ_TEST_ONNX_EMBEDDER")
    e = Embedder("onnx", Path(kept)) if kept else Embedder()
    e.encode(["load"])
    return e


@pytest.fixture(scope="session")
def demo_indexes_dir(tmp_path_factory, embedder):
    """An indexes folder with the demo guide ingested once for the session (real PDF, real embeddings). With
    RAGQ_TEST_DEMO_INDEXES set, once for every session that names the folder (scripts/mutation.py: thousands of
    short runs over modules the index's making does not use)."""
    from ragq.shared.corpus import index as idx

    kept = os.environ.get("RAGQ_TEST_DEMO_INDEXES")
    if kept and (Path(kept) / "demo").is_dir():
        return Path(kept)
    folder = Path(kept) if kept else tmp_path_factory.mktemp("indexes")
    sources = idx.describe_sources([DEMO_PDF])
    manifest, chunks, vectors = idx.build("demo", sources, embedder, lambda *a: None)
    idx.save(folder / "demo", manifest, chunks, vectors)
    return folder


@pytest.fixture(scope="session")
def demo_index(demo_indexes_dir):
    from ragq.shared.corpus import index as idx

    return idx.load_index(demo_indexes_dir, "demo")


@pytest.fixture
def postgres(monkeypatch):
    """RAGQ_DATABASE_URL pointing at an emptied PostgreSQL database, or a skip where none answers."""
    from helpers import postgres_url
    from sqlalchemy import create_engine, text

    from ragq.shared.store.schema import Base

    url = postgres_url()
    if url is None:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 (set RAGQ_TEST_POSTGRES to a URL to test one)")
    with create_engine(url).begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    monkeypatch.setenv("RAGQ_DATABASE_URL", url)
    return url


@pytest.fixture
def filled(home):
    """Two finished runs of three questions each, with hand-chosen cosines and timings (helpers.RUN_A, RUN_B)."""
    from helpers import fill

    from ragq.shared.store import db

    engine = db.engine_for(load_settings())
    return engine, fill(engine)


SKIPPED: list[tuple[str, str]] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        SKIPPED.append((report.nodeid, reason))


def under_ci() -> bool:
    return os.environ.get("RAGQ_CI") == "1"


def pytest_sessionfinish(session, exitstatus) -> None:
    """Under CI a skip is a failure: a test that cannot run there tests nothing while the run says green."""
    if under_ci() and SKIPPED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if under_ci() and SKIPPED:
        terminalreporter.section("skipped under CI, where nothing may skip (tests/conftest.py)", red=True)
        for node, reason in SKIPPED:
            terminalreporter.line(f"{node}: {reason}")
