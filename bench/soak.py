"""Soak: a few hundred jobs over two worker hosts while a fault strikes every ~20 s, chosen at random.

`python -m bench --only soak` (root: hosts are network namespaces; not in CI, not in a plain `python -m bench`).
The fleet is tests/fleet.py's: a broker host running redis-server (append-only file on, as a server would run),
two worker hosts each running `ragq worker` for one model (SmolLM2-135M with answers cut to 32 tokens, so a job
takes about a second and a fault usually finds one running), a PostgreSQL server of the soak's own in the root
namespace, reached from the hosts through a relay. Leases are 5 s. Faults, one at a time, ~20 s apart:

- kill: SIGKILL of a worker (a host's service manager starts it again 2 s later);
- redis: the broker restarted (SIGTERM, 3 s down, started again from its append-only file);
- postgres: the database restarted (`pg_ctl stop -m fast`, 3-8 s down);
- link: a worker host's link down for 1.5-2 leases while it answers, then up;
- clock: a worker restarted under libfaketime with its wall clock 2 minutes ahead or behind.

Reported: jobs, done, failed, lost (not finished when the soak ends), duplicated (more than one result for a job),
late answers refused by the fence (work done twice), extra attempts, expiries with no fault to explain them (a
live, connected worker's lease running out: false expiries), the longest stall (no job finishing while jobs
waited). A monitor reads the jobs table every 0.5 s on the database's side, so host clocks play no part.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import HERE, Context, Section, demo_files, env_for, ragq, table

LEASE_S = 5
FAULTS = ["kill", "redis", "postgres", "link", "clock"]
MODEL = "soak-smollm2"


@dataclass
class Log:
    """What happened when (monotonic seconds from the start), for attributing expiries to faults."""

    start: float = field(default_factory=time.monotonic)
    faults: list[dict] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.start

    def fault(self, kind: str, host: str | None, begin: float, end: float, **detail) -> None:
        self.faults.append({"kind": kind, "host": host, "begin": round(begin, 1), "end": round(end, 1), **detail})
        print(f"  {begin:6.1f}-{end:6.1f} s  {kind} {host or ''} {detail or ''}", flush=True)


def run(ctx: Context) -> Section:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from fleet import (
        NET,
        Network,
        PgServer,
        Relay,
        can_make_hosts,
        make_secrets,
        secure_env,
        tls_redis_command,
        worker_command,
    )

    reason = can_make_hosts() or PgServer.missing() or (None if shutil.which("faketime") else "no faketime")
    if reason:
        raise SystemExit(f"soak: cannot make the fleet here ({reason})")
    jobs_wanted = 80 if ctx.quick else 320
    bound_s = 300 if ctx.quick else 1200
    rng = random.Random(20261130)
    hosts = {"broker": 2, "w1": 3, "w2": 4}
    net, pg, relay, procs = Network(hosts), PgServer().init(), None, {}
    producer = ctx.home("soak-producer")
    # secured as `ragq fleet secrets` sets a fleet up: Redis over TLS with its ACL user, PostgreSQL over TLS with
    # scram-sha-256, passwords read from files
    broker = f"{NET}.{hosts['broker']}"
    secrets = make_secrets(Path(tempfile.mkdtemp(dir=ctx.work, prefix="soak-")) / "secrets", [broker, f"{NET}.1"])
    pg.secure(secrets)
    root_env = {
        **env_for(producer),
        **secure_env(secrets, broker, ("127.0.0.1", pg.port)),
        "RAGQ_LEASE_S": str(LEASE_S),
    }
    host_env = {**root_env, **secure_env(secrets, broker, (f"{NET}.1", 15432))}
    admin_url = f"postgresql+psycopg://postgres@/ragq?host={pg.dir}&port={pg.port}"
    log = Log()  # started again with the jobs, below

    def start_redis() -> None:
        cmd = tls_redis_command(broker, secrets, ctx.work, append_only=True)
        procs["broker"] = net.run("broker", cmd, dict(os.environ), ctx.work / "soak-redis.log")

    def start_worker(host: str, shift: str | None = None) -> None:
        cmd, extra = worker_command(MODEL, shift)
        env = {**host_env, "RAGQ_HOME": str(ctx.work / f"soak-{host}"), **extra}
        procs[host] = net.run(host, cmd, env, ctx.work / f"soak-{host}.log")

    try:
        net.up()
        relay = Relay((f"{NET}.1", 15432), ("127.0.0.1", pg.port))
        start_redis()
        with demo_files()[0] as pdf, demo_files()[1] as qa:
            ragq(producer, "ingest", str(pdf), "--index", "demo", env=root_env)
            ragq(producer, "questions", "import", str(qa), "--set", "demo", env=root_env)
            for host in ("w1", "w2"):
                home = ctx.work / f"soak-{host}"
                register(home)
                ragq(home, "ingest", str(pdf), "--index", "demo", env={**root_env, "RAGQ_HOME": str(home)})
        register(producer)
        for host in ("w1", "w2"):
            start_worker(host)
        repeat = max(1, jobs_wanted // 16)  # 8 questions x 2 ratios per repeat
        plan = json.loads(
            ragq(producer, "enqueue", "--model", MODEL, "--ratio", "0.3", "--ratio", "0.7", "--index", "demo",
                 "--questions", "demo", "--repeat", str(repeat), "--json", env=root_env)
        )  # fmt: skip
        total = plan["published"]
        log, monitor = Log(), Monitor(admin_url)
        next_fault = log.now() + rng.uniform(15, 25)
        while log.now() < bound_s:
            monitor.poll(log.now())
            if monitor.finished >= total:
                break
            for host in ("w1", "w2"):  # a host's service manager restarts a worker that died
                if procs[host].poll() is not None and host not in monitor.down:
                    time.sleep(2)
                    start_worker(host)
            if log.now() >= next_fault:
                inject(rng.choice(FAULTS), rng, log, net, pg, procs, start_worker, start_redis, monitor)
                next_fault = log.now() + rng.uniform(15, 25)
            time.sleep(0.5)
        monitor.poll(log.now())
        figures = monitor.figures(total, log)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if relay is not None:
            relay.close()
        net.down()
        pg.remove()
    counts = {k: sum(1 for f in log.faults if f["kind"] == k) for k in FAULTS}
    rows = [[k, v] for k, v in figures.items() if not isinstance(v, dict)]
    text = "\n\n".join(
        [
            f"{figures['jobs']} jobs (SmolLM2-135M, 32-token answers) over two worker hosts, leases of {LEASE_S} s, "
            f"a fault every 15-25 s at random ({', '.join(f'{k} {v}' for k, v in counts.items())}), bounded at "
            f"{bound_s} s; took {figures['seconds']:.0f} s.",
            table(["figure", "value"], rows),
            "Lost: jobs not done or failed when the soak ended. Duplicated: jobs with more than one stored result "
            "(the unique constraint makes this 0 by construction; counted all the same). Refused: late answers a "
            "worker computed after losing its lease (work done twice, never stored). False expiries: jobs freed "
            "from their holder when no kill or link cut of that holder's host explains it (a database restart does "
            f"not: its workers live on) (within {2 * LEASE_S + 5} s). Longest stall: the longest time no job finished while jobs waited.",
        ]
    )
    return Section("soak", "Soak: faults every ~20 s over two hosts", text, {"figures": figures, "faults": log.faults})


def register(home: Path) -> None:
    """The soak's model: SmolLM2-135M with answers cut to 32 tokens, so a job lasts about a second."""
    folder = home / "models" / "catalog"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{MODEL}.toml").write_text(f'name = "{MODEL}"\nextends = "smollm2-135m"\n\n[params]\nmax_tokens = 32\n')


