"""rrf and convex fusion, their settings, and the no-LLM retrieval evaluation."""

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from ragq.producer.retrieval import evaluate
from ragq.shared.corpus.bm25 import tokenize
from ragq.shared.errors import UnknownNameError, UsageError
from ragq.shared.metrics.evidence import evidence_rank
from ragq.shared.rag.retrieval import _minmax, check_retrieval, retrieve
from ragq.shared.records import QAPair, RetrievalConfig

Q = "What happens when the fan of the appliance fails?"


@pytest.fixture(scope="module")
def qvec(embedder):
    return embedder.encode([Q])[0]


def oracle_lexical(index) -> np.ndarray:
    """BM25 scores of every chunk from rank_bm25 (the library LangChain's BM25Retriever uses), not ragq's BM25."""
    return BM25Okapi([tokenize(chunk.text) for chunk in index.chunks]).get_scores(tokenize(Q))


def oracle_cosine(index, qvec) -> np.ndarray:
    """Cosine of every chunk's vector with the question's, by numpy over the stored vectors (not FAISS's search)."""
    vectors = np.stack([index.dense.reconstruct(i) for i in range(len(index.chunks))])
    return vectors @ qvec / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(qvec))


def by_hand_minmax(values: np.ndarray) -> np.ndarray:
    return (values - values.min()) / (values.max() - values.min())


def test_rrf_at_the_ends_of_the_ratio_is_one_retriever(demo_index, qvec):
    cfg = RetrievalConfig(fusion="rrf", k=3, candidates=5)
    lexical = list(np.argsort(-oracle_lexical(demo_index), kind="stable")[:3])
    dense = list(np.argsort(-oracle_cosine(demo_index, qvec), kind="stable")[:3])
    assert [h.position for h in retrieve(cfg, demo_index, Q, qvec, 1.0)] == lexical
    assert [h.position for h in retrieve(cfg, demo_index, Q, qvec, 0.0)] == dense
    assert len(retrieve(cfg, demo_index, Q, qvec, 0.5)) == 3


def test_convex_combines_normalised_scores(demo_index, qvec):
    cfg = RetrievalConfig(fusion="convex", k=8, candidates=8)  # the demo index has 8 chunks: every chunk is a candidate
    assert len(demo_index.chunks) == 8
    bm25 = by_hand_minmax(oracle_lexical(demo_index))
    cosine = by_hand_minmax(oracle_cosine(demo_index, qvec))
    for ratio in (0.0, 0.3, 1.0):
        expected = ratio * bm25 + (1 - ratio) * cosine
        hits = retrieve(cfg, demo_index, Q, qvec, ratio)
        assert [h.score for h in hits] == pytest.approx(sorted(expected, reverse=True), abs=1e-5)
        assert [h.position for h in hits] == list(np.argsort(-expected, kind="stable"))
    assert _minmax(np.array([2.0, 2.0])).tolist() == [1.0, 1.0]


def test_convex_normalises_over_its_candidates_alone(demo_index, qvec):
    """Fewer candidates than chunks: the pool is each retriever's top 3 (rank_bm25, numpy), min-max over the pool."""
    cfg = RetrievalConfig(fusion="convex", k=3, candidates=3)
    lexical, cosine = oracle_lexical(demo_index), oracle_cosine(demo_index, qvec)
    top3 = [*np.argsort(-lexical, kind="stable")[:3], *np.argsort(-cosine, kind="stable")[:3]]
    pool = [int(i) for i in dict.fromkeys(top3)]
    assert 3 < len(pool) < len(demo_index.chunks) and len(set(lexical[pool])) == len(pool)  # no ties to order
    for ratio in (0.3, 1.0):
        fused = ratio * by_hand_minmax(lexical[pool]) + (1 - ratio) * by_hand_minmax(cosine[pool])
        hits = retrieve(cfg, demo_index, Q, qvec, ratio)
        assert [h.position for h in hits] == [pool[i] for i in np.argsort(-fused, kind="stable")[:3]]
        assert [h.score for h in hits] == pytest.approx(sorted(fused, reverse=True)[:3], abs=1e-5)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"fusion": "rff"}, "Did you mean 'rrf'"),
        ({"fusion": "rrf", "k": 0}, "--k 0"),
        ({"fusion": "rrf", "k": 5, "candidates": 3}, "below --k"),
        ({"fusion": "convex", "c": 0}, "--c 0"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises((UsageError, UnknownNameError), match=message):
        check_retrieval(RetrievalConfig(**kwargs))


def test_evidence_rank():
    class C:
        def __init__(self, source, page):
            self.source, self.page = source, page

    chunks = [C("a.pdf", 3), C("b.pdf", 5), C("a.pdf", 5)]
    assert evidence_rank(chunks, [5], None) == 2
    assert evidence_rank(chunks, [5], "a.pdf") == 3  # a multi-document index: the page of the right document
    assert evidence_rank(chunks, [9], None) == 0
    assert evidence_rank(chunks, None, None) is None


def test_sweep_evaluation(demo_index, embedder):
    pairs = [
        QAPair("What happens when the fan of the appliance fails?", "amber", [0]),
        QAPair("How do you reset the Relay 400 to factory defaults?", "button", [3]),
        QAPair("No evidence here?", "x"),
    ]
    vectors = embedder.encode([p.question for p in pairs])
    seed = evaluate(demo_index, pairs, vectors, [0.0, 0.5, 1.0], RetrievalConfig())
    assert seed.skipped == 1 and [r.questions for r in seed.ratios] == [2, 2, 2]
    assert all(r.hit_at_k == 1.0 for r in seed.ratios)  # 5-8 chunks of an 8-chunk guide always hold the page
    assert seed.distinct_sets == 1.0  # the study's union: the ratio only re-orders the same chunks
    narrow = evaluate(demo_index, pairs, vectors, [0.0, 1.0], RetrievalConfig(fusion="rrf", k=1, candidates=4))
    assert all(0.0 <= r.mrr <= r.hit_at_k <= 1.0 for r in narrow.ratios) and narrow.ratios[0].mean_chunks == 1
