"""The fleet, visible: `ragq workers` asks live workers over the broker, busy ones included."""

import json
import time

import pytest
from helpers import DEMO_PDF, demo_questions, ragq, start_worker, stop, wait_until_finished

from ragq.shared.broker import EmbeddedRedis

pytestmark = pytest.mark.integration


def test_workers_lists_a_busy_and_then_an_idle_worker(home, tmp_path):
    broker = EmbeddedRedis(home / "redis")
    broker.start()
    worker = None
    try:
        ragq("ingest", str(DEMO_PDF), "--index", "demo")
        ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 6)), "--set", "six")
        ragq("enqueue", "--model", "smollm2-135m", "--index", "demo", "--questions", "six")
        assert json.loads(ragq("workers", "--json", "--timeout", "0.5").stdout) == []
        worker = start_worker("smollm2-135m", tmp_path / "worker.log", index="demo")
        busy, deadline = None, time.monotonic() + 120
        while busy is None and time.monotonic() < deadline:
            found = json.loads(ragq("workers", "--json", "--timeout", "1").stdout)
            busy = next((w for w in found if w["job"] is not None), None)
        assert busy is not None, "no worker answered while it held a job"
        assert (busy["model"], busy["pid"], busy["threads"], busy["gpu_layers"]) == ("smollm2-135m", worker.pid, 2, 0)
        wait_until_finished(home, 6, while_alive=worker)
        [idle] = json.loads(ragq("workers", "--json").stdout)
        assert (idle["job"], idle["jobs_done"]) == (None, 6) and idle["uptime_s"] > 0
    finally:
        if worker is not None:
            stop(worker)
        broker.stop()
