"""Fixtures shared by every tier. Each test gets its own RAGQ_HOME; nothing touches ~/.ragq."""

import os
from pathlib import Path

import pytest
from ragq.shared.config import load_settings

REPO = Path(__file__).resolve().parents[1]
DEMO_PDF = REPO / "producer" / "demo" / "guide.pdf"
DEMO_QA = REPO / "producer" / "demo" / "questions.txt"
SHARED_DATA = REPO.parent / "shared" / "data"  # the team folder; a user's clone has none


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    # short path: the embedded Redis listens on a unix socket under it (path length limit ~104)
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="rq", dir="/tmp"))
    monkeypatch.setenv("RAGQ_HOME", str(folder))
    for var in ("RAGQ_DATABASE_URL", "RAGQ_BROKER_URL", "RAGQ_DEBUG"):
        monkeypatch.delenv(var, raising=False)
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
    from ragq.shared.corpus.embedding import Embedder

    e = Embedder()
    e.encode(["load"])
    return e


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory, embedder):
    """The demo guide ingested once for the session (real PDF, real embeddings)."""
    from ragq.shared.corpus import index as idx

    folder = tmp_path_factory.mktemp("indexes")
    sources = idx.describe_sources([DEMO_PDF])
    manifest, chunks, vectors = idx.build("demo", sources, embedder, lambda *a: None)
    idx.save(folder / "demo", manifest, chunks, vectors)
    return idx.load_index(folder, "demo")


def redis_on_localhost() -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def postgres_url() -> str | None:
    url = os.environ.get("RAGQ_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        import sqlalchemy

        with sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2}).connect():
            return url
    except Exception:  # noqa: BLE001 - any failure means: no PostgreSQL to test against here
        return None
