"""What a run's summary is computed from, read in one transaction: the run's settings, its jobs' states, its
drift, and its answers (producer/results/summary.py turns them into figures)."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ragq.shared.records import RunSettings
from ragq.shared.store import drift as drift_store
from ragq.shared.store.results import ResultRow, result_rows
from ragq.shared.store.schema import IndexRow, Job, ModelRow, QuestionSet, Run


@dataclass(frozen=True)
class RunFacts:
    run_id: int
    model: str
    spec_digest: str | None
    prompt_kind: str
    index: str
    questions: str
    fusion: str
    ratio: float
    repeat: int
    states: list[str]  # one per job
    answers: list[ResultRow]
    drift: dict | None  # `ragq drift` from a reference (shared/store/drift.by_run), None: not measured


def run_facts(s: Session, run_ids: list[int], answers: list[ResultRow] | None = None) -> list[RunFacts]:
    """Each run's facts; `answers`: its result rows when the caller read them already."""
    rows: dict[int, list[ResultRow]] = {}
    for r in result_rows(s, run_ids) if answers is None else answers:
        rows.setdefault(r.run_id, []).append(r)
    runs = s.execute(
        select(
            Run.id,
            ModelRow.name,
            Run.spec_digest,
            Run.prompt_kind,
            IndexRow.name,
            QuestionSet.name,
            Run.ratio,
            Run.settings,
        )
        .join(ModelRow, Run.model_id == ModelRow.id)
        .join(IndexRow, Run.index_id == IndexRow.id)
        .join(QuestionSet, Run.set_id == QuestionSet.id)
        .where(Run.id.in_(run_ids))
        .order_by(Run.id)
    ).all()
    drifts = drift_store.by_run(s, run_ids)
    return [_facts(s, run, rows.get(run[0], []), drifts.get(run[0])) for run in runs]


def _facts(s: Session, run, answers: list[ResultRow], drift: dict | None) -> RunFacts:
    run_id, model, digest, prompt_kind, index, questions, ratio, stored = run
    settings = RunSettings.from_dict(stored)
    return RunFacts(
        run_id=run_id,
        model=model,
        spec_digest=digest,
        prompt_kind=prompt_kind,
        index=index,
        questions=questions,
        fusion=settings.retrieval.fusion,
        ratio=ratio,
        repeat=settings.repeat,
        states=list(s.scalars(select(Job.state).where(Job.run_id == run_id)).all()),
        answers=answers,
        drift=drift,
    )
