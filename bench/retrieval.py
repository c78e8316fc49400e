"""Retrieval speed at 10k and 100k chunks beside LangChain's EnsembleRetriever, and ingest speed.

    python bench/retrieval.py --index fb7 [--home ~/.ragq] [--ingest ../shared/data/financebench/pdfs/PEPSICO_2022_10K.pdf]

Chunks and vectors come from a real index (the seven FinanceBench 10-Ks: about 20k chunks). 10k is its first
10,000 chunks; 100k repeats its chunks five times, each copy's vectors moved by small noise and re-normalised
(the texts repeat, so BM25 postings grow as they would). Questions: qa_7docs.json. Every timing includes the
query embedding, as a job pays it. Prints a table and writes bench/results/retrieval.json.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ragq.shared.config import load_settings
from ragq.shared.corpus.bm25 import BM25, tokenize
from ragq.shared.corpus.chunking import Chunk
from ragq.shared.corpus.embedding import Embedder
from ragq.shared.corpus.index import HybridIndex, load_index
from ragq.shared.rag.retrieval import retrieve
from ragq.shared.records import RetrievalConfig

HERE = Path(__file__).resolve().parent
QA = HERE.parent.parent / "shared" / "data" / "financebench" / "qa_7docs.json"


def scaled(base: HybridIndex, size: int, rng: np.random.Generator) -> tuple[list[Chunk], np.ndarray]:
    vectors = np.stack([base.dense.reconstruct(i) for i in range(base.dense.ntotal)])
    chunks, blocks = [], []
    copy = 0
    while len(chunks) < size:
        take = min(size - len(chunks), len(base.chunks))
        noise = rng.normal(scale=0.02, size=(take, vectors.shape[1])).astype(np.float32) if copy else 0
        block = vectors[:take] + noise
        blocks.append(block / np.linalg.norm(block, axis=1, keepdims=True))
        chunks += [Chunk(f"{c.id}-{copy}", c.source, c.page, c.text) for c in base.chunks[:take]]
        copy += 1
    return chunks, np.concatenate(blocks).astype(np.float32)


def build(chunks: list[Chunk], vectors: np.ndarray) -> HybridIndex:
    import faiss

    dense = faiss.IndexFlatL2(vectors.shape[1])
    dense.add(vectors)
    return HybridIndex("bench", {}, chunks, BM25.build([tokenize(c.text) for c in chunks]), dense)


def timed(fn, queries: list[str], rounds: int) -> list[float]:
    fn(queries[0])  # warm
    out = []
    for _ in range(rounds):
        for q in queries:
            start = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - start) * 1000)
    return out


def langchain_ensemble(chunks: list[Chunk], vectors: np.ndarray, embedder: Embedder):
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings

    class Same(Embeddings):
        def embed_documents(self, texts):
            return embedder.encode(texts).tolist()

        def embed_query(self, text):
            return embedder.encode([text])[0].tolist()

    texts = [c.text for c in chunks]
    bm25 = BM25Retriever.from_texts(texts, k=5)
    store = FAISS.from_embeddings(list(zip(texts, vectors.tolist(), strict=True)), Same())
    dense = store.as_retriever(search_type="mmr", search_kwargs={"fetch_k": 3})
    return EnsembleRetriever(retrievers=[bm25, dense], weights=[0.3, 0.7])


def stats(ms: list[float]) -> dict:
    return {"p50_ms": statistics.median(ms), "p95_ms": float(np.percentile(ms, 95)), "n": len(ms)}


def bench_retrieval(
    base: HybridIndex, queries: list[str], sizes: list[int], rounds: int, embedder: Embedder | None = None
) -> list[dict]:
    embedder = embedder or Embedder.from_settings(load_settings())
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        chunks, vectors = scaled(base, size, rng)
        start = time.perf_counter()
        index = build(chunks, vectors)
        built_s = time.perf_counter() - start
        for fusion in ("seed", "rrf", "convex"):
            cfg = RetrievalConfig(fusion=fusion)
            ms = timed(
                lambda q, cfg=cfg, index=index: retrieve(cfg, index, q, embedder.encode([q])[0], 0.3), queries, rounds
            )
            rows.append({"chunks": size, "engine": f"ragq {fusion}", "index_build_s": built_s, **stats(ms)})
        start = time.perf_counter()
        ensemble = langchain_ensemble(chunks, vectors, embedder)
        built_s = time.perf_counter() - start
        ms = timed(ensemble.invoke, queries, max(1, rounds // 2))
        rows.append({"chunks": size, "engine": "LangChain EnsembleRetriever", "index_build_s": built_s, **stats(ms)})
        embed_ms = timed(lambda q: embedder.encode([q]), queries, rounds)
        rows.append({"chunks": size, "engine": "query embedding alone", "index_build_s": 0.0, **stats(embed_ms)})
    return rows


def bench_ingest(pdf: Path) -> dict:
    with tempfile.TemporaryDirectory(dir="/tmp") as home:
        env = {**os.environ, "RAGQ_HOME": home}
        cmd = [sys.executable, "-m", "ragq.producer.cli", "ingest", str(pdf), "--index", "bench", "--json"]
        start = time.perf_counter()
        out = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
        second = time.perf_counter() - start
    return {
        "document": pdf.name,
        "pages": out["sources"][0]["pages"],
        "chunks": out["chunk_count"],
        "ingest_s": first,
        "reingest_s": second,
        "reingest_unchanged": again["unchanged"],
    }


def run(ctx):
    """The `retrieval` section of `python -m bench`: the study section's document (or the demo guide), scaled."""
    from bench.common import Section, demo_files, table
    from bench.ingest import document
    from bench.study import export_once

    export_once(ctx)
    home = ctx.home("retrieval")
    pdf = document(ctx)
    subprocess.run(
        [sys.executable, "-m", "ragq.producer.cli", "ingest", str(pdf), "--index", "doc"],
        env={**os.environ, "RAGQ_HOME": str(home)},
        check=True,
        capture_output=True,
    )
    base = load_index(home / "indexes", "doc")
    if QA.exists() and not ctx.quick:
        queries = [q["question"] for q in json.loads(QA.read_text())]
    else:
        with demo_files()[1] as qa:
            queries = [line[3:] for line in qa.read_text().splitlines() if line.startswith("Q: ")]
    sizes = [1000] if ctx.quick else [10000, 100000]
    embedder = Embedder("onnx", ctx.work / "study-export" / "embedders", variant="int8")  # the default, as a job
    rows = bench_retrieval(base, queries, sizes, ctx.repeats, embedder)
    body = [[f"{r['chunks']:,}", r["engine"], f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}", f"{r['index_build_s']:.1f}"]
            for r in rows]  # fmt: skip
    text = "\n\n".join(
        [
            f"Base: {pdf.name} ({len(base.chunks):,} chunks); larger sizes repeat its chunks, each copy's vectors "
            f"moved by small noise. {len(queries)} questions x {ctx.repeats} rounds, ratio 0.3; every timing "
            "includes the query embedding (onnx, int8: the default), as a job pays it. LangChain: EnsembleRetriever over "
            "BM25Retriever(k=5) and FAISS MMR(fetch_k=3), given the same vectors.",
            table(["chunks", "engine", "p50 ms", "p95 ms", "index build s"], body),
        ]
    )
    return Section("retrieval", "Retrieval: ragq's fusion against LangChain's EnsembleRetriever", text, {"rows": rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ingest", type=Path, help="a PDF whose ingest and re-ingest to time")
    args = parser.parse_args()
    base = load_index(load_settings().indexes_dir, args.index)
    queries = [q["question"] for q in json.loads(QA.read_text())]
    rows = bench_retrieval(base, queries, [int(s) for s in args.sizes.split(",")], args.rounds)
    print(f"\nRetrieval, {len(queries)} questions x {args.rounds} rounds, ratio 0.3, query embedding included")
    print(f"{'chunks':>8} {'engine':<30} {'p50 ms':>8} {'p95 ms':>8} {'build s':>8}")
    for r in rows:
        print(f"{r['chunks']:>8} {r['engine']:<30} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['index_build_s']:>8.1f}")
    ingest = bench_ingest(args.ingest) if args.ingest else None
    if ingest:
        print(
            f"\nIngest of {ingest['document']} ({ingest['pages']} pages, {ingest['chunks']} chunks): "
            f"{ingest['ingest_s']:.1f} s; re-ingest unchanged: {ingest['reingest_s']:.2f} s"
        )
    results = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "base_index": args.index,
        "base_chunks": len(base.chunks),
        "retrieval": rows,
        "ingest": ingest,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "retrieval.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
