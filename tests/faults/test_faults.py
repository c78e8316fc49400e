"""Nothing lost, nothing twice: worker kills, broker loss, concurrent writers, poison jobs, producer kills."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from helpers import (
    DEMO_PDF,
    demo_questions,
    engine_of,
    finished,
    plan_run,
    ragq,
    start_worker,
    stop,
    tally,
    wait_until_finished,
)
from sqlalchemy import select, update

from ragq.shared.broker import EmbeddedRedis
from ragq.shared.store.schema import Job

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m"


def enqueue(tmp_path, questions: int, *ratios: str, env=None) -> subprocess.CompletedProcess:
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", questions)), "--set", "qs")
    args = [a for r in ratios for a in ("--ratio", r)]
    return ragq("enqueue", "--model", MODEL, *args, "--index", "demo", "--questions", "qs", "--json", env=env)


def job_held_by(home, pid: int) -> int | None:
    with engine_of(home).connect() as conn:
        return conn.scalar(select(Job.id).where(Job.state == "running", Job.worker.like(f"%:{pid}")))


def kill_mid_generation(home, worker: subprocess.Popen, rng: random.Random, timeout: float = 120) -> int | None:
    """Wait until the worker holds a job, let it generate for a moment, then kill -9 it; returns the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        job = job_held_by(home, worker.pid)
        if job is not None:
            time.sleep(rng.uniform(0.3, 1.5))
            if job_held_by(home, worker.pid) == job:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                return job
        time.sleep(0.1)
    return None


def test_kill_worker_mid_generation_ten_times(demo_home, tmp_path, figures, monkeypatch):
    monkeypatch.setenv("RAGQ_MAX_ATTEMPTS", "20")  # ten kills may land on the same job
    plan = json.loads(enqueue(tmp_path, 8, "0.3", "0.7").stdout)
    log, rng, kills = tmp_path / "worker.log", random.Random(6), 0
    while kills < 10:
        worker = start_worker(MODEL, log, index="demo")
        if not kill_mid_generation(demo_home, worker, rng):
            stop(worker)
            break
        kills += 1
        time.sleep(3.5)  # the killed job's lease (RAGQ_LEASE_S=3) runs out
        ragq("requeue")  # as a user does after a crash: publish what is not done and not leased
    worker = start_worker(MODEL, log, index="demo")
    try:
        wait_until_finished(demo_home, plan["published"], while_alive=worker)
    finally:
        stop(worker)
    t = tally(demo_home)
    figures("kill -9 mid generation", kills=kills, **t)
    assert kills == 10
    assert t == {**t, "jobs": 16, "done": 16, "results": 16, "duplicates": 0, "lost": 0}
    assert t["retried"] >= 1


def test_standalone_workers_heal_themselves(demo_home, tmp_path, figures):
    """No `ragq run` watching, no `ragq requeue`: a live worker frees and republishes a killed worker's job."""
    lease = 3  # RAGQ_LEASE_S in demo_home
    plan = json.loads(enqueue(tmp_path, 4, "0.3", "0.7").stdout)
    log, rng = tmp_path / "worker.log", random.Random(11)
    survivor = start_worker(MODEL, log, index="demo", threads=1)
    victims = [start_worker(MODEL, log, index="demo", threads=1) for _ in range(2)]
    recovered = []
    try:
        for victim in victims:
            job = kill_mid_generation(demo_home, victim, rng)
            killed_at = time.monotonic()
            assert job is not None, "a worker to kill never took a job"
            while job_held_by(demo_home, victim.pid) == job:  # until a live worker's reaper frees it
                assert time.monotonic() - killed_at < 120, f"job {job} still held by a dead worker"  # hang guard
                time.sleep(0.05)
            recovered.append(round(time.monotonic() - killed_at, 1))
        wait_until_finished(demo_home, plan["published"], while_alive=survivor)
    finally:
        for proc in (survivor, *victims):
            stop(proc)
    t = tally(demo_home)
    figures("standalone workers, SIGKILL twice, no requeue", kills=2, seconds_to_free=recovered, lease_s=lease, **t)
    assert t == {**t, "jobs": 8, "done": 8, "results": 8, "duplicates": 0, "lost": 0}
    assert t["retried"] >= 2


