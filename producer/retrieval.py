"""Retrieval quality with no LLM: does the prompt get a chunk from an evidence page, and how high is it ranked.

For each ratio of a sweep: hit@k (some retrieved chunk lies on an evidence page, in the evidence document when
the question names one), MRR of the first evidence chunk; over the sweep: how many distinct chunk sets it made.
"""

from dataclasses import dataclass

import numpy as np

from ragq.shared.metrics.evidence import evidence_rank
from ragq.shared.rag.retrieval import retrieve
from ragq.shared.records import QAPair, RetrievalConfig


@dataclass(frozen=True)
class RatioScore:
    ratio: float
    questions: int
    hit_at_k: float
    mrr: float
    mean_chunks: float  # chunks retrieved per question (seed has no cut: 5 to 8)


@dataclass(frozen=True)
class SweepScore:
    fusion: str
    ratios: list[RatioScore]
    distinct_sets: float  # mean over questions of the distinct chunk sets the sweep produced
    distinct_orders: float  # the same for ordered lists (a prompt differs when only the order does)
    skipped: int  # questions without evidence pages


def evaluate(index, pairs: list[QAPair], vectors: np.ndarray, ratios: list[float], cfg: RetrievalConfig) -> SweepScore:
    """`vectors` holds each question's embedding, computed once for the whole sweep."""
    usable = [(p, v) for p, v in zip(pairs, vectors, strict=True) if p.evidence_pages]
    sets: list[set] = [set() for _ in usable]
    orders: list[set] = [set() for _ in usable]
    scores = []
    for ratio in ratios:
        ranks, sizes = [], []
        for i, (pair, vector) in enumerate(usable):
            chunks = [index.chunks[h.position] for h in retrieve(cfg, index, pair.question, vector, ratio)]
            ranks.append(evidence_rank(chunks, pair.evidence_pages, pair.doc))
            sizes.append(len(chunks))
            sets[i].add(frozenset(c.id for c in chunks))
            orders[i].add(tuple(c.id for c in chunks))
        scores.append(
            RatioScore(
                ratio,
                len(ranks),
                float(np.mean([(r or 0) > 0 for r in ranks])) if ranks else 0.0,
                float(np.mean([1 / r if r else 0.0 for r in ranks])) if ranks else 0.0,
                float(np.mean(sizes)) if sizes else 0.0,
            )
        )
    mean_len = lambda groups: float(np.mean([len(g) for g in groups])) if groups else 0.0  # noqa: E731
    return SweepScore(cfg.fusion, scores, mean_len(sets), mean_len(orders), len(pairs) - len(usable))
