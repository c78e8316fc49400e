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
from pathlib import Path

from bench.common import HERE, Context, Section, demo_files, env_for, ragq, table
from bench.soak_monitor import LEASE_S, Log, Monitor

FAULTS = ["kill", "redis", "postgres", "link", "clock"]
MODEL = "soak-smollm2"


class Fleet:
    """The soak's hosts and servers, secured as `ragq fleet secrets` sets a fleet up (Redis over TLS with its ACL
    user, PostgreSQL over TLS with scram-sha-256, passwords read from files): a broker host, two worker hosts, and
    PostgreSQL in the root namespace behind a relay."""

    def __init__(self, ctx: Context, fleet):
        self.ctx, self.fleet, self.procs, self.relay = ctx, fleet, {}, None
        self.hosts = {"broker": 2, "w1": 3, "w2": 4}
        self.net, self.pg = fleet.Network(self.hosts), fleet.PgServer().init()
        self.producer = ctx.home("soak-producer")
        self.broker = f"{fleet.NET}.{self.hosts['broker']}"
        folder = Path(tempfile.mkdtemp(dir=ctx.work, prefix="soak-")) / "secrets"
        self.secrets = fleet.make_secrets(folder, [self.broker, f"{fleet.NET}.1"])
        self.pg.secure(self.secrets)
        self.root_env = {
            **env_for(self.producer),
            **fleet.secure_env(self.secrets, self.broker, ("127.0.0.1", self.pg.port)),
            "RAGQ_LEASE_S": str(LEASE_S),
        }
        self.host_env = {**self.root_env, **fleet.secure_env(self.secrets, self.broker, (f"{fleet.NET}.1", 15432))}
        self.admin_url = f"postgresql+psycopg://postgres@/ragq?host={self.pg.dir}&port={self.pg.port}"

    def start_redis(self) -> None:
        cmd = self.fleet.tls_redis_command(self.broker, self.secrets, self.ctx.work, append_only=True)
        self.procs["broker"] = self.net.run("broker", cmd, dict(os.environ), self.ctx.work / "soak-redis.log")

    def start_worker(self, host: str, shift: str | None = None) -> None:
        cmd, extra = self.fleet.worker_command(MODEL, shift)
        env = {**self.host_env, "RAGQ_HOME": str(self.ctx.work / f"soak-{host}"), **extra}
        self.procs[host] = self.net.run(host, cmd, env, self.ctx.work / f"soak-{host}.log")

    def up(self, jobs_wanted: int) -> int:
        """The network, the broker, the inputs, both workers, and the jobs enqueued; returns how many."""
        self.net.up()
        self.relay = self.fleet.Relay((f"{self.fleet.NET}.1", 15432), ("127.0.0.1", self.pg.port))
        self.start_redis()
        with demo_files()[0] as pdf, demo_files()[1] as qa:
            ragq(self.producer, "ingest", str(pdf), "--index", "demo", env=self.root_env)
            ragq(self.producer, "questions", "import", str(qa), "--set", "demo", env=self.root_env)
            for host in ("w1", "w2"):
                home = self.ctx.work / f"soak-{host}"
                register(home)
                ragq(home, "ingest", str(pdf), "--index", "demo", env={**self.root_env, "RAGQ_HOME": str(home)})
        register(self.producer)
        for host in ("w1", "w2"):
            self.start_worker(host)
        repeat = max(1, jobs_wanted // 16)  # 8 questions x 2 ratios per repeat
        plan = json.loads(
            ragq(self.producer, "enqueue", "--model", MODEL, "--ratio", "0.3", "--ratio", "0.7", "--index", "demo",
                 "--questions", "demo", "--repeat", str(repeat), "--json", env=self.root_env)
        )  # fmt: skip
        return plan["published"]

    def down(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.relay is not None:
            self.relay.close()
        self.net.down()
        self.pg.remove()


def drive(fleet: Fleet, total: int, bound_s: float, rng: random.Random) -> tuple[dict, Log]:
    """Until every job is finished (or the bound): workers that died started again, a fault every 15-25 s."""
    log, monitor = Log(), Monitor(fleet.admin_url)
    next_fault = log.now() + rng.uniform(15, 25)
    while log.now() < bound_s:
        monitor.poll(log.now())
        if monitor.finished >= total:
            break
        for host in ("w1", "w2"):  # a host's service manager restarts a worker that died
            if fleet.procs[host].poll() is not None and host not in monitor.down:
                time.sleep(2)
                fleet.start_worker(host)
        if log.now() >= next_fault:
            inject(rng.choice(FAULTS), rng, log, fleet, monitor)
            next_fault = log.now() + rng.uniform(15, 25)
        time.sleep(0.5)
    monitor.poll(log.now())
    return monitor.figures(total, log), log


def run(ctx: Context) -> Section:
    sys.path.insert(0, str(HERE.parent / "tests"))
    import fleet as fleet_kit

    reason = (
        fleet_kit.can_make_hosts()
        or fleet_kit.PgServer.missing()
        or (None if shutil.which("faketime") else "no faketime")
    )
    if reason:
        raise SystemExit(f"soak: cannot make the fleet here ({reason})")
    jobs_wanted, bound_s = (80, 300) if ctx.quick else (320, 1200)
    fleet = Fleet(ctx, fleet_kit)
    try:
        figures, log = drive(fleet, fleet.up(jobs_wanted), bound_s, random.Random(20261130))
    finally:
        fleet.down()
    return Section("soak", "Soak: faults every ~20 s over two hosts", describe(figures, log, bound_s),
                   {"figures": figures, "faults": log.faults})  # fmt: skip


def describe(figures: dict, log: Log, bound_s: float) -> str:
    counts = {k: sum(1 for f in log.faults if f["kind"] == k) for k in FAULTS}
    rows = [[k, v] for k, v in figures.items() if not isinstance(v, dict)]
    return "\n\n".join(
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


def register(home: Path) -> None:
    """The soak's model: SmolLM2-135M with answers cut to 32 tokens, so a job lasts about a second."""
    folder = home / "models" / "catalog"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{MODEL}.toml").write_text(f'name = "{MODEL}"\nextends = "smollm2-135m"\n\n[params]\nmax_tokens = 32\n')


def inject(kind, rng, log: Log, fleet: Fleet, monitor) -> None:
    begin, net, procs = log.now(), fleet.net, fleet.procs
    host = rng.choice(["w1", "w2"])
    if kind == "kill":
        procs[host].send_signal(signal.SIGKILL)
        procs[host].wait()
        log.fault(kind, host, begin, log.now(), worker=procs[host].pid)
    elif kind == "redis":
        procs["broker"].send_signal(signal.SIGTERM)
        procs["broker"].wait(30)
        time.sleep(3)
        fleet.start_redis()
        log.fault(kind, None, begin, log.now())
    elif kind == "postgres":
        down = rng.uniform(3, 8)
        fleet.pg.restart(down)
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
        fleet.start_worker(host, shift)
        monitor.down.discard(host)
        log.fault(kind, host, begin, log.now(), shift=shift)