def test_redis_flushed_and_restarted_mid_run(demo_home, tmp_path, figures):
    """Redis loses every queued message mid-run (flushed, restarted): `ragq requeue` publishes what the database
    says is left, and every job is answered once. The flush must find answered jobs before it and messages still
    queued, or it proved nothing."""
    enqueue(tmp_path, 8, "0.5")
    worker = start_worker(MODEL, tmp_path / "worker.log", index="demo")
    try:
        deadline = time.monotonic() + 120
        while tally(demo_home)["done"] < 2:
            assert time.monotonic() < deadline and worker.poll() is None, "the worker answered no job"  # hang guard
            time.sleep(0.2)
        broker = EmbeddedRedis(demo_home / "redis")
        import redis

        client = redis.Redis(unix_socket_path=str(broker.socket))
        queued = client.llen(f"ragq.{MODEL}")  # messages not yet taken by the worker (its prefetched one aside)
        done_before = tally(demo_home)["done"]
        client.flushall()  # every queued message is gone
        broker.stop()
        broker.start()
        lost_messages = 8 - done_before
        ragq("requeue")
        wait_until_finished(demo_home, 8, while_alive=worker)
    finally:
        stop(worker)
    t = tally(demo_home)
    figures("redis flushed and restarted", messages_lost_with_redis=lost_messages, queued_at_flush=queued, **t)
    assert 2 <= done_before < 8 and queued >= 1  # the fault struck mid-run, with messages it could lose
    assert t == {**t, "jobs": 8, "done": 8, "results": 8, "duplicates": 0, "lost": 0}


WRITER = """
import random, sys, os
from datetime import timedelta, datetime
from ragq.shared.config import load_settings
from ragq.shared.store import db, jobs
engine = db.engine_for(load_settings())
ids = list(range(1, 2001)); random.Random(int(sys.argv[1])).shuffle(ids)
errors = done = 0
now = datetime(2026, 1, 1)
for job_id in ids:
    try:
        with db.session(engine) as s:
            holder = jobs.claim(s, job_id, f"writer{sys.argv[1]}", timedelta(minutes=5), 3)
            if not holder:  # NotClaimed: another writer has it
                continue
        with db.session(engine) as s:
            done += "done" == jobs.complete(s, job_id, dict(answer="a", prompt="p", chunk_ids=[], dropped_chunks=0,
                cosine=0.5, retrieval_ms=1.0, ttft_s=0.1, prompt_tokens=1, prompt_eval_s=0.1, gen_tokens=1,
                gen_s=0.1, total_s=0.2, peak_rss_mb=1.0, cpu_s=0.1, prefix_reused_tokens=0, host="h", pid=os.getpid(), worker="w", provenance={}, started_at=now,
                finished_at=now), holder)
    except Exception as exc:
        errors += 1
        print("ERROR", type(exc).__name__, exc, file=sys.stderr)
print(done, errors)
"""


def test_four_writers_on_one_sqlite_file(home, figures):
    from ragq.shared.config import load_settings
    from ragq.shared.records import QAPair
    from ragq.shared.store import db, inputs

    engine = db.engine_for(load_settings())
    with db.session(engine) as s:
        index = inputs.record_index(s, {"name": "x", "chunk_count": 0, "embedder": "e", "sources": []}, "/x")
        qset, _ = inputs.import_questions(s, "q", "f", [QAPair(f"Q{i}?", "A") for i in range(2000)])
        plan = plan_run(s, inputs.record_model(s, "m", {}), index, qset)
    assert plan.job_ids == list(range(1, 2001))
    start = time.perf_counter()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for i in range(4)
    ]
    outputs = [w.communicate(timeout=600) for w in writers]
    seconds = time.perf_counter() - start
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0 and out.strip(), f"a writer failed (exit {writer.returncode}):\n{err[-3000:]}"
    done = [int(out.split()[0]) for out, _ in outputs]
    errors = sum(int(out.split()[1]) for out, _ in outputs)
    t = tally(home)
    figures("4 writers, one SQLite file", seconds=round(seconds, 1), per_writer=done, errors=errors, **t)
    assert errors == 0 and "locked" not in "".join(err for _, err in outputs)
    assert sum(done) == 2000
    assert t == {**t, "jobs": 2000, "done": 2000, "results": 2000, "duplicates": 0, "lost": 0}


