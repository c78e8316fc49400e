"""Several hosts for real: network namespaces joined by a bridge on a link-local range. A "broker host" runs
redis-server, two "worker hosts" (each with its own hostname, home and index copy) run `ragq worker` for a
different catalog model, the producer stays in the root namespace with PostgreSQL, which the worker hosts reach
through a TCP relay on the bridge. Every result must arrive once, written by the host that serves its model.
Traffic goes only to the addresses this test creates; everything it creates is removed, also on failure."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from fleet import NET, TAG, Network, Relay, can_make_hosts, redis_command, worker_command
from helpers import DEMO_PDF, demo_questions, ragq
from sqlalchemy import create_engine, func, select

from ragq.shared.store.schema import Job, ModelRow, Result, Run

pytestmark = pytest.mark.integration
HOSTS = {"broker": 2, "w1": 3, "w2": 4}


class Fleet:
    """The broker host's Redis, the relay to PostgreSQL, and `ragq worker` processes on the worker hosts."""

    def __init__(self, postgres: str, tmp_path: Path, extra_env: dict | None = None):
        self.net, self.tmp, self.procs, self.relay = Network(HOSTS), tmp_path, {}, None
        self.broker_url = f"redis://{self.net.address('broker')}:6379/0"
        self.worker_db = postgres.replace("127.0.0.1:5432", f"{NET}.1:15432")
        self.root_env = {"RAGQ_BROKER_URL": self.broker_url, **(extra_env or {})}
        self.engine = create_engine(postgres)

    def up(self) -> None:
        self.net.up()
        redis = redis_command(self.net.address("broker"))
        self.procs["broker"] = self.net.run("broker", redis, dict(os.environ), self.tmp / "redis.log")
        self.relay = Relay((f"{NET}.1", 15432), ("127.0.0.1", 5432))
        deadline = time.monotonic() + 20
        while ragq("workers", "--timeout", "0.2", env=self.root_env, check=False).returncode:
            assert time.monotonic() < deadline, "the broker host's Redis never answered"
            time.sleep(0.2)
        ragq("ingest", str(DEMO_PDF), "--index", "demo", env=self.root_env)

    def worker(self, host: str, model: str) -> None:
        env = {
            **os.environ, **self.root_env, "RAGQ_HOME": str(self.tmp / host), "RAGQ_DATABASE_URL": self.worker_db,
        }  # fmt: skip
        ragq("ingest", str(DEMO_PDF), "--index", "demo", env=env)  # each host its own copy: same content id
        cmd, _ = worker_command(model)
        self.procs[host] = self.net.run(host, cmd, env, self.log(host))

    def wait_ready(self, hosts: list[str], timeout: float = 120) -> None:
        """Until each host's worker consumes its queue (Celery says "ready.")."""
        deadline = time.monotonic() + timeout
        while not all(self.log(h).exists() and " ready." in self.log(h).read_text() for h in hosts):
            assert time.monotonic() < deadline, f"workers on {hosts} not ready in {timeout} s"
            time.sleep(0.2)

    def log(self, host: str) -> Path:
        return self.tmp / f"{host}.log"

    def finished(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Job).where(Job.state.in_(["done", "failed"])))

    def wait_finished(self, expected: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.finished() < expected:
            assert time.monotonic() < deadline, f"only {self.finished()} of {expected} jobs finished in {timeout} s"
            exited = [h for h, p in self.procs.items() if p.poll() is not None]
            assert not exited, f"{exited} exited: " + "".join(self.log(h).read_text()[-2000:] for h in exited)
            time.sleep(0.5)

    def results(self) -> list:
        with self.engine.connect() as conn:
            return conn.execute(
                select(ModelRow.name, Result.host, Result.job_id, Result.finished_at)
                .select_from(Result)
                .join(Job, Result.job_id == Job.id)
                .join(Run, Job.run_id == Run.id)
                .join(ModelRow, Run.model_id == ModelRow.id)
            ).all()

    def down(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.relay is not None:
            self.relay.close()
        self.net.down()
        self.engine.dispose()


@pytest.fixture
def fleet(home, postgres, tmp_path):
    reason = can_make_hosts()
    if reason:
        pytest.skip(reason)
    made = []

    def make(**extra_env) -> Fleet:
        made.append(Fleet(postgres, tmp_path, {k: str(v) for k, v in extra_env.items()}))
        made[-1].up()
        return made[-1]

    yield make
    for f in made:
        f.down()
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert TAG not in leftovers


def test_workers_on_two_hosts_each_write_their_models_results(fleet, tmp_path, capsys):
    """Two worker hosts, a different model each: every result arrives once, written by the host of its model."""
    models = {"w1": "smollm2-135m", "w2": "gemma3-270m"}
    f = fleet()
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 3)), "--set", "qs", env=f.root_env)
    for host, model in models.items():
        f.worker(host, model)
    plan = json.loads(
        ragq(
            "enqueue", "--model", "smollm2-135m", "--model", "gemma3-270m", "--index", "demo",
            "--questions", "qs", "--json", env=f.root_env,
        ).stdout
    )  # fmt: skip
    f.wait_finished(plan["published"])
    rows = f.results()
    with f.engine.connect() as conn:
        jobs_total = conn.scalar(select(func.count()).select_from(Job))
    per_host = {host: sum(1 for _, h, _, _ in rows if h == f.net.namespace(host)) for host in models}
    duplicates = len(rows) - len({job for _, _, job, _ in rows})
    with capsys.disabled():
        print(
            f"\n[multi-host figures] hosts=broker,{','.join(models)}, jobs={jobs_total}, results={len(rows)}, "
            f"per_host={per_host}, duplicates={duplicates}, lost={jobs_total - len(rows)}"
        )
    assert jobs_total == plan["published"] == 6 and len(rows) == 6 and duplicates == 0
    for model, host, _, _ in rows:
        expected = next(h for h, m in models.items() if m == model)
        assert host == f.net.namespace(expected), f"{model} answered on {host}"


