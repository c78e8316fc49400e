"""Reading results back: per-question rows, and the runs a selection names. Summaries: producer/results/summary.py."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ragq.shared.store.schema import IndexRow, Job, ModelRow, Question, QuestionSet, Result, Run
from ragq.shared.store.standing import resolve_runs


@dataclass(frozen=True)
class ResultRow:
    run_id: int
    job_id: int
    model: str
    ratio: float
    repetition: int
    question: str
    answer: str
    cosine: float
    total_s: float
    ttft_s: float
    prompt_tokens: int
    prompt_eval_s: float
    gen_tokens: int
    gen_s: float
    dropped_chunks: int
    peak_rss_mb: float
    evidence_rank: int | None
    token_f1: float | None = None
    exact_match: float | None = None
    rouge_l: float | None = None
    abstained: bool | None = None
    groundedness: float | None = None
    number_match: float | None = None
    answer_words: int | None = None
    host_workers: int | None = None  # ragq workers alive on the host while it ran (None: not recorded)
    placement: str | None = None  # "CPU", "CUDA 31/31 layers"
    doc: str | None = None  # the question's document, where its set names one (clusters in paired tests)
    build: str | None = None  # the llama.cpp that answered: "0.3.36 AVX2 AVX512 ..." (None: not recorded)
    # the expert's answer after the same prompt (shared/metrics/likelihood.py); None before schema 0007's rescore
    expert_bpb: float | None = None
    expert_nats_per_token: float | None = None
    expert_mean_rank: float | None = None
    chunk_ids: list | None = None  # the chunks in the prompt, in prompt order


def of_runs(query, run_ids: list[int]):
    """A select of result columns, joined to its job, run, model and question, for these runs, in report order."""
    return (
        query.select_from(Result)
        .join(Job, Result.job_id == Job.id)
        .join(Run, Job.run_id == Run.id)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .join(Question, Job.question_id == Question.id)
        .where(Run.id.in_(run_ids))
        .order_by(Run.id, Job.repetition, Question.position)
    )


# ResultRow's fields read straight from a column, in its order after the run, job and model
_COLUMNS = (
    Run.ratio, Job.repetition, Question.question, Result.answer, Result.cosine, Result.total_s, Result.ttft_s,
    Result.prompt_tokens, Result.prompt_eval_s, Result.gen_tokens, Result.gen_s, Result.dropped_chunks,
    Result.peak_rss_mb, Result.evidence_rank, Result.token_f1, Result.exact_match, Result.rouge_l, Result.abstained,
    Result.groundedness, Result.number_match, Result.answer_words, Result.expert_bpb, Result.expert_nats_per_token,
    Result.expert_mean_rank, Result.chunk_ids, Question.doc,
)  # fmt: skip


def result_rows(s: Session, run_ids: list[int]) -> list[ResultRow]:
    columns = select(Run.id, Job.id, ModelRow.name, *_COLUMNS, Result.provenance)
    out = []
    for row in s.execute(of_runs(columns, run_ids)).all():
        *values, provenance = row
        names = ["run_id", "job_id", "model", *(c.key for c in _COLUMNS)]
        host_workers, where = placement(provenance or {})
        fields = dict(zip(names, values, strict=True))
        out.append(ResultRow(**fields, host_workers=host_workers, placement=where, build=build(provenance or {})))
    return out


def placement(provenance: dict) -> tuple[int | None, str | None]:
    """How the result's host was shared, and where its model ran, from its provenance: 'CPU t1/b2',
    'CUDA 31/31 layers t4/b8 fa' (threads and flash attention where the result recorded them)."""
    off = provenance.get("offload")
    where = None
    if off:
        where = (
            off["backend"]
            if off["backend"] == "CPU"
            else f"{off['backend']} {off['layers_offloaded']}/{off['layers_total']} layers"
        )
        threads = (provenance.get("placement") or {}).get("threads")
        where += f" {threads}" if threads else ""
    return provenance.get("host_workers"), where


def features(system_info: str) -> list[str]:
    """What a llama.cpp build uses, from llama_print_system_info(): ["AVX2", "FMA", "AVX512", "CUDA", ...]."""
    on = [part.split(" = ")[0].strip() for part in system_info.split("|") if part.strip().endswith("= 1")]
    return [name.split(":")[-1].strip() for name in on]


def build(provenance: dict) -> str | None:
    """The llama.cpp that answered, from a result's provenance: its llama-cpp-python version and the instruction
    sets and backends it was built for. Two builds can word one model's answers differently (other kernels round
    differently: bench/RESULTS.md, Build), so `ragq compare` names a difference."""
    version, info = provenance.get("llama_cpp_python"), provenance.get("llama_cpp_system_info")
    if not version:
        return None
    return " ".join([version, *features(info or "")])


def spec_id(digest: str | None) -> str:
    """A run's short spec id: the first 8 characters of its spec digest ('legacy' before digests were kept)."""
    return digest[:8] if digest else "legacy"


def select_runs(
    s: Session,
    ids: list[int],
    model: str | None = None,
    ratio: float | None = None,
    index: str | None = None,
    questions: str | None = None,
    since: datetime | None = None,
) -> list[int]:
    """Run ids by id and/or filters; every run when nothing is given. Unknown ids are an error."""
    query = (
        select(Run.id)
        .join(ModelRow, Run.model_id == ModelRow.id)
        .join(IndexRow, Run.index_id == IndexRow.id)
        .join(QuestionSet, Run.set_id == QuestionSet.id)
        .order_by(Run.id)
    )
    if ids:
        query = query.where(Run.id.in_(resolve_runs(s, ids)))
    if model:
        query = query.where(ModelRow.name == model)
    if ratio is not None:
        query = query.where(Run.ratio == ratio)
    if index:
        query = query.where(IndexRow.name == index)
    if questions:
        query = query.where(QuestionSet.name == questions)
    if since:
        query = query.where(Run.created_at >= since)
    return list(s.scalars(query).all())


def timespan(s: Session, run_ids: list[int]) -> tuple[datetime | None, datetime | None]:
    """When the first answer of these runs started and the last one finished."""
    query = select(func.min(Result.started_at), func.max(Result.finished_at)).join(Job, Result.job_id == Job.id)
    first, last = s.execute(query.where(Job.run_id.in_(run_ids))).one()
    return first, last
