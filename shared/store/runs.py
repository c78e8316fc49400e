"""Run planning: a piece of work (identity.RunWork) becomes one run row and its job rows, once; what a model's
runs were made with (spec history)."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ragq.shared.models.identity import RunWork
from ragq.shared.store import inputs
from ragq.shared.store.queues import run_queue
from ragq.shared.store.schema import IndexRow, Job, ModelRow, Question, QuestionSet, Run


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
        return RunPlan(latest.id, model.name, work.ratio, False, list(job_ids), run_queue(latest.queue, model.name))
    run = _new_run(key, (latest.generation + 1) if latest else 1, work, model, index, qset, queue)
    s.add(run)
    s.flush()
    question_ids = s.scalars(select(Question.id).where(Question.set_id == qset.id).order_by(Question.position)).all()
    # repetitions interleaved (all questions once, then again), so a repeat is not timed on a warm neighbour
    repeat = work.settings.repeat
    jobs = [Job(run_id=run.id, question_id=q, repetition=r) for r in range(repeat) for q in question_ids]
    s.add_all(jobs)
    s.flush()
    return RunPlan(run.id, model.name, work.ratio, True, [j.id for j in jobs], run_queue(queue, model.name))


def plan_runs(
    s: Session, works: list[tuple[RunWork, dict]], index: str, questions: str, new_run: bool, queue: str | None
) -> tuple[list[RunPlan], dict[tuple[str, str], tuple | None]]:
    """Each piece of work's run (`plan_run`), its model recorded with the catalog entry beside it. Returns the plans
    and, read before any is written, the spec each (model, prompt kind) last ran with (`last_spec`)."""
    index_row, qset = inputs.get_index(s, index), inputs.get_question_set(s, questions)
    before = {(w.model, w.spec.prompt_kind): last_spec(s, w.model, w.spec.prompt_kind) for w, _ in works}
    plans = [
        plan_run(s, work, inputs.record_model(s, work.model, spec), index_row, qset, new_run=new_run, queue=queue)
        for work, spec in works
    ]
    return plans, before


def _new_run(key: str, generation: int, work: RunWork, model: ModelRow, index: IndexRow, qset: QuestionSet, queue):
    return Run(
        key=key,
        generation=generation,
        model_id=model.id,
        index_id=index.id,
        set_id=qset.id,
        ratio=work.ratio,
        settings=work.settings.as_dict(),
        spec_digest=work.spec.digest,
        spec=work.spec.identity,
        prompt_kind=work.spec.prompt_kind,
        queue=queue,
    )


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
