"""Retrieval over a hybrid index. `seed` reproduces the study: LangChain's EnsembleRetriever over
BM25Retriever(k=5) and FAISS MMR(k=4, fetch_k=3), weights [r, 1-r], c=60, union of both lists."""

from dataclasses import dataclass

import numpy as np

from ragq.shared.errors import UsageError
from ragq.shared.rag.bm25 import tokenize
from ragq.shared.registry import lookup


@dataclass(frozen=True)
class Retrieved:
    position: int  # row of the chunk in the index
    score: float  # fused score


def weighted_rrf(rankings: list[list[int]], weights: list[float], c: int = 60) -> list[Retrieved]:
    """Weighted Reciprocal Rank Fusion: score(d) = sum_i w_i / (rank_i(d) + c), rank from 1.

    Like EnsembleRetriever: the union of all lists, first occurrences in list order, stably sorted.
    """
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (rank + c)
    union = list(dict.fromkeys(doc for ranking in rankings for doc in ranking))
    return [Retrieved(doc, scores[doc]) for doc in sorted(union, key=lambda d: scores[d], reverse=True)]


def mmr(query: np.ndarray, candidates: np.ndarray, k: int, lambda_mult: float = 0.5) -> list[int]:
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


def dense_mmr(index, query_vec: np.ndarray, k: int = 4, fetch_k: int = 3, lambda_mult: float = 0.5) -> list[int]:
    """FAISS L2 search for fetch_k candidates, then MMR picks k of them (fewer if fetch_k < k)."""
    _, found = index.dense.search(query_vec.reshape(1, -1), fetch_k)
    found = [int(i) for i in found[0] if i != -1]
    vectors = np.stack([index.dense.reconstruct(i) for i in found]) if found else np.zeros((0, query_vec.size))
    return [found[i] for i in mmr(query_vec, vectors, k, lambda_mult)]


SEED = {"bm25_k": 5, "mmr_k": 4, "fetch_k": 3, "lambda_mult": 0.5, "c": 60}


def seed(index, question: str, query_vec: np.ndarray, ratio: float) -> list[Retrieved]:
    """The study's retrieval; `ratio` is the BM25 weight."""
    lexical = index.bm25.top_n(tokenize(question), SEED["bm25_k"])
    dense = dense_mmr(index, query_vec, k=SEED["mmr_k"], fetch_k=SEED["fetch_k"], lambda_mult=SEED["lambda_mult"])
    return weighted_rrf([lexical, dense], [ratio, 1 - ratio], SEED["c"])


def config(fusion: str, ratio: float) -> dict:
    """The retrieval settings a result was made with, for its provenance."""
    return {"fusion": fusion, "ratio": ratio, **SEED}


FUSIONS = {"seed": seed}


def retrieve(fusion: str, index, question: str, query_vec: np.ndarray, ratio: float) -> list[Retrieved]:
    check_ratio(ratio)
    return lookup("fusion mode", fusion, FUSIONS)(index, question, query_vec, ratio)


def check_ratio(ratio: float) -> float:
    if not 0.0 <= ratio <= 1.0:
        raise UsageError(f"ratio {ratio} is outside [0, 1]: it is the BM25 weight, e.g. --ratio 0.3.")
    return ratio
