"""Runs and jobs: create, claim (atomic conditional UPDATE), complete, fail, find what is pending."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ragq.shared.errors import UnknownNameError
from ragq.shared.models.identity import RunWork
from ragq.shared.queue import queue_name
from ragq.shared.rag.retrieval import RetrievalConfig
from ragq.shared.store.schema import IndexRow, Job, ModelRow, Question, QuestionSet, Result, Run, utcnow

STATES = ("queued", "running", "done", "failed")


def last_spec(s: Session, model: str, prompt_kind: str) -> tuple[str | None, dict | None] | None:
    """(digest, spec) of the model's latest run with this prompt kind, or None when it has never run."""
    row = s.execute(
        select(Run.spec_digest, Run.spec)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .where(ModelRow.name == model, Run.prompt_kind == prompt_kind)
        .order_by(Run.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True)
class RunPlan:
    run_id: int
    model: str
    ratio: float
    created: bool  # False: the same work existed already, nothing new was written
    job_ids: list[int]
    queue: str  # where its jobs are published


def plan_run(
    s: Session,
    work: RunWork,
    model: ModelRow,
    index: IndexRow,
    qset: QuestionSet,
    *,
    new_run: bool = False,
    queue: str | None = None,
) -> RunPlan:
    """One run per piece of work (identity.RunWork: model spec, index, questions, fusion, ratio, ...); --new-run
    adds another generation of it. `queue` routes its jobs (None: the model's own queue)."""
    key = work.key()
    latest = s.scalar(select(Run).where(Run.key == key).order_by(Run.generation.desc()).limit(1))
    if latest is not None and not new_run:
        if queue is not None:  # routing, not identity: the same work may move to another queue
            latest.queue = queue
        job_ids = s.scalars(select(Job.id).where(Job.run_id == latest.id).order_by(Job.id)).all()
        return RunPlan(latest.id, model.name, work.ratio, False, list(job_ids), latest.queue or queue_name(model.name))
    run = Run(
        key=key,
        generation=(latest.generation + 1) if latest else 1,
        model_id=model.id,
        index_id=index.id,
        set_id=qset.id,
        ratio=work.ratio,
        fusion=work.retrieval.fusion,
        k=work.retrieval.k,
        candidates=work.retrieval.candidates,
        c=work.retrieval.c,
        repeat=work.repeat,
        kv_reuse=work.kv_reuse,
        spec_digest=work.spec.digest,
        spec=work.spec.identity,
        prompt_kind=work.spec.prompt_kind,
        queue=queue,
    )
    s.add(run)
    s.flush()
    question_ids = s.scalars(select(Question.id).where(Question.set_id == qset.id).order_by(Question.position)).all()
    # repetitions interleaved (all questions once, then again), so a repeat is not timed on a warm neighbour
    jobs = [Job(run_id=run.id, question_id=q, repetition=r) for r in range(work.repeat) for q in question_ids]
    s.add_all(jobs)
    s.flush()
    return RunPlan(run.id, model.name, work.ratio, True, [j.id for j in jobs], queue or queue_name(model.name))


def _claimable(now):
    return or_(Job.state == "queued", and_(Job.state == "running", Job.lease_until < now))


def claim(s: Session, job_id: int, worker: str, lease: timedelta, max_attempts: int) -> bool:
    """Take a queued job, or a running one whose lease ran out. Exactly one claimer wins.

    A job already tried max_attempts times (each try ended with its worker dead, or it would not be
    claimable) is marked failed instead, so a job that kills workers cannot do so forever."""
    now = utcnow()
    exhausted = s.execute(
        update(Job)
        .where(Job.id == job_id, _claimable(now), Job.attempts >= max_attempts)
        .values(
            state="failed",
            finished_at=now,
            lease_until=None,
            error=f"gave up after {max_attempts} attempts: each one ended with its worker gone "
            "(killed, crashed or out of memory) before the job finished",
        )
    )
    if exhausted.rowcount:
        return False
    taken = s.execute(
        update(Job)
        .where(Job.id == job_id, _claimable(now))
        .values(state="running", attempts=Job.attempts + 1, lease_until=now + lease, worker=worker)
    )
    return taken.rowcount == 1


def renew(s: Session, job_id: int, worker: str, lease: timedelta) -> bool:
    """Extend the lease of a job this worker still holds."""
    renewed = s.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "running", Job.worker == worker)
        .values(lease_until=utcnow() + lease)
    )
    return renewed.rowcount == 1


def complete(s: Session, job_id: int, result: dict) -> bool:
    """Store the one result of a job and mark it done; a second result for the job is refused."""
    try:
        with s.begin_nested():
            s.add(Result(job_id=job_id, **result))
    except IntegrityError:
        return False
    s.execute(update(Job).where(Job.id == job_id).values(state="done", finished_at=utcnow(), error=None))
    return True


def fail(s: Session, job_id: int, error: str) -> None:
    s.execute(
        update(Job)
        .where(Job.id == job_id, Job.state != "done")
        .values(state="failed", error=error[:2000], finished_at=utcnow())
    )


@dataclass(frozen=True)
class JobContext:
    job_id: int
    question: str
    reference: str
    ratio: float
    retrieval: RetrievalConfig
    kv_reuse: bool
    index: str
    model: str
    evidence_pages: list[int] | None
    doc: str | None
    prompt_kind: str
    spec_digest: str | None
    index_manifest: dict


