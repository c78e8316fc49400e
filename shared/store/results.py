"""Reading results back: per-question rows and per-run summaries."""

import statistics
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ragq.shared.store.schema import IndexRow, Job, ModelRow, Question, QuestionSet, Result, Run


@dataclass(frozen=True)
class ResultRow:
    run_id: int
    job_id: int
    model: str
    ratio: float
    question: str
    answer: str
    cosine: float
    total_s: float
    ttft_s: float
    prompt_tokens: int
    gen_tokens: int
    gen_s: float
    dropped_chunks: int
    peak_rss_mb: float


def result_rows(s: Session, run_ids: list[int]) -> list[ResultRow]:
    rows = s.execute(
        select(
            Run.id,
            Job.id,
            ModelRow.name,
            Run.ratio,
            Question.question,
            Result.answer,
            Result.cosine,
            Result.total_s,
            Result.ttft_s,
            Result.prompt_tokens,
            Result.gen_tokens,
            Result.gen_s,
            Result.dropped_chunks,
            Result.peak_rss_mb,
        )
        .join(Job, Result.job_id == Job.id)
        .join(Run, Job.run_id == Run.id)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .join(Question, Job.question_id == Question.id)
        .where(Run.id.in_(run_ids))
        .order_by(Run.id, Question.position)
    ).all()
    return [ResultRow(*row) for row in rows]


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    model: str
    index: str
    questions: str
    fusion: str
    ratio: float
    jobs: int
    done: int
    failed: int
    mean_cosine: float | None
    mean_total_s: float | None
    p50_total_s: float | None
    mean_ttft_s: float | None
    gen_tokens_per_s: float | None
    peak_rss_mb: float | None


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarize(s: Session, run_ids: list[int]) -> list[RunSummary]:
    rows: dict[int, list[ResultRow]] = {}
    for r in result_rows(s, run_ids):
        rows.setdefault(r.run_id, []).append(r)
    runs = s.execute(
        select(Run.id, ModelRow.name, IndexRow.name, QuestionSet.name, Run.fusion, Run.ratio)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .join(IndexRow, Run.index_id == IndexRow.id)
        .join(QuestionSet, Run.set_id == QuestionSet.id)
        .where(Run.id.in_(run_ids))
        .order_by(Run.id)
    ).all()
    out = []
    for run_id, model, index, qset, fusion, ratio in runs:
        states = s.scalars(select(Job.state).where(Job.run_id == run_id)).all()
        done = rows.get(run_id, [])
        gen_s = sum(r.gen_s for r in done)
        out.append(
            RunSummary(
                run_id,
                model,
                index,
                qset,
                fusion,
                ratio,
                len(states),
                len(done),
                states.count("failed"),
                _mean([r.cosine for r in done]),
                _mean([r.total_s for r in done]),
                statistics.median([r.total_s for r in done]) if done else None,
                _mean([r.ttft_s for r in done]),
                sum(r.gen_tokens for r in done) / gen_s if gen_s else None,
                max((r.peak_rss_mb for r in done), default=None),
            )
        )
    return out


def as_dicts(items) -> list[dict]:
    return [asdict(item) for item in items]
