"""One question through RAG: retrieve -> fit prompt to n_ctx -> generate (timed) -> score (cosine and the
answer metrics). No I/O."""

import time
from dataclasses import dataclass

from ragq.shared.rag import metrics, retrieval, scoring
from ragq.shared.rag.evidence import evidence_rank
from ragq.shared.rag.llm import Generation
from ragq.shared.rag.metrics import AnswerMetrics
from ragq.shared.rag.prompting import fit_to_context


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
    metrics: AnswerMetrics | None = None  # F1, ROUGE-L, abstention, groundedness... (shared/rag/metrics.py)


def answer_question(
    question: str,
    reference: str,
    ratio: float,
    retrieval_cfg: retrieval.RetrievalConfig,
    index,
    embedder,
    runner,
    kv_reuse: bool = False,
    prompt_kind: str = "chat",
    evidence: tuple[list[int] | None, str | None] = (None, None),
) -> Outcome:
    start = time.perf_counter()
    query_vec = embedder.encode([question])[0]
    hits = retrieval.retrieve(retrieval_cfg, index, question, query_vec, ratio)
    retrieval_ms = (time.perf_counter() - start) * 1000
    chunks = [index.chunks[h.position] for h in hits]
    p = runner.params
    build = runner.layout(prompt_kind).build
    fitted = fit_to_context([c.text for c in chunks], question, build, runner.count_tokens, p.n_ctx, p.max_tokens)
    generation = runner.generate(fitted.prompt, kv_reuse=kv_reuse)
    context = "\n\n".join(c.text for c in chunks[: fitted.kept])
    return Outcome(
        answer=generation.text,
        prompt=fitted.prompt.text,
        chunk_ids=[c.id for c in chunks[: fitted.kept]],
        dropped_chunks=fitted.dropped,
        cosine=scoring.cosine(embedder, generation.text, reference),
        retrieval_ms=retrieval_ms,
        generation=generation,
        evidence_rank=evidence_rank(chunks[: fitted.kept], *evidence),
        metrics=metrics.score_answer(generation.text, reference, context),
    )