def inject(kind, rng, log: Log, net, pg, procs, start_worker, start_redis, monitor) -> None:
    begin = log.now()
    host = rng.choice(["w1", "w2"])
    if kind == "kill":
        procs[host].send_signal(signal.SIGKILL)
        procs[host].wait()
        log.fault(kind, host, begin, log.now(), worker=procs[host].pid)
    elif kind == "redis":
        procs["broker"].send_signal(signal.SIGTERM)
        procs["broker"].wait(30)
        time.sleep(3)
        start_redis()
        log.fault(kind, None, begin, log.now())
    elif kind == "postgres":
        down = rng.uniform(3, 8)
        pg.restart(down)
        log.fault(kind, None, begin, log.now(), down_s=round(down, 1))
    elif kind == "link":
        cut = rng.uniform(1.5, 2.0) * LEASE_S
        monitor.down.add(host)
        net.link(host, up=False)
        end = time.monotonic() + cut
        while time.monotonic() < end:
            monitor.poll(log.now())
            time.sleep(0.5)
        net.link(host, up=True)
        monitor.down.discard(host)
        log.fault(kind, host, begin, log.now(), cut_s=round(cut, 1))
    elif kind == "clock":
        shift = rng.choice(["+120s", "-120s"])
        monitor.down.add(host)
        procs[host].send_signal(signal.SIGTERM)
        try:
            procs[host].wait(60)
        except subprocess.TimeoutExpired:
            procs[host].kill()
        start_worker(host, shift)
        monitor.down.discard(host)
        log.fault(kind, host, begin, log.now(), shift=shift)


