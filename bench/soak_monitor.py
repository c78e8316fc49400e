"""What the soak watches and keeps: when each fault struck (`Log`), and the jobs table read every poll on the
database's side, so host clocks play no part (`Monitor`): progress, holders, each time a job leaves its holder,
and at the end the figures (lost, duplicated, refused, extra attempts, expiries with no fault to explain them)."""

import time
from dataclasses import dataclass, field

LEASE_S = 5


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