def job_context(s: Session, job_id: int) -> JobContext:
    row = s.execute(
        select(
            Question.question,
            Question.answer,
            Run.ratio,
            Run.fusion,
            Run.k,
            Run.candidates,
            Run.c,
            Run.kv_reuse,
            IndexRow.name,
            ModelRow.name,
            Question.evidence_pages,
            Question.doc,
            Run.prompt_kind,
            Run.spec_digest,
            IndexRow.manifest,
        )
        .select_from(Job)
        .join(Run, Job.run_id == Run.id)
        .join(Question, Job.question_id == Question.id)
        .join(IndexRow, Run.index_id == IndexRow.id)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .where(Job.id == job_id)
    ).one()
    question, answer, ratio, fusion, k, candidates, c, *rest = row
    return JobContext(job_id, question, answer, ratio, RetrievalConfig(fusion, k, candidates, c), *rest)


def spec_history(s: Session, model: str) -> list[dict]:
    """The specs a model name has run with, oldest first: spec id, prompt kind, run ids, first use, the spec."""
    rows = s.execute(
        select(Run.id, Run.spec_digest, Run.prompt_kind, Run.spec, Run.created_at)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .where(ModelRow.name == model)
        .order_by(Run.id)
    ).all()
    history: dict[tuple, dict] = {}
    for run_id, digest, kind, spec, created in rows:
        entry = history.setdefault(
            (digest, kind),
            {
                "spec_id": digest[:8] if digest else "legacy",
                "prompt_kind": kind,
                "runs": [],
                "first": created,
                "spec": spec,
            },
        )
        entry["runs"].append(run_id)
    return list(history.values())


def holders(s: Session, run_ids: list[int]) -> list[dict]:
    """Every running job of these runs: who holds it, until when, and whether that lease ran out (a dead worker)."""
    now = utcnow()
    rows = s.execute(
        select(Job.id, Job.run_id, Job.worker, Job.lease_until, Job.attempts)
        .where(Job.run_id.in_(run_ids), Job.state == "running")
        .order_by(Job.id)
    ).all()
    return [
        {"job": job, "run": run, "worker": worker, "lease_until": lease, "attempt": attempts, "expired": lease < now}
        for job, run, worker, lease, attempts in rows
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


def _unfinished(run_ids: list[int]):
    return and_(
        Job.run_id.in_(run_ids), or_(Job.state == "queued", and_(Job.state == "running", Job.lease_until < utcnow()))
    )


def pending(s: Session, run_ids: list[int]) -> list[tuple[int, str]]:
    """(job id, queue) of every job of these runs that is neither finished nor held by a live lease."""
    rows = s.execute(
        select(Job.id, ModelRow.name, Run.queue)
        .select_from(Job)
        .join(Run, Job.run_id == Run.id)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .where(_unfinished(run_ids))
        .order_by(Job.id)
    ).all()
    return [(job_id, queue or queue_name(model)) for job_id, model, queue in rows]


def pending_models(s: Session, run_ids: list[int]) -> set[str]:
    """The models that still have work in these runs."""
    rows = s.scalars(
        select(ModelRow.name)
        .select_from(Job)
        .join(Run, Job.run_id == Run.id)
        .join(ModelRow)
        .where(_unfinished(run_ids))
    )
    return set(rows)


def _release(s: Session, condition) -> list[tuple[int, str]]:
    """Put running jobs that match back to queued (attempts kept) and return (job id, queue) to publish."""
    released = s.execute(
        update(Job)
        .where(Job.state == "running", condition)
        .values(state="queued", lease_until=None, worker=None)
        .returning(Job.id, Job.run_id)
    ).all()
    if not released:
        return []
    queues = {
        run_id: queue or queue_name(model)
        for run_id, model, queue in s.execute(
            select(Run.id, ModelRow.name, Run.queue)
            .join(ModelRow, Run.model_id == ModelRow.id)
            .where(Run.id.in_({run_id for _, run_id in released}))
        ).all()
    }
    return sorted((job_id, queues[run_id]) for job_id, run_id in released)


def release_expired(s: Session, run_ids: list[int] | None = None) -> list[tuple[int, str]]:
    """Jobs (of these runs, or of any run) whose worker stopped renewing its lease. One UPDATE ... RETURNING:
    of two processes reaping at once, each job goes to exactly one, so it is published once."""
    expired = Job.lease_until < utcnow()
    return _release(s, expired if run_ids is None else and_(Job.run_id.in_(run_ids), expired))


def release_workers(s: Session, workers: list[str]) -> list[tuple[int, str]]:
    """Jobs held by workers known to be gone (stopped or dead), without waiting for their leases."""
    return _release(s, Job.worker.in_(workers))


def progress(s: Session, run_ids: list[int]) -> dict[int, dict[str, int]]:
    counts = {run_id: dict.fromkeys(STATES, 0) for run_id in run_ids}
    rows = s.execute(
        select(Job.run_id, Job.state, func.count()).where(Job.run_id.in_(run_ids)).group_by(Job.run_id, Job.state)
    )
    for run_id, state, n in rows:
        counts[run_id][state] = n
    return counts


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