def test_poison_job_fails_after_three_attempts_and_the_run_goes_on(demo_home, tmp_path, figures):
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 7)), "--set", "qs")
    poison = "fan of the appliance"  # question 7 kills any worker that starts on it
    env = {"RAGQ_FAULT_INJECT": f"kill-on-question:{poison}"}
    out = ragq("run", "--model", MODEL, "--ratio", "0.5", "--index", "demo", "--questions", "qs", "--json", env=env)
    summary = json.loads(out.stdout)["summary"][0]
    with engine_of(demo_home).connect() as conn:
        failed = conn.execute(select(Job.attempts, Job.error).where(Job.state == "failed")).all()
    t = tally(demo_home)
    figures("poison job", attempts=failed[0][0] if failed else None, **t)
    assert (summary["done"], summary["failed"]) == (6, 1)
    assert len(failed) == 1 and failed[0][0] == 3 and "gave up after 3 attempts" in failed[0][1]
    assert t == {**t, "jobs": 7, "results": 6, "duplicates": 0, "lost": 0}


def test_producer_killed_mid_enqueue(demo_home, tmp_path, figures):
    killed = enqueue_killed = None
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 4)), "--set", "qs")
    args = ["enqueue", "--model", MODEL, "--ratio", "0.3", "--ratio", "0.7", "--index", "demo", "--questions", "qs"]
    killed = ragq(*args, env={"RAGQ_FAULT_INJECT": "kill-after-publish:3"}, check=False)
    enqueue_killed = killed.returncode
    import redis

    queued_before = redis.Redis(unix_socket_path=str(demo_home / "redis" / "redis.sock")).llen(f"ragq.{MODEL}")
    again = json.loads(ragq(*args, "--json").stdout)
    worker = start_worker(MODEL, tmp_path / "worker.log", index="demo")
    try:
        wait_until_finished(demo_home, 8, while_alive=worker)
    finally:
        stop(worker)
    t = tally(demo_home)
    figures(
        "producer killed mid enqueue",
        exit=enqueue_killed,
        messages_before_rerun=queued_before,
        republished=again["published"],
        **t,
    )
    assert enqueue_killed == -signal.SIGKILL and queued_before == 3
    assert not any(r["created"] for r in again["runs"])
    assert t == {**t, "jobs": 8, "done": 8, "results": 8, "duplicates": 0, "lost": 0}


FAKETIME = shutil.which("faketime")


@pytest.mark.skipif(
    FAKETIME is None,
    reason="no faketime here (Debian: apt-get install faketime; .ci/run installs it); it also needs PostgreSQL "
    "(127.0.0.1:5432 or RAGQ_TEST_POSTGRES)",
)
def test_workers_whose_clocks_are_minutes_apart_free_no_live_job(pg_demo_home, tmp_path, figures):
    """One worker's clock 2 minutes ahead, another's 2 minutes behind (libfaketime), leases of 3 s, one PostgreSQL
    server: leases are set and judged by the server's clock, so neither worker's reaper frees the other's job."""
    plan = json.loads(enqueue(tmp_path, 6, "0.3").stdout)
    log = tmp_path / "worker.log"
    # the wall clock shifted, the monotonic one left alone: a host whose clock is off, not a broken kernel
    # (libfaketime would also shift the monotonic clock that timed waits use, and the lease heartbeat would stall)
    real_monotonic = {"FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    workers = [
        start_worker(MODEL, log, env=real_monotonic, index="demo", threads=1, prefix=[FAKETIME, "-f", shift])
        for shift in ("+120s", "-120s")
    ]
    try:
        wait_until_finished(pg_demo_home, plan["published"], timeout=240, while_alive=workers[0])
    finally:
        for worker in workers:
            stop(worker)
    t = tally(pg_demo_home)
    freed = log.read_text().count("queued again")
    figures("clocks 2 min ahead and 2 min behind, 3 s leases", freed_from_live_workers=freed, **t)
    assert t == {**t, "jobs": 6, "done": 6, "results": 6, "duplicates": 0, "lost": 0}
    assert t["retried"] == 0 and freed == 0  # no job taken from a live worker, none answered twice
    # and not because the shifted workers' reapers were dead: none of their threads failed (time.sleep did, under
    # libfaketime, before the worker paused by timed waits)
    assert "Exception in thread" not in log.read_text() and "Invalid argument" not in log.read_text()


