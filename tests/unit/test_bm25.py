"""Our BM25 against the reference implementation LangChain's BM25Retriever uses (rank_bm25)."""

import random

import numpy as np
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
