"""Our BM25 against the reference implementation LangChain's BM25Retriever uses (rank_bm25)."""

import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from ragq.shared.corpus.bm25 import BM25, tokenize

WORDS = "the a port wan lan relay appliance path peering rule fan reset backup ssh https 8443 admin".split()


def random_corpus(seed: int, docs: int = 80) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(WORDS) for _ in range(rng.randint(1, 40))] for _ in range(docs)]


def test_scores_match_rank_bm25_exactly():
    for seed in range(5):
        corpus = random_corpus(seed)
        ours, ref = BM25.build(corpus), BM25Okapi(corpus)
        for query in (["port", "wan"], ["the", "the", "fan"], ["missing"], ["relay", "admin", "8443"]):
            np.testing.assert_array_equal(ours.scores(query), ref.get_scores(query))
            assert ours.top_n(query, 5) == list(np.argsort(ref.get_scores(query))[::-1][:5])


def test_save_load_roundtrip_without_pickle(tmp_path):
    corpus = random_corpus(7)
    BM25.build(corpus).save(tmp_path)
    loaded = BM25.load(tmp_path)
    np.testing.assert_array_equal(loaded.scores(["port", "fan"]), BM25Okapi(corpus).get_scores(["port", "fan"]))


def test_tokenize_is_langchain_default():
    assert tokenize("Port  8443\nHTTPS") == ["Port", "8443", "HTTPS"]


def test_rare_half_and_common_terms_and_other_parameters_match_rank_bm25():
    """Document frequencies from 2 of 80 documents to all of them, one in exactly half (idf 0, not floored), with
    rank_bm25's defaults and with other k1, b and epsilon; an unknown token before known ones is skipped, not the end."""
    rng = random.Random(11)
    corpus = [[rng.choice(WORDS) for _ in range(rng.randint(1, 30))] for _ in range(80)]
    for doc, words in enumerate(corpus):
        words += ["rare"] * (doc % 40 == 0) + ["half"] * (doc % 2) + ["often"] * (doc % 5 != 0)
    assert sum("half" in d for d in corpus) == 40 and sum("rare" in d for d in corpus) == 2
    queries = (["rare"], ["half", "port"], ["often", "rare", "the"], ["missing", "port", "fan"])
    for params in ({}, {"k1": 1.2, "b": 0.5, "epsilon": 0.1}, {"k1": 2.0, "b": 0.9, "epsilon": 0.5}):
        ours, ref = BM25.build(corpus, **params), BM25Okapi(corpus, **params)
        np.testing.assert_array_equal(ours.idf[ours.vocab["half"]], ref.idf["half"])
        for query in queries:
            np.testing.assert_allclose(ours.scores(query), ref.get_scores(query), rtol=1e-12)


def test_an_index_with_pickled_arrays_is_refused(tmp_path):
    """bm25.npz is read without pickle: an object array (which unpickles, and so could run code) is refused."""
    BM25.build(random_corpus(3)).save(tmp_path)
    with np.load(tmp_path / "bm25.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["idf"] = np.array([{"not": "numbers"}], dtype=object)
    np.savez(tmp_path / "bm25.npz", **arrays)
    with pytest.raises(ValueError, match="pickle"):
        BM25.load(tmp_path)


def test_an_empty_corpus_scores_nothing():
    empty = BM25.build([])
    assert empty.scores(["port"]).tolist() == [] and empty.top_n(["port"], 3) == []