def test_a_paused_workers_late_result_is_refused(demo_home, tmp_path, figures):
    """A worker stopped (SIGSTOP) mid-answer for longer than its lease: the other worker takes its job over; resumed,
    the paused one either stops at its first heartbeat (its lease is gone) or, had it finished the answer first, finds
    its late result refused by the fence; either way it says so in its log, stores nothing, and goes on."""
    plan = json.loads(enqueue(tmp_path, 4, "0.3").stdout)
    log = tmp_path / "worker.log"
    paused, other = (start_worker(MODEL, log, index="demo", threads=1) for _ in range(2))
    try:
        job = renewing(demo_home, paused)  # mid-answer: past its reads, which hold SQLite's lock a moment
        paused.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        while job_held_by(demo_home, paused.pid) == job or not taken_over(demo_home, job):
            assert time.monotonic() - stopped_at < 60, f"job {job} was not taken over from the paused worker"
            time.sleep(0.1)
        paused.send_signal(signal.SIGCONT)
        wait_until_finished(demo_home, plan["published"], while_alive=other)
        deadline = time.monotonic() + 60
        while not said_so(log) and time.monotonic() < deadline:  # the resumed worker stopped, or was refused
            time.sleep(0.2)
    finally:
        paused.send_signal(signal.SIGCONT)
        for worker in (paused, other):
            stop(worker)
    t, refused = tally(demo_home), refused_on(demo_home, job)
    figures("worker paused past its lease", paused_s=round(time.monotonic() - stopped_at), refused=refused, **t)
    assert t == {**t, "jobs": 4, "done": 4, "results": 4, "duplicates": 0, "lost": 0}
    assert said_so(log) == ("refused" if refused == 1 else "stopped") and refused in (0, 1)


def said_so(log) -> str | None:
    text = log.read_text()
    return "refused" if "its late result was refused" in text else "stopped" if LOST in text else None


LOST = "stopped answering at the next heartbeat"


def test_a_lost_lease_stops_its_job_at_the_next_heartbeat(demo_home, tmp_path, figures):
    """A job whose lease is taken from its worker mid-answer (the database names another holder) stops generating at
    the worker's next heartbeat: it offers no late result (refused stays 0), stores nothing, says why in its log, and
    the worker goes on to its next job; every job is then answered once (by a worker without the slow tokens, once
    the other holder's lease has run out)."""
    plan = json.loads(enqueue(tmp_path, 2, "0.3").stdout)
    log = tmp_path / "worker.log"
    # a token every 0.3 s at least: the answer outlasts the 1 s between heartbeats (the lease is 3 s)
    worker = start_worker(MODEL, log, index="demo", threads=1, env={"RAGQ_FAULT_INJECT": "slow-tokens:0.3"})
    finisher = None
    try:
        deadline = time.monotonic() + 120
        while (job := job_held_by(demo_home, worker.pid)) is None:
            assert time.monotonic() < deadline and worker.poll() is None, "the worker never took a job"
            time.sleep(0.05)
        with engine_of(demo_home).begin() as conn:  # another holder, until the worker's own lease would end
            conn.execute(update(Job).where(Job.id == job).values(worker="thief@elsewhere:1", attempts=Job.attempts + 1))
        taken = time.monotonic()
        while LOST not in log.read_text():
            assert time.monotonic() - taken < 60 and worker.poll() is None, f"job {job} was not stopped: {log}"
            time.sleep(0.05)
        stopped_s = time.monotonic() - taken
        while job_held_by(demo_home, worker.pid) in (None, job):  # it goes on: the next job is its own
            assert time.monotonic() - taken < 120 and worker.poll() is None, "the worker took no job after the stop"
            time.sleep(0.05)
        worker.kill()  # its slow answers would take a minute each; its job is freed when its lease runs out
        finisher = start_worker(MODEL, tmp_path / "finisher.log", index="demo")
        wait_until_finished(demo_home, plan["published"], while_alive=finisher)
    finally:
        for proc in (worker, finisher):
            if proc is not None:
                stop(proc)
    t, lines = tally(demo_home), [line for line in log.read_text().splitlines() if LOST in line]
    figures("lease lost mid-answer", stopped_after_s=round(stopped_s, 2), line=lines[0].split(": ", 2)[-1], **t)
    assert f"job {job}: " in lines[0] and len(lines) == 1 and refused_on(demo_home, job) == 0
    assert t == {**t, "jobs": 2, "done": 2, "results": 2, "duplicates": 0, "lost": 0}


