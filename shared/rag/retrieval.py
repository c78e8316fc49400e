"""Retrieval over a hybrid index. `seed` reproduces the study: LangChain's EnsembleRetriever over
BM25Retriever(k=5) and FAISS MMR(k=4, fetch_k=3), weights [r, 1-r], c=60, union of both lists."""

from dataclasses import dataclass

import numpy as np

from ragq.shared.corpus.bm25 import tokenize
from ragq.shared.errors import UsageError
from ragq.shared.records import FUSION_MODES, SEED, SEED_LAMBDA_MULT, RetrievalConfig
from ragq.shared.registry import lookup


@dataclass(frozen=True)
class Retrieved:
    position: int  # row of the chunk in the index
    score: float  # fused score


def weighted_rrf(rankings: list[list[int]], weights: list[float], c: int) -> list[Retrieved]:
    """Weighted Reciprocal Rank Fusion: score(d) = sum_i w_i / (rank_i(d) + c), rank from 1.

    Like EnsembleRetriever: the union of all lists, first occurrences in list order, stably sorted.
    """
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (rank + c)
    union = list(dict.fromkeys(doc for ranking in rankings for doc in ranking))
    return [Retrieved(doc, scores[doc]) for doc in sorted(union, key=lambda d: scores[d], reverse=True)]


def mmr(query: np.ndarray, candidates: np.ndarray, k: int, lambda_mult: float) -> list[int]:
    """Maximal marginal relevance over candidate vectors, as langchain_community's FAISS computes it."""
    if min(k, len(candidates)) <= 0:
        return []
    unit = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    to_query = unit @ (query / np.linalg.norm(query))
    chosen = [int(np.argmax(to_query))]
    while len(chosen) < min(k, len(candidates)):
        redundancy = (unit @ unit[chosen].T).max(axis=1)
        gain = lambda_mult * to_query - (1 - lambda_mult) * redundancy
        gain[chosen] = -np.inf
        chosen.append(int(np.argmax(gain)))
    return chosen


def dense_mmr(index, query_vec: np.ndarray, *, k: int, fetch_k: int, lambda_mult: float) -> list[int]:
    """FAISS L2 search for fetch_k candidates, then MMR picks k of them (fewer if fetch_k < k)."""
    found = dense_top(index, query_vec, fetch_k)
    vectors = np.stack([index.dense.reconstruct(i) for i in found]) if found else np.zeros((0, query_vec.size))
    return [found[i] for i in mmr(query_vec, vectors, k, lambda_mult)]


def seed(index, question: str, query_vec: np.ndarray, ratio: float, cfg: RetrievalConfig) -> list[Retrieved]:
    """The study's retrieval; `ratio` is the BM25 weight. The union of both lists, no cut."""
    lexical = index.bm25.top_n(tokenize(question), SEED["bm25_k"])
    dense = dense_mmr(index, query_vec, k=SEED["mmr_k"], fetch_k=SEED["fetch_k"], lambda_mult=SEED_LAMBDA_MULT)
    return weighted_rrf([lexical, dense], [ratio, 1 - ratio], cfg.c)


def dense_top(index, query_vec: np.ndarray, n: int) -> list[int]:
    """The n chunks nearest the query (FAISS, L2), nearest first; fewer where the index holds fewer (FAISS pads its
    answer with -1)."""
    _, found = index.dense.search(query_vec.reshape(1, -1), n)
    return [int(i) for i in found[0] if i != -1]


def rrf(index, question: str, query_vec: np.ndarray, ratio: float, cfg: RetrievalConfig) -> list[Retrieved]:
    """N candidates from each retriever, weighted RRF, the fused top K."""
    lexical = index.bm25.top_n(tokenize(question), cfg.candidates)
    dense = dense_top(index, query_vec, cfg.candidates)
    return weighted_rrf([lexical, dense], [ratio, 1 - ratio], cfg.c)[: cfg.k]


def _minmax(values: np.ndarray) -> np.ndarray:
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else np.ones_like(values)


def convex(index, question: str, query_vec: np.ndarray, ratio: float, cfg: RetrievalConfig) -> list[Retrieved]:
    """ratio * bm25 + (1 - ratio) * cosine, each min-max normalised over the candidates of both retrievers
    (the convex combination Bruch, Gai & Ingber, TOIS 2023, found stronger than RRF when tuned)."""
    bm25_all = index.bm25.scores(tokenize(question))
    lexical = [int(i) for i in np.argsort(bm25_all)[::-1][: cfg.candidates]]
    dense = dense_top(index, query_vec, cfg.candidates)
    pool = list(dict.fromkeys(lexical + dense))
    vectors = np.stack([index.dense.reconstruct(i) for i in pool])
    fused = ratio * _minmax(bm25_all[pool]) + (1 - ratio) * _minmax(vectors @ query_vec)
    order = np.argsort(-fused, kind="stable")[: cfg.k]
    return [Retrieved(pool[i], float(fused[i])) for i in order]


FUSIONS = {"seed": seed, "rrf": rrf, "convex": convex}


def retrieve(cfg: RetrievalConfig, index, question: str, query_vec: np.ndarray, ratio: float) -> list[Retrieved]:
    check_ratio(ratio)
    return FUSIONS[cfg.fusion](index, question, query_vec, ratio, cfg)


def check_retrieval(cfg: RetrievalConfig) -> RetrievalConfig:
    """Retrieval options as a user gave them, or one line naming the one that is wrong."""
    lookup("fusion mode", cfg.fusion, dict.fromkeys(FUSION_MODES))
    for name in ("k", "candidates", "c"):
        if getattr(cfg, name) < 1:
            raise UsageError(f"--{name} {getattr(cfg, name)}: give a whole number of 1 or more.")
    if cfg.candidates < cfg.k:
        raise UsageError(
            f"--candidates {cfg.candidates} is below --k {cfg.k}: each retriever must propose at least k chunks."
        )
    return cfg


def check_ratio(ratio: float) -> float:
    if not 0.0 <= ratio <= 1.0:
        raise UsageError(f"ratio {ratio} is outside [0, 1]: it is the BM25 weight, e.g. --ratio 0.3.")
    return ratio
