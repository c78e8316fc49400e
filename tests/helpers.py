"""Driving ragq as a user does: the CLI in subprocesses, workers as real processes, the database read back."""

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select

from ragq.shared.models.identity import RunWork, SpecIdentity
from ragq.shared.records import QAPair, RetrievalConfig, RunSettings
from ragq.shared.store import db, inputs, jobs, runs
from ragq.shared.store.schema import Job, Result

# the model side of a run, for tests that write runs without a catalog model behind them
SPEC = SpecIdentity({"params": {"max_tokens": 64}}, "f" * 64, "chat")


def plan_run(
    s, model, index, qset, cfg=RetrievalConfig(), ratio=0.3, new_run=False, repeat=1, kv_reuse=False, queue=None
):
    """runs.plan_run with the test spec, for rows made by the test."""
    settings = RunSettings(retrieval=cfg, repeat=repeat, kv_reuse=kv_reuse)
    work = RunWork(model=model.name, spec=SPEC, index=index.name, questions=qset.name, ratio=ratio, settings=settings)
    return runs.plan_run(s, work, model, index, qset, new_run=new_run, queue=queue)


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


def start_worker(
    model: str,
    log: Path,
    env=None,
    threads: int = 2,
    index: str | None = None,
    extra: list[str] | None = None,
    prefix: list[str] | None = None,
) -> subprocess.Popen:
    """A standalone worker (`ragq worker`); `prefix` runs it under another command, e.g. faketime."""
    cmd = [*(prefix or []), sys.executable, "-m", "ragq.producer.cli", "worker", "--model", model]
    cmd += ["--threads", str(threads)]
    cmd += extra or []
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
    """The test's database: the home's SQLite file, or RAGQ_DATABASE_URL where a test set one."""
    return create_engine(os.environ.get("RAGQ_DATABASE_URL") or f"sqlite:///{home / 'ragq.db'}")


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


# (cosine, total seconds, evidence rank) per question, for two runs over the same three questions
RUN_A = [(0.50, 10.0, 1), (0.70, 20.0, 0), (0.90, 30.0, None)]
RUN_B = [(0.60, 2.0, 2), (0.65, 4.0, 3), (0.95, 5.0, None)]


QUESTIONS = ["Q1?", "Q2?", "Q3; with a semicolon?"]


def fill(engine, questions=QUESTIONS, answers=None):
    """Two finished runs over three questions; `questions` and `answers` (one per question) replace the texts."""
    with db.session(engine) as s:
        index = inputs.record_index(s, {"name": "docs", "chunk_count": 1, "embedder": "e", "sources": []}, "/x")
        pairs = [QAPair(q, f"A{i + 1}", [i] if i < 2 else None) for i, q in enumerate(questions)]
        qset, _ = inputs.import_questions(s, "qs", "f", pairs)
        run_ids = []
        for model, ratio, values in (("small", 0.3, RUN_A), ("tiny", 0.7, RUN_B)):
            plan = plan_run(s, inputs.record_model(s, model, {}), index, qset, ratio=ratio)
            for i, (job_id, (cosine, seconds, rank)) in enumerate(zip(plan.job_ids, values, strict=True)):
                holder = jobs.claim(s, job_id, "w", timedelta(minutes=1), 3)
                row = result(cosine, seconds, rank) | ({"answer": answers[i]} if answers else {})
                jobs.complete(s, job_id, row, holder)
            run_ids.append(plan.run_id)
    return run_ids


def result(cosine, seconds, rank):
    t = datetime(2026, 11, 24, 12, 0, 0)
    return dict(
        answer=f"answer {cosine}",
        prompt="p",
        chunk_ids=["c1", "c2"],
        dropped_chunks=0,
        cosine=cosine,
        retrieval_ms=2.0,
        ttft_s=seconds / 2,
        prompt_tokens=100,
        prompt_eval_s=seconds / 2,
        gen_tokens=10,
        gen_s=seconds / 4,
        total_s=seconds,
        peak_rss_mb=500.0,
        cpu_s=1.0,
        prefix_reused_tokens=0,
        evidence_rank=rank,
        token_f1=cosine / 2,
        exact_match=0.0,
        rouge_l=cosine / 3,
        abstained=cosine < 0.55,
        groundedness=0.8,
        number_match=None,
        answer_words=5,
        host="h",
        pid=1,
        worker="w@h:1",
        started_at=t,
        finished_at=t,
        provenance={
            "model": {"sha256": "ab" * 32, "quantization": "Q4_1"},
            "generation": {"n_threads": 2},
            "kv_cache": "reset before each job",
        },
    )
