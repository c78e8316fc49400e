"""Where runs stand: job counts per state, who holds each running job, why jobs failed."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ragq.shared.errors import UnknownNameError
from ragq.shared.store.clock import db_now
from ragq.shared.store.schema import Job, Run

STATES = ("queued", "running", "done", "failed")


def holders(s: Session, run_ids: list[int]) -> list[dict]:
    """Every running job of these runs: who holds it, until when, and whether that lease ran out (a dead worker)."""
    rows = s.execute(
        select(Job.id, Job.run_id, Job.worker, Job.lease_until, Job.attempts, Job.lease_until < db_now())
        .where(Job.run_id.in_(run_ids), Job.state == "running")
        .order_by(Job.id)
    ).all()
    return [
        {
            "job": job,
            "run": run,
            "worker": worker,
            "lease_until": lease,
            "attempt": attempts,
            "expired": bool(expired),  # judged by the database's clock, as leases are
        }
        for job, run, worker, lease, attempts, expired in rows
    ]


def failure_reasons(s: Session, run_ids: list[int]) -> list[tuple[str, int, list[int]]]:
    """(reason, how many jobs, which runs) for every distinct reason jobs of these runs failed, most common first."""
    rows = s.execute(
        select(Job.error, Job.run_id, func.count())
        .where(Job.run_id.in_(run_ids), Job.state == "failed")
        .group_by(Job.error, Job.run_id)
    ).all()
    reasons: dict[str, tuple[int, list[int]]] = {}
    for error, run_id, n in rows:
        count, runs = reasons.get(error or "no reason recorded", (0, []))
        reasons[error or "no reason recorded"] = (count + n, sorted({*runs, run_id}))
    return sorted(((r, n, runs) for r, (n, runs) in reasons.items()), key=lambda x: (-x[1], x[0]))


def progress(s: Session, run_ids: list[int]) -> dict[int, dict[str, int]]:
    counts = {run_id: dict.fromkeys(STATES, 0) for run_id in run_ids}
    rows = s.execute(
        select(Job.run_id, Job.state, func.count()).where(Job.run_id.in_(run_ids)).group_by(Job.run_id, Job.state)
    )
    for run_id, state, n in rows:
        counts[run_id][state] = n
    return counts


def refused(s: Session, run_ids: list[int]) -> dict[int, int]:
    """Late completions and failures refused per run: work done by a worker after it lost its lease (wasted work,
    never stored)."""
    rows = s.execute(select(Job.run_id, func.sum(Job.refused)).where(Job.run_id.in_(run_ids)).group_by(Job.run_id))
    return {run_id: int(n or 0) for run_id, n in rows}


def all_finished(counts: dict[int, dict[str, int]]) -> bool:
    """True when no job of these runs (counts from `progress`) is queued or running."""
    return all(c["queued"] == 0 and c["running"] == 0 for c in counts.values())


def resolve_runs(s: Session, run_ids: list[int]) -> list[int]:
    """The given run ids, checked; none given means every run."""
    known = set(s.scalars(select(Run.id)).all())
    missing = [r for r in run_ids if r not in known]
    if missing:
        raise UnknownNameError(f"no run with id {missing[0]}: `ragq status` lists the runs.")
    return list(run_ids) or sorted(known)
