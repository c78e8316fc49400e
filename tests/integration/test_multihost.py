"""Several hosts for real: network namespaces joined by a bridge on a link-local range. A "broker host" runs
redis-server, two "worker hosts" (each with its own hostname, home and index copy) run `ragq worker` for a
different catalog model, the producer stays in the root namespace with PostgreSQL, which the worker hosts reach
through a TCP relay on the bridge. Every result must arrive once, written by the host that serves its model.
Traffic goes only to the addresses this test creates; everything it creates is removed, also on failure."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import DEMO_PDF, demo_questions, ragq
from sqlalchemy import create_engine, func, select

from ragq.shared.store.schema import Job, ModelRow, Result, Run

pytestmark = pytest.mark.integration
NET = "169.254.77"  # link-local: no route leaves the machine
TAG = f"rq{os.getpid() % 100000}"
HOSTS = {"broker": 2, "w1": 3, "w2": 4}
MODELS = {"w1": "smollm2-135m", "w2": "gemma3-270m"}


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def can_make_hosts() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian: iproute2, util-linux)"
    if shutil.which("redis-server") is None:
        return "no redis-server binary for the broker host"
    return None


def remove_leftovers() -> None:
    """A run that was killed (SIGKILL: no `finally`) leaves its namespaces and bridge behind, and a second bridge on
    the same addresses would take the broker host's traffic: remove those whose test process is gone."""
    names = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.split("\n")
    names += subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
    for match in {re.search(r"\brq(\d+)(br|-broker|-w1|-w2)\b", line) for line in names} - {None}:
        if match and match.group(1) != TAG[2:] and not os.path.exists(f"/proc/{match.group(1)}"):
            kind = "link" if match.group(2) == "br" else "netns"
            subprocess.run(["ip", kind, "del", match.group(0)], capture_output=True)


class Network:
    """A bridge in the root namespace (.1) and one namespace per host (.2, .3, ...), each on a veth pair."""

    def __init__(self):
        self.bridge, self.made = f"{TAG}br", []

    def up(self) -> None:
        remove_leftovers()
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", self.bridge))
        sh("ip", "addr", "add", f"{NET}.1/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for host, last in HOSTS.items():
            ns, outside, inside = f"{TAG}-{host}", f"{TAG}{host}o", f"{TAG}{host}i"
            sh("ip", "netns", "add", ns)
            self.made.append(("netns", ns))
            sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            self.made.append(("link", outside))
            sh("ip", "link", "set", outside, "master", self.bridge)
            sh("ip", "link", "set", outside, "up")
            sh("ip", "link", "set", inside, "netns", ns)
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{NET}.{last}/24", "dev", inside)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    def down(self) -> None:
        for kind, name in reversed(self.made):
            subprocess.run(["ip", kind, "del", name], capture_output=True)

    def run(self, host: str, cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
        """cmd on `host`: in its namespace, with a hostname of its own (a UTS namespace)."""
        name = f"{TAG}-{host}"
        wrapped = ["ip", "netns", "exec", name, "unshare", "--uts", "sh", "-c", f'hostname {name} && exec "$@"', "sh"]
        return subprocess.Popen(wrapped + cmd, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT)


class Relay:
    """A TCP relay from the bridge address to PostgreSQL on 127.0.0.1, so the worker hosts reach the database."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]):
        self.server = socket.create_server(listen)
        self.target, self.stopped = target, threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped.set()
        self.server.close()


def test_workers_on_two_hosts_each_write_their_models_results(home, postgres, tmp_path, capsys):
    reason = can_make_hosts()
    if reason:
        pytest.skip(reason)
    net, procs, relay = Network(), [], None
    broker_url = f"redis://{NET}.{HOSTS['broker']}:6379/0"
    try:
        net.up()
        procs.append(
            net.run(
                "broker",
                # no password on a link-local test network that only this machine's namespaces reach
                ["redis-server", "--bind", f"{NET}.2", "--port", "6379", "--save", "", "--protected-mode", "no"],
                dict(os.environ),
                tmp_path / "redis.log",
            )
        )
        relay = Relay((f"{NET}.1", 15432), ("127.0.0.1", 5432))
        worker_db = postgres.replace("127.0.0.1:5432", f"{NET}.1:15432")
        root_env = {"RAGQ_BROKER_URL": broker_url}
        qa = demo_questions(tmp_path / "qa.txt", 3)
        deadline = time.monotonic() + 20
        while ragq("workers", "--timeout", "0.2", env=root_env, check=False).returncode:
            assert time.monotonic() < deadline, "the broker host's Redis never answered"
            time.sleep(0.2)
        ragq("ingest", str(DEMO_PDF), "--index", "demo", env=root_env)
        ragq("questions", "import", str(qa), "--set", "qs", env=root_env)
        for host, model in MODELS.items():
            home = tmp_path / host
            env = {**os.environ, "RAGQ_HOME": str(home), "RAGQ_BROKER_URL": broker_url, "RAGQ_DATABASE_URL": worker_db}
            ragq("ingest", str(DEMO_PDF), "--index", "demo", env=env)  # each host its own copy: same content id
            cmd = [sys.executable, "-m", "ragq.producer.cli", "worker", "--model", model, "--threads", "1"]
            procs.append(net.run(host, cmd, env, tmp_path / f"{host}.log"))
        plan = json.loads(
            ragq(
                "enqueue", "--model", "smollm2-135m", "--model", "gemma3-270m", "--index", "demo",
                "--questions", "qs", "--json", env=root_env,
            ).stdout
        )  # fmt: skip
        engine = create_engine(postgres)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                finished = conn.scalar(select(func.count()).select_from(Job).where(Job.state.in_(["done", "failed"])))
            if finished >= plan["published"]:
                break
            assert all(p.poll() is None for p in procs), "a host's process exited: " + "".join(
                (tmp_path / f"{h}.log").read_text()[-2000:] for h in MODELS
            )
            time.sleep(0.5)
        with engine.connect() as conn:
            rows = conn.execute(
                select(ModelRow.name, Result.host, Result.job_id)
                .select_from(Result)
                .join(Job, Result.job_id == Job.id)
                .join(Run, Job.run_id == Run.id)
                .join(ModelRow, Run.model_id == ModelRow.id)
            ).all()
            jobs_total = conn.scalar(select(func.count()).select_from(Job))
        per_host = {host: sum(1 for _, h, _ in rows if h == f"{TAG}-{host}") for host in MODELS}
        duplicates = len(rows) - len({job for _, _, job in rows})
        with capsys.disabled():
            print(
                f"\n[multi-host figures] hosts=broker,{','.join(MODELS)}, jobs={jobs_total}, results={len(rows)}, "
                f"per_host={per_host}, duplicates={duplicates}, lost={jobs_total - len(rows)}"
            )
        assert jobs_total == plan["published"] == 6 and len(rows) == 6 and duplicates == 0
        for model, host, _ in rows:
            expected = next(h for h, m in MODELS.items() if m == model)
            assert host == f"{TAG}-{expected}", f"{model} answered on {host}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if relay is not None:
            relay.close()
        net.down()
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert TAG not in leftovers
