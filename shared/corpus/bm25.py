"""BM25Okapi with the same scores as rank_bm25 (what LangChain's BM25Retriever uses), stored without pickle.

Postings are kept per term, so a query touches only the documents that hold its tokens.
"""

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np


def tokenize(text: str) -> list[str]:
    """LangChain's BM25Retriever default: str.split(), no lowercasing."""
    return text.split()


class BM25:
    def __init__(self, vocab: dict[str, int], offsets, doc_ids, tfs, doc_len, idf, k1: float, b: float):
        self.vocab, self.offsets, self.doc_ids, self.tfs = vocab, offsets, doc_ids, tfs
        self.doc_len, self.idf, self.k1, self.b = doc_len, idf, k1, b
        self.avgdl = float(doc_len.sum()) / len(doc_len) if len(doc_len) else 0.0
        self._norm = k1 * (1 - b + b * doc_len / self.avgdl) if self.avgdl else doc_len

    @classmethod
    def build(cls, corpus: list[list[str]], k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> "BM25":
        counts = [Counter(doc) for doc in corpus]
        postings: dict[str, list[tuple[int, int]]] = {}
        for doc_id, counter in enumerate(counts):
            for term, tf in counter.items():
                postings.setdefault(term, []).append((doc_id, tf))
        vocab = {term: i for i, term in enumerate(postings)}
        n = len(corpus)
        idf = np.array([math.log(n - len(p) + 0.5) - math.log(len(p) + 0.5) for p in postings.values()])
        if len(idf):  # rank_bm25 floors negative idf at epsilon * mean idf
            idf[idf < 0] = epsilon * (sum(idf.tolist()) / len(idf))
        sizes = np.array([len(p) for p in postings.values()], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        flat = [pair for p in postings.values() for pair in p]
        doc_ids = np.array([d for d, _ in flat], dtype=np.int64)
        tfs = np.array([t for _, t in flat], dtype=np.float64)
        doc_len = np.array([len(doc) for doc in corpus], dtype=np.float64)
        return cls(vocab, offsets, doc_ids, tfs, doc_len, idf, k1, b)

    def scores(self, query: list[str]) -> np.ndarray:
        """rank_bm25's get_scores: each query token (repeats count) adds idf * tf(k1+1)/(tf + norm)."""
        out = np.zeros(len(self.doc_len))
        for token in query:
            term = self.vocab.get(token)
            if term is None:
                continue
            lo, hi = self.offsets[term], self.offsets[term + 1]
            ids, tf = self.doc_ids[lo:hi], self.tfs[lo:hi]
            out[ids] += self.idf[term] * (tf * (self.k1 + 1) / (tf + self._norm[ids]))
        return out

    def top_n(self, query: list[str], n: int) -> list[int]:
        """The same order as rank_bm25's get_top_n (argsort, reversed), ties included."""
        return [int(i) for i in np.argsort(self.scores(query))[::-1][:n]]

    def save(self, folder: Path) -> None:
        np.savez(
            folder / "bm25.npz",
            offsets=self.offsets,
            doc_ids=self.doc_ids,
            tfs=self.tfs,
            doc_len=self.doc_len,
            idf=self.idf,
            params=np.array([self.k1, self.b]),
        )
        (folder / "bm25_vocab.json").write_text(json.dumps(list(self.vocab)))

    @classmethod
    def load(cls, folder: Path) -> "BM25":
        with np.load(folder / "bm25.npz", allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        terms = json.loads((folder / "bm25_vocab.json").read_text())
        k1, b = arrays.pop("params")
        return cls({t: i for i, t in enumerate(terms)}, k1=float(k1), b=float(b), **arrays)