def test_a_host_cut_off_past_its_lease_loses_its_job_and_comes_back(fleet, tmp_path, capsys):
    """Two hosts serve one model. Host w1's link goes down while it answers, for longer than a lease: w2 takes the
    job over; when the link returns, w1's late result is refused by the fence (or, were it still answering, its first
    renewal finds the job taken and it stops there), and w1 goes on answering."""
    lease_s, cut_s = 5, 14
    f = fleet(RAGQ_LEASE_S=lease_s)
    # two jobs first, one for each host: the job freed from w1 is then the only one waiting, and w2 takes it
    ragq("questions", "import", str(demo_questions(tmp_path / "two.txt", 2)), "--set", "two", env=f.root_env)
    ragq("questions", "import", str(demo_questions(tmp_path / "three.txt", 3)), "--set", "three", env=f.root_env)
    for host in ("w1", "w2"):
        f.worker(host, "smollm2-135m")
    f.wait_ready(["w1", "w2"])
    enqueue = ["enqueue", "--model", "smollm2-135m", "--index", "demo", "--json", "--questions"]
    first = json.loads(ragq(*enqueue, "two", env=f.root_env).stdout)["published"]
    w1 = f.net.namespace("w1")
    deadline = time.monotonic() + 180
    while True:  # cut w1 off while it holds a job
        with f.engine.connect() as conn:
            held = conn.scalar(select(Job.id).where(Job.state == "running", Job.worker.like(f"%{w1}%")).limit(1))
        if held is not None:
            break
        assert time.monotonic() < deadline and f.finished() < first, "w1 never took a job"
        time.sleep(0.1)
    f.net.link("w1", up=False)
    time.sleep(cut_s)
    f.net.link("w1", up=True)
    back = time.monotonic()
    f.wait_finished(first)
    # w1 keeps working: with w2 stopped, a second batch is w1's alone
    f.procs.pop("w2").terminate()
    second = json.loads(ragq(*enqueue, "three", env=f.root_env).stdout)["published"]
    f.wait_finished(first + second, timeout=240)
    rows = f.results()
    with f.engine.connect() as conn:
        job = conn.execute(select(Job.attempts, Job.refused, Job.state).where(Job.id == held)).one()
        refused = conn.scalar(select(func.sum(Job.refused)))
        total = conn.scalar(select(func.count()).select_from(Job))
    by_job = {j: h for _, h, j, _ in rows}
    duplicates = len(rows) - len(by_job)
    w1_log = f.log("w1").read_text()
    with capsys.disabled():
        print(
            f"\n[multi-host figures] link cut: lease {lease_s} s, cut {cut_s} s, jobs={total}, results={len(rows)}, "
            f"lost={total - len(rows)}, duplicates={duplicates}, held job attempts={job.attempts}, "
            f"refused={refused}, answered by {by_job.get(held)}, w1 after return: "
            f"{sum(1 for _, h, j, _ in rows if h == w1)} results, {time.monotonic() - back:.0f} s to finish"
        )
    assert total == first + second and len(rows) == total and duplicates == 0
    # taken from w1 (a second attempt), answered once: by w2 during the cut, or by w1 itself when the freed job's
    # message was still queued on its return (seen once in CI on this 2-core kind)
    assert job.state == "done" and job.attempts >= 2 and by_job[held] in (f.net.namespace("w2"), w1)
    stopped = "stopped answering at the next heartbeat" in w1_log
    assert (job.refused >= 1 and "late result was refused" in w1_log) or (stopped and job.refused == 0)
    assert sum(1 for _, h, _, _ in rows if h == w1) >= second  # the second batch: w1 alone, after it came back