class Monitor:
    """Reads the jobs table every poll: progress, holders, and each time a job leaves its holder."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine

        self.engine = create_engine(url, pool_pre_ping=True)
        self.held: dict[int, tuple[str, int]] = {}  # job -> (worker, attempt) while running
        self.expiries: list[tuple[float, str]] = []  # (when, worker whose hold ended without its result)
        self.finished, self.last_progress, self.longest_stall = 0, 0.0, 0.0
        self.down: set[str] = set()

    def poll(self, now: float) -> None:
        from sqlalchemy import text

        try:
            with self.engine.connect() as conn:
                rows = conn.execute(text("SELECT id, state, worker, attempts FROM jobs")).all()
        except Exception:  # noqa: BLE001 - the database is being restarted: the next poll sees it again
            return
        finished = sum(1 for _, state, _, _ in rows if state in ("done", "failed"))
        if finished > self.finished:
            self.finished, self.last_progress = finished, now
        elif finished < len(rows):
            self.longest_stall = max(self.longest_stall, now - self.last_progress)
        for job, state, worker, attempts in rows:
            before = self.held.get(job)
            if before and (state == "queued" or (state == "running" and (worker, attempts) != before)):
                self.expiries.append((now, before[0]))
            if state == "running":
                self.held[job] = (worker, attempts)
            else:
                self.held.pop(job, None)

    def figures(self, total: int, log: Log) -> dict:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            states = dict(conn.execute(text("SELECT state, count(*) FROM jobs GROUP BY state")).all())
            results = conn.scalar(text("SELECT count(*) FROM results"))
            distinct = conn.scalar(text("SELECT count(DISTINCT job_id) FROM results"))
            refused = conn.scalar(text("SELECT coalesce(sum(refused), 0) FROM jobs"))
            extra = conn.scalar(text("SELECT coalesce(sum(attempts - 1), 0) FROM jobs WHERE attempts > 1"))
        window = 2 * LEASE_S + 5
        explained = 0
        for when, worker in self.expiries:
            host = worker.rpartition("@")[2].rpartition(":")[0] if worker else ""  # model@host:pid
            for f in log.faults:
                near = f["begin"] - 1 <= when <= f["end"] + window
                if near and f["kind"] in ("kill", "link") and host.endswith(f["host"]):
                    explained += 1
                    break
        self.engine.dispose()
        return {
            "jobs": total,
            "done": states.get("done", 0),
            "failed": states.get("failed", 0),
            "lost": total - states.get("done", 0) - states.get("failed", 0),
            "duplicated": results - distinct,
            "refused (late answers, work done twice)": refused,
            "extra attempts": extra,
            "expiries": len(self.expiries),
            "false expiries": len(self.expiries) - explained,
            "longest stall s": round(self.longest_stall, 1),
            "seconds": round(log.now(), 1),
        }
