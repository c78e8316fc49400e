"""The fleet, visible: `ragq workers` asks live workers over the broker, busy ones included."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from helpers import DEMO_PDF, demo_questions, ragq, start_worker, stop, wait_until_finished

from ragq.shared.broker import EmbeddedRedis

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(home):
    """The embedded Redis running, and the demo guide ingested."""
    server = EmbeddedRedis(home / "redis")
    server.start()
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    yield server
    server.stop()


def test_workers_lists_a_busy_and_then_an_idle_worker(home, broker, tmp_path):
    worker = None
    try:
        ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 6)), "--set", "six")
        ragq("enqueue", "--model", "smollm2-135m", "--index", "demo", "--questions", "six")
        assert json.loads(ragq("workers", "--json", "--timeout", "0.5").stdout) == []
        worker = start_worker("smollm2-135m", tmp_path / "worker.log", index="demo")
        busy, deadline = None, time.monotonic() + 120
        while busy is None and time.monotonic() < deadline:
            found = json.loads(ragq("workers", "--json", "--timeout", "1").stdout)
            busy = next((w for w in found if w["job"] is not None), None)
        assert busy is not None, "no worker answered while it held a job"
        assert (busy["model"], busy["pid"], busy["threads"], busy["gpu_layers"]) == (
            "smollm2-135m",
            worker.pid,
            2,
            "0/31",
        )
        wait_until_finished(home, 6, while_alive=worker)
        [idle] = json.loads(ragq("workers", "--json").stdout)
        assert (idle["job"], idle["jobs_done"]) == (None, 6) and idle["uptime_s"] > 0
        assert f"smollm2-135m@{socket.gethostname()}-{worker.pid}" in flower_workers(tmp_path)
    finally:
        if worker is not None:
            stop(worker)


def flower_workers(tmp_path) -> dict:
    """`ragq monitor` on a free loopback port; its API's view of the workers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "ragq.producer.cli", "monitor", "--port", str(port)]
    flower = subprocess.Popen(cmd, stdout=(tmp_path / "flower.log").open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/workers?refresh=1", timeout=10) as r:
                    found = json.loads(r.read())
                if found:
                    return found
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.5)
        raise AssertionError("Flower never listed a worker: " + (tmp_path / "flower.log").read_text()[-2000:])
    finally:
        stop(flower)


def test_a_run_routed_to_a_queue_of_its_own(home, broker, tmp_path):
    """`enqueue --queue NAME` and `worker --queue NAME`: machines share a model's work under another name; the
    run remembers its queue, so requeued or freed jobs go back there."""
    worker = None
    try:
        ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 2)), "--set", "two")
        args = ["enqueue", "--model", "smollm2-135m", "--index", "demo", "--questions", "two"]
        plan = json.loads(ragq(*args, "--queue", "gpu-box", "--json").stdout)
        assert [r["queue"] for r in plan["runs"]] == ["gpu-box"]
        worker = start_worker("smollm2-135m", tmp_path / "default.log", index="demo", extra=["--queue", "gpu-box"])
        wait_until_finished(home, 2, while_alive=worker)
        assert json.loads(ragq("workers", "--json").stdout)[0]["jobs_done"] == 2
    finally:
        if worker is not None:
            stop(worker)


def test_a_worker_records_its_own_peak_memory_not_its_parents(home, broker, tmp_path):
    """Linux keeps ru_maxrss across fork and exec: a worker started by a process that holds 800 MB must still record
    its own peak, the model's worker alone (SmolLM2's: about 500 MB, its GGUF 94 MB)."""
    from helpers import engine_of
    from sqlalchemy import text

    held = bytearray(800 * 2**20)
    held[::4096] = b"x" * len(held[::4096])  # touched, so resident: this test process is the worker's parent
    worker = None
    try:
        ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 1)), "--set", "one")
        ragq("enqueue", "--model", "smollm2-135m", "--index", "demo", "--questions", "one")
        worker = start_worker("smollm2-135m", tmp_path / "worker.log", index="demo")
        wait_until_finished(home, 1, while_alive=worker)
    finally:
        if worker is not None:
            stop(worker)
        del held
    with engine_of(home).connect() as conn:
        [peak] = conn.execute(text("SELECT peak_rss_mb FROM results")).scalars().all()
    assert 94 < peak < 800, peak
