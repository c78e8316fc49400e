"""A job's life: claimed under a lease (an atomic conditional UPDATE), renewed, completed with its one result or
failed; freed again when its worker is gone; found again when it is pending."""

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ragq.shared.rag.pipeline import JobResult
from ragq.shared.records import Ask, JobContext, RunSettings
from ragq.shared.store.clock import db_now, utcnow
from ragq.shared.store.queues import QUEUE
from ragq.shared.store.schema import IndexRow, Job, ModelRow, Question, Result, Run


def _execute(s: Session, statement) -> CursorResult:
    """An UPDATE, whose result says how many rows it changed."""
    return cast(CursorResult, s.execute(statement))


def claimable(now):
    """The one condition under which a job may be taken: queued, or running under a lease that ran out."""
    return or_(Job.state == "queued", and_(Job.state == "running", Job.lease_until < now))


@dataclass(frozen=True)
class Holder:
    """Who holds a job: the worker and which attempt. Completion, failure and renewal are accepted only from the
    job's current holder (a fence): a worker that lost its lease (paused, partitioned) cannot overwrite the
    work of the one that took the job over."""

    worker: str
    attempt: int


@dataclass(frozen=True)
class NotClaimed:
    """Why a claim took nothing: "gave up after N attempts" (the job is marked failed now), "done", "failed", "held
    by WORKER" (under a live lease) or "no such job". Falsy, so that `if claimed:` reads "if the job is ours"."""

    reason: str

    def __bool__(self) -> bool:
        return False


def _held_by(job_id: int, holder: Holder):
    return and_(Job.id == job_id, Job.state == "running", Job.worker == holder.worker, Job.attempts == holder.attempt)


def claim(s: Session, job_id: int, worker: str, lease: timedelta, max_attempts: int) -> Holder | NotClaimed:
    """Take a queued job, or a running one whose lease ran out. Exactly one claimer wins; it gets its Holder, every
    other one a NotClaimed saying why.

    A job already tried max_attempts times (each try ended with its worker dead, or it would not be
    claimable) is marked failed instead, so a job that kills workers cannot do so forever. Lease times are the
    database's (shared/store/clock.py), never this host's."""
    now = db_now()
    exhausted = _execute(
        s,
        update(Job)
        .where(Job.id == job_id, claimable(now), Job.attempts >= max_attempts)
        .values(
            state="failed",
            finished_at=now,
            lease_until=None,
            error=f"gave up after {max_attempts} attempts: each one ended with its worker gone "
            "(killed, crashed or out of memory) before the job finished",
        ),
    )
    if exhausted.rowcount:
        return NotClaimed(f"gave up after {max_attempts} attempts")
    taken = s.execute(
        update(Job)
        .where(Job.id == job_id, claimable(now))
        .values(state="running", attempts=Job.attempts + 1, lease_until=db_now(lease.total_seconds()), worker=worker)
        .returning(Job.attempts)
    ).scalar()
    if taken is not None:
        return Holder(worker, taken)
    row = s.execute(select(Job.state, Job.worker).where(Job.id == job_id)).one_or_none()
    if row is None:
        return NotClaimed("no such job")
    return NotClaimed(f"held by {row.worker}" if row.state == "running" else row.state)


def renew(s: Session, job_id: int, holder: Holder, lease: timedelta) -> bool:
    """Extend the lease of a job this holder still holds."""
    renewed = _execute(s, update(Job).where(_held_by(job_id, holder)).values(lease_until=db_now(lease.total_seconds())))
    return renewed.rowcount == 1


def _refuse(s: Session, job_id: int) -> str:
    """Count late work on the job (shown by `ragq status`); nothing of it is stored."""
    s.execute(update(Job).where(Job.id == job_id).values(refused=Job.refused + 1))
    return "refused"


def _already(s: Session, job_id: int, holder: Holder, state: str) -> bool:
    """Whether this holder itself already moved the job to `state`: its first try committed but the connection
    broke before it heard so (a database restart), and it tried again (db.retrying). Not late work: not refused."""
    row = s.execute(select(Job.state, Job.worker, Job.attempts).where(Job.id == job_id)).one_or_none()
    return row is not None and tuple(row) == (state, holder.worker, holder.attempt)


