"""The experts' answers' likelihood filled in after the fact (`ragq rescore`): the results still to score, and each
one's figures stored in a transaction of its own."""

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ragq.shared.store.schema import Job, ModelRow, Question, Result, Run


def unscored(s: Session, run_ids: list[int], force: bool) -> dict[str, list]:
    """{model: [(result id, run id, spec digest, prompt kind, prompt, expert answer), ...]} still to score
    (every result with force)."""
    query = (
        select(Result.id, Run.id, Run.spec_digest, Run.prompt_kind, Result.prompt, Question.answer, ModelRow.name)
        .join(Job, Result.job_id == Job.id)
        .join(Run, Job.run_id == Run.id)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .join(Question, Job.question_id == Question.id)
        .where(Run.id.in_(run_ids))
        .order_by(Run.id, Result.id)
    )
    if not force:
        query = query.where(Result.expert_bpb.is_(None))
    out: dict[str, list] = {}
    for *row, model in s.execute(query).all():
        out.setdefault(model, []).append(tuple(row))
    return out


def store_score(s: Session, result_id: int, columns: dict, note: dict, force: bool) -> None:
    """One result's figures and how they were made; a result scored meanwhile is left alone (unless force)."""
    row = s.get(Result, result_id)
    if row is None or (row.expert_bpb is not None and not force):
        return
    where = Result.id == result_id
    s.execute(update(Result).where(where).values(**columns, provenance={**row.provenance, "expert_score": note}))
