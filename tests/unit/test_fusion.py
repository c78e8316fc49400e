"""Seed retrieval against LangChain's EnsembleRetriever(BM25Retriever k=5, FAISS MMR fetch_k=3) on the same inputs."""

import numpy as np
import pytest
from langchain_classic.retrievers import EnsembleRetriever
from langchain_community.retrievers import BM25Retriever
from langchain_community.vectorstores import FAISS
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from ragq.shared.errors import UsageError
from ragq.shared.rag.retrieval import check_ratio, dense_mmr, dense_top, mmr, seed, weighted_rrf
from ragq.shared.records import RetrievalConfig

QUESTIONS = [
    "How many Ethernet ports does the Northwind Relay 400 have?",
    "What is the default administrator password?",
    "Since which RelayOS version does auto-discovery work for IPv6 networks?",
    "What happens when the fan fails?",
    "How do you reset the appliance to factory defaults?",
    "Which port does the web interface listen on?",
]


class SameVectors(Embeddings):
    """Gives LangChain exactly the vectors ragq uses, so only the retrieval logic is compared."""

    def __init__(self, embedder):
        self.embedder = embedder

    def embed_documents(self, texts):
        return self.embedder.encode(texts).tolist()

    def embed_query(self, text):
        return self.embedder.encode([text])[0].tolist()


@pytest.fixture(scope="module")
def langchain_parts(demo_index, embedder):
    docs = [Document(page_content=c.text, metadata={"id": c.id}) for c in demo_index.chunks]
    bm25 = BM25Retriever.from_documents(docs, k=5)
    vectors = [demo_index.dense.reconstruct(i).tolist() for i in range(demo_index.dense.ntotal)]
    store = FAISS.from_embeddings(
        list(zip([d.page_content for d in docs], vectors, strict=True)),
        SameVectors(embedder),
        metadatas=[d.metadata for d in docs],
    )
    return bm25, store.as_retriever(search_type="mmr", search_kwargs={"fetch_k": 3})


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.49, 0.5, 0.7, 1.0])
def test_seed_order_matches_ensemble_retriever(demo_index, embedder, langchain_parts, ratio):
    bm25, dense = langchain_parts
    ensemble = EnsembleRetriever(retrievers=[bm25, dense], weights=[ratio, 1 - ratio], id_key="id")
    for question in QUESTIONS:
        expected = [d.metadata["id"] for d in ensemble.invoke(question)]
        ours = [
            demo_index.chunks[h.position].id
            for h in seed(demo_index, question, embedder.encode([question])[0], ratio, RetrievalConfig())
        ]
        assert ours == expected, question


def test_rrf_formula_and_union():
    fused = weighted_rrf([[1, 2, 3], [3, 4]], [0.3, 0.7], c=60)
    scores = {r.position: r.score for r in fused}
    assert scores[3] == pytest.approx(0.3 / 63 + 0.7 / 61)
    assert scores[4] == pytest.approx(0.7 / 62)
    assert [r.position for r in fused] == [3, 4, 1, 2]
    with pytest.raises(ValueError):  # a weight per ranking, no fewer
        weighted_rrf([[1, 2], [3]], [1.0], c=60)
    with pytest.raises(AttributeError):  # a fused hit is a value
        fused[0].score = 1.0  # type: ignore[misc]


def test_mmr_returns_fewer_when_fetch_k_is_smaller():
    rng = np.random.default_rng(0)
    candidates = rng.normal(size=(3, 8)).astype(np.float32)
    assert sorted(mmr(rng.normal(size=8), candidates, k=4, lambda_mult=0.5)) == [0, 1, 2]


@pytest.mark.parametrize("lambda_mult", [0.3, 0.5, 0.8])
def test_mmr_is_langchains_on_vectors_of_any_length(lambda_mult):
    """Oracle: langchain_community's maximal_marginal_relevance (what FAISS.max_marginal_relevance_search calls),
    on vectors that are not unit length and a lambda other than the study's 0.5."""
    from langchain_community.vectorstores.utils import maximal_marginal_relevance

    rng = np.random.default_rng(7)
    for k in (-1, 0, 1, 3, 6, 12):
        query, candidates = rng.normal(size=16), rng.normal(size=(9, 16)) * rng.uniform(0.2, 5.0, (9, 1))
        want = maximal_marginal_relevance(query, list(candidates), lambda_mult=lambda_mult, k=k)
        assert mmr(query, candidates, k, lambda_mult) == want
    assert mmr(query, candidates[:0], 4, lambda_mult) == [] == maximal_marginal_relevance(query, [], lambda_mult, 4)


def test_dense_search_leaves_out_faiss_padding():
    """An index holding fewer chunks than asked for: FAISS pads with -1, which must never come back as a chunk."""
    from types import SimpleNamespace

    import faiss

    vectors = np.eye(4, dtype=np.float32)[:2]  # two chunks
    index = SimpleNamespace(dense=faiss.IndexFlatL2(4))
    index.dense.add(vectors)
    query = np.array([0.9, 0.1, 0.0, 0.0], dtype=np.float32)
    assert dense_top(index, query, 5) == [0, 1]
    assert dense_mmr(index, query, k=4, fetch_k=3, lambda_mult=0.5) == [0, 1]
    empty = SimpleNamespace(dense=faiss.IndexFlatL2(4))
    assert dense_top(empty, query, 3) == [] and dense_mmr(empty, query, k=4, fetch_k=3, lambda_mult=0.5) == []


@pytest.mark.parametrize("ratio", [-0.1, -1e-9, 1.0000001, 2.0, float("nan")])
def test_a_ratio_outside_zero_to_one_is_refused(ratio):
    with pytest.raises(UsageError, match="outside \\[0, 1\\]"):
        check_ratio(ratio)


def test_the_ends_of_the_ratio_are_accepted():
    assert [check_ratio(r) for r in (0.0, 0.3, 1.0)] == [0.0, 0.3, 1.0]
