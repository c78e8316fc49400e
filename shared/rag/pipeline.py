"""One question through RAG: retrieve -> fit prompt to n_ctx -> generate (timed) -> read the expert's answer
teacher-forced after the same prompt (its likelihood) -> score (cosine and the answer metrics). No I/O."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ragq.shared.metrics import answer, cosine
from ragq.shared.metrics.answer import AnswerMetrics
from ragq.shared.metrics.evidence import evidence_rank
from ragq.shared.metrics.likelihood import ExpertScore
from ragq.shared.rag import retrieval
from ragq.shared.rag.llm import Generation
from ragq.shared.rag.prompting import fit_to_context
from ragq.shared.records import Ask


@dataclass(frozen=True)
class Outcome:
    answer: str
    prompt: str
    chunk_ids: list[str]  # in prompt order, after fitting
    dropped_chunks: int
    cosine: float
    retrieval_ms: float
    generation: Generation
    evidence_rank: int | None = None
    metrics: AnswerMetrics | None = None  # F1, ROUGE-L, abstention, groundedness... (shared/metrics/answer.py)
    expert: ExpertScore | None = None  # how likely the model finds the expert's answer (shared/metrics/likelihood.py)
    expert_note: dict | None = None  # what the scoring did, or why it was skipped (provenance)


@dataclass(frozen=True, kw_only=True)
class JobResult:
    """What a worker stores for one job: the outcome, whole, and when, where and at what cost it was made. The store
    turns it into the result row's columns in one place (shared/store/jobs.py `result_columns`)."""

    outcome: Outcome
    started_at: datetime
    finished_at: datetime
    cpu_s: float
    peak_rss_mb: float
    host: str
    pid: int
    worker: str
    provenance: dict


def answer_question(ask: Ask, index, embedders, runner, keep_going: Callable[[], bool] | None = None) -> Outcome:
    """`embedders`: shared/corpus/embedders.py's Embedders (the query embedded with the index's own variant, the
    answer scored with the index's scorer). `keep_going`: asked after each generated token; False stops the answer there
    (GenerationStopped)."""
    start = time.perf_counter()
    question = ask.question
    query_vec = embedders.for_index(index.manifest).encode([question])[0]
    hits = retrieval.retrieve(ask.settings.retrieval, index, question, query_vec, ask.ratio)
    retrieval_ms = (time.perf_counter() - start) * 1000
    chunks = [index.chunks[h.position] for h in hits]
    params = runner.params
    build = runner.layout(ask.prompt_kind).build
    fitted = fit_to_context(
        [c.text for c in chunks], question, build, runner.count_tokens, params.n_ctx, params.max_tokens
    )
    generation = runner.generate(fitted.prompt, kv_reuse=ask.settings.kv_reuse, keep_going=keep_going)
    expert, note = runner.score_expert(fitted.prompt, ask.reference)  # after the timed generation, on its cache
    context = "\n\n".join(c.text for c in chunks[: fitted.kept])
    return Outcome(
        answer=generation.text,
        prompt=fitted.prompt.text,
        chunk_ids=[c.id for c in chunks[: fitted.kept]],
        dropped_chunks=fitted.dropped,
        cosine=cosine.cosine(embedders.scorer_for(index.manifest), generation.text, ask.reference),
        retrieval_ms=retrieval_ms,
        generation=generation,
        evidence_rank=evidence_rank(chunks[: fitted.kept], ask.evidence_pages, ask.doc),
        metrics=answer.score_answer(generation.text, ask.reference, context),
        expert=expert,
        expert_note=note,
    )
