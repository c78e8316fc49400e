"""Real parts: a real Redis, real `ragq worker` subprocesses (one job at a time), real GGUF models, real PDFs."""

import json
import signal
import subprocess
import sys

import pytest
from helpers import DEMO_PDF, SHARED_DATA, demo_questions, ragq, redis_on_localhost, wait_until_finished
from sqlalchemy import create_engine, func, select

from ragq.shared.broker import EmbeddedRedis
from ragq.shared.corpus.index import load_index
from ragq.shared.store.schema import Job, Result

pytestmark = pytest.mark.integration

ULTA_PDF = SHARED_DATA / "financebench" / "pdfs" / "ULTABEAUTY_2023Q4_EARNINGS.pdf"
ULTA_QA = SHARED_DATA / "financebench" / "qa_ulta.json"


ENQUEUE = [
    "enqueue",
    "--model",
    "smollm2-135m",
    "--ratio",
    "0.3",
    "--ratio",
    "0.7",
    "--index",
    "docs",
    "--questions",
    "qa",
    "--json",
]


def document_and_questions(tmp_path):
    """The FinanceBench earnings release with its 4 analyst questions, or the shipped demo guide without ../shared."""
    if ULTA_PDF.exists():
        return ULTA_PDF, ULTA_QA
    return DEMO_PDF, demo_questions(tmp_path / "qa.txt", 4)


def test_worker_answers_enqueued_jobs_once(home, tmp_path):
    pdf, qa = document_and_questions(tmp_path)
    ragq("ingest", str(pdf), "--index", "docs")
    ragq("questions", "import", str(qa), "--set", "qa")
    broker = EmbeddedRedis(home / "redis")
    broker.start()
    out = ragq(*ENQUEUE)
    plan = json.loads(out.stdout)
    assert plan["published"] == 8 and len(plan["runs"]) == 2
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ragq.producer.cli",
            "worker",
            "--model",
            "smollm2-135m",
            "--threads",
            "2",
            "--index",
            "docs",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        db_url = f"sqlite:///{home / 'ragq.db'}"
        wait_until_finished(home, 8, while_alive=worker)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Result)).all()
        states = conn.scalars(select(Job.state)).all()
    assert states == ["done"] * 8, (tmp_path / "worker.log").read_text()[-3000:]
    assert len(rows) == 8 and len({r.job_id for r in rows}) == 8
    chunk_ids = {c.id for c in load_index(home / "indexes", "docs").chunks}
    for r in rows:
        assert r.answer.strip()
        assert -1.0 <= r.cosine <= 1.0
        assert r.ttft_s > 0 and r.total_s >= r.ttft_s and r.prompt_eval_s > 0 and r.retrieval_ms > 0
        assert r.prompt_tokens > 0 and r.gen_tokens > 0 and r.peak_rss_mb > 0
        assert r.chunk_ids and set(r.chunk_ids) <= chunk_ids
        assert "You are a friendly chatbot" in r.prompt and "<|im_start|>assistant" in r.prompt
    # the same work again: no new runs, jobs or messages
    again = json.loads(ragq(*ENQUEUE).stdout)
    assert again["published"] == 0 and not any(r["created"] for r in again["runs"])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Job)) == 8
    results = json.loads(ragq("results", "--json").stdout)
    assert len(results["results"]) == 8 and [s["done"] for s in results["summary"]] == [4, 4]
    broker.stop()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_run_starts_and_stops_everything(home, tmp_path, request, database):
    if database == "postgresql":
        request.getfixturevalue("postgres")
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 2)), "--set", "two")
    env = {}
    if redis_on_localhost():  # the machine's Redis, as a scaled-out user would point at one
        env["RAGQ_BROKER_URL"] = "redis://127.0.0.1:6379/14"
    out = ragq(
        "run", "--model", "gemma3-270m", "--ratio", "0.5", "--index", "demo", "--questions", "two", "--json", env=env
    )
    data = json.loads(out.stdout)
    assert [s["done"] for s in data["summary"]] == [2]
    assert all(r["answer"] for r in data["results"])
    leftover = subprocess.run(["pgrep", "-f", f"--home {home}"], capture_output=True, text=True).stdout
    assert leftover == "", "ragq run left worker processes behind"
    assert not EmbeddedRedis(home / "redis").running()
