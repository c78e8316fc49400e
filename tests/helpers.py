"""Driving ragq as a user does: the CLI in subprocesses, workers as real processes, the database read back."""

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select

from ragq.shared.store.schema import Job, Result

REPO = Path(__file__).resolve().parents[1]
DEMO_PDF = REPO / "producer" / "demo" / "guide.pdf"
DEMO_QA = REPO / "producer" / "demo" / "questions.txt"
SHARED_DATA = REPO.parent / "shared" / "data"  # the team folder; a user's clone has none


def ragq(*args, env=None, check=True, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "ragq.producer.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ragq {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def start_worker(model: str, log: Path, env=None, threads: int = 2, index: str | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ragq.producer.cli", "worker", "--model", model, "--threads", str(threads)]
    if index:
        cmd += ["--index", index]
    return subprocess.Popen(cmd, stdout=log.open("a"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def engine_of(home: Path):
    return create_engine(f"sqlite:///{home / 'ragq.db'}")


def finished(home: Path) -> int:
    with engine_of(home).connect() as conn:
        return conn.scalar(select(func.count()).select_from(Job).where(Job.state.in_(["done", "failed"])))


def wait_until_finished(home: Path, expected: int, timeout: float = 480, while_alive=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if finished(home) >= expected:
            return
        if while_alive is not None and while_alive.poll() is not None:
            raise AssertionError(f"the worker exited ({while_alive.returncode}) with jobs unfinished")
        time.sleep(0.5)
    raise AssertionError(f"only {finished(home)} of {expected} jobs finished in {timeout} s")


def tally(home: Path) -> dict:
    """The figures a fault test reports: jobs, results, duplicates, lost."""
    with engine_of(home).connect() as conn:
        total = conn.scalar(select(func.count()).select_from(Job))
        states = dict(conn.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        results = conn.scalar(select(func.count()).select_from(Result))
        distinct = conn.scalar(select(func.count(func.distinct(Result.job_id))))
        retried = conn.scalar(select(func.count()).select_from(Job).where(Job.attempts > 1))
    return {
        "jobs": total,
        "done": states.get("done", 0),
        "failed": states.get("failed", 0),
        "results": results,
        "duplicates": results - distinct,
        "lost": total - states.get("done", 0) - states.get("failed", 0),
        "retried": retried,
    }


def demo_questions(path: Path, count: int) -> Path:
    """The first `count` questions of the shipped demo set, in the study's format."""
    path.write_text("\n".join(DEMO_QA.read_text().splitlines()[: 2 * count]) + "\n")
    return path


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