def renewing(home, worker: subprocess.Popen, timeout: float = 120) -> int:
    """A job `worker` holds and has renewed the lease of at least once: it is answering it. A worker stopped in one
    of its short transactions would hold SQLite's write lock, and every other worker would wait on it."""
    deadline, first = time.monotonic() + timeout, {}
    while time.monotonic() < deadline and worker.poll() is None:
        with engine_of(home).connect() as conn:
            held = conn.execute(
                select(Job.id, Job.lease_until).where(Job.state == "running", Job.worker.like(f"%:{worker.pid}"))
            ).one_or_none()
        if held is not None and first.setdefault(held.id, held.lease_until) != held.lease_until:
            return held.id
        time.sleep(0.05)
    raise AssertionError("the worker to pause never answered a job for longer than a heartbeat")


def taken_over(home, job: int) -> bool:
    with engine_of(home).connect() as conn:
        state, attempts = conn.execute(select(Job.state, Job.attempts).where(Job.id == job)).one()
    return attempts >= 2 and state in ("running", "done")


def refused_on(home, job: int) -> int:
    with engine_of(home).connect() as conn:
        return conn.scalar(select(Job.refused).where(Job.id == job))


def test_a_database_restart_mid_run_costs_no_job(home, own_postgres, tmp_path, figures, monkeypatch):
    """`ragq run` on a PostgreSQL server that is stopped for a few seconds and started again after the first result:
    the workers and the run wait it out with a bounded backoff, say so in one line each way, and every job is done
    once."""
    monkeypatch.setenv("RAGQ_LEASE_S", "30")  # the outage is shorter than a lease: no job changes hands
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 6)), "--set", "qs")
    log = tmp_path / "run.log"
    run = subprocess.Popen(
        [sys.executable, "-m", "ragq.producer.cli", "run", "--model", MODEL, "--ratio", "0.3", "--index", "demo",
         "--questions", "qs", "--threads", "1"],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while finished(home) < 1:
            assert time.monotonic() < deadline and run.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        down_s = 12.0  # longer than an answer: the worker meets the outage in its own transactions
        own_postgres.restart(down_s)
        assert run.wait(300) == 0, log.read_text()[-3000:]
    finally:
        stop(run)
    t = tally(home)
    output = log.read_text()
    worker_log = (home / "logs" / f"worker-{MODEL}.log").read_text()
    said = {
        who: [line.strip() for line in text.splitlines() if "database" in line or "renew" in line]
        for who, text in (("run", output), ("worker", worker_log))
    }
    figures("PostgreSQL restarted mid-run", down_s=down_s, **t, **said)
    assert t == {**t, "jobs": 6, "done": 6, "results": 6, "duplicates": 0, "lost": 0, "retried": 0}
    assert "Warning: database unavailable" in output and "database back after" in output
    assert "database unavailable" in worker_log and "database back after" in worker_log
    assert "Traceback" not in output