def result_columns(result: JobResult) -> dict:
    """A worker's result as the result row's columns (schema `Result`): the one place they are named."""
    outcome, generation = result.outcome, result.outcome.generation
    return dict(
        answer=outcome.answer,
        prompt=outcome.prompt,
        chunk_ids=outcome.chunk_ids,
        dropped_chunks=outcome.dropped_chunks,
        cosine=outcome.cosine,
        retrieval_ms=outcome.retrieval_ms,
        ttft_s=generation.ttft_s,
        prompt_tokens=generation.prompt_tokens,
        prompt_eval_s=generation.prompt_eval_s,
        gen_tokens=generation.gen_tokens,
        gen_s=generation.gen_s,
        total_s=generation.total_s,
        peak_rss_mb=result.peak_rss_mb,
        cpu_s=result.cpu_s,
        prefix_reused_tokens=generation.prefix_reused_tokens,
        evidence_rank=outcome.evidence_rank,
        **(outcome.metrics.as_dict() if outcome.metrics else {}),
        **(outcome.expert.columns() if outcome.expert else {}),
        host=result.host,
        pid=result.pid,
        worker=result.worker,
        provenance=result.provenance,
        started_at=result.started_at,
        finished_at=result.finished_at,
    )


def complete(s: Session, job_id: int, result: dict, holder: Holder) -> str:
    """Store the one result of a job and mark it done: "done"; "refused" when the holder no longer holds the job
    (its lease ran out and the job was freed or taken over); "duplicate" when the job already has a result."""
    done = _execute(
        s, update(Job).where(_held_by(job_id, holder)).values(state="done", finished_at=utcnow(), error=None)
    )
    if done.rowcount != 1:
        # its result was added in the same transaction that marked it done
        return "done" if _already(s, job_id, holder, "done") else _refuse(s, job_id)
    try:
        with s.begin_nested():
            s.add(Result(job_id=job_id, **result))
    except IntegrityError:
        return "duplicate"
    return "done"


def fail(s: Session, job_id: int, error: str, holder: Holder) -> str:
    """Mark the job failed with its reason: "failed", or "refused" when the holder no longer holds it."""
    failed = _execute(
        s, update(Job).where(_held_by(job_id, holder)).values(state="failed", error=error[:2000], finished_at=utcnow())
    )
    if failed.rowcount == 1 or _already(s, job_id, holder, "failed"):
        return "failed"
    return _refuse(s, job_id)


def job_context(s: Session, job_id: int) -> JobContext:
    """What the job asks (its question, the run's retrieval and prompt settings) and which run it belongs to."""
    asked = (Question.question, Question.answer.label("reference"), Question.evidence_pages, Question.doc)
    run = (Run.ratio, Run.settings, Run.prompt_kind, Run.spec_digest, ModelRow.name.label("model"))
    index = (IndexRow.name.label("index_name"), IndexRow.manifest.label("index_manifest"))
    row = s.execute(
        select(*asked, *run, *index)
        .select_from(Job)
        .join(Run, Job.run_id == Run.id)
        .join(Question, Job.question_id == Question.id)
        .join(IndexRow, Run.index_id == IndexRow.id)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .where(Job.id == job_id)
    ).one()
    ask = Ask(
        question=row.question,
        reference=row.reference,
        ratio=row.ratio,
        prompt_kind=row.prompt_kind,
        settings=RunSettings.from_dict(row.settings),
        evidence_pages=row.evidence_pages,
        doc=row.doc,
    )
    return JobContext(
        job_id=job_id,
        model=row.model,
        spec_digest=row.spec_digest,
        index=row.index_name,
        index_manifest=row.index_manifest,
        ask=ask,
    )


def pending(s: Session, run_ids: list[int]) -> list[tuple[int, str]]:
    """(job id, queue) of every job of these runs that is neither finished nor held by a live lease."""
    rows = s.execute(
        select(Job.id, QUEUE)
        .select_from(Job)
        .join(Run, Job.run_id == Run.id)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .where(Job.run_id.in_(run_ids), claimable(db_now()))
        .order_by(Job.id)
    ).all()
    return [(job_id, queue) for job_id, queue in rows]


def pending_models(s: Session, run_ids: list[int]) -> set[str]:
    """The models that still have work in these runs."""
    rows = s.scalars(
        select(ModelRow.name)
        .select_from(Job)
        .join(Run, Job.run_id == Run.id)
        .join(ModelRow)
        .where(Job.run_id.in_(run_ids), claimable(db_now()))
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
    queues = dict(
        s.execute(
            select(Run.id, QUEUE)
            .join(ModelRow, Run.model_id == ModelRow.id)
            .where(Run.id.in_({run_id for _, run_id in released}))
        ).all()
    )
    return sorted((job_id, queues[run_id]) for job_id, run_id in released)


def release_expired(s: Session, run_ids: list[int] | None = None) -> list[tuple[int, str]]:
    """Jobs (of these runs, or of any run) whose worker stopped renewing its lease. One UPDATE ... RETURNING:
    of two processes reaping at once, each job goes to exactly one, so it is published once."""
    expired = Job.lease_until < db_now()
    return _release(s, expired if run_ids is None else and_(Job.run_id.in_(run_ids), expired))


def release_workers(s: Session, workers: list[str]) -> list[tuple[int, str]]:
    """Jobs held by workers known to be gone (stopped or dead), without waiting for their leases."""
    return _release(s, Job.worker.in_(workers))
