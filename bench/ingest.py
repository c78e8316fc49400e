"""Ingest: pages and chunks per second, where the time goes, and an unchanged re-ingest.

`ragq ingest` of one document into a fresh home, as a user runs it (wall time of the command, the embedder's
one-time ONNX export already in place), then again with nothing changed. The breakdown repeats each step in this
process: reading the PDF (pypdf), splitting it into chunks, embedding them with each runtime (the same vectors:
onnx, the default, and torch, sentence-transformers), building BM25 and FAISS and writing the index."""

import tempfile
import time
from pathlib import Path

from bench.common import FINANCEBENCH, Context, Section, demo_files, fmt, ragq, spread, table
from bench.study import DOCUMENT, export_once, fresh_home

STEPS = ["read", "split", "embed onnx", "embed torch", "write"]


def document(ctx: Context) -> Path:
    pdf = FINANCEBENCH / "pdfs" / DOCUMENT
    if not ctx.quick and pdf.exists():
        return pdf
    pdf_file, _ = demo_files()
    with pdf_file as demo:
        copy = ctx.home("ingest-input") / "guide.pdf"
        copy.write_bytes(demo.read_bytes())
    return copy


def steps(pdf: Path, cache: Path) -> dict:
    from ragq.shared.corpus import index as idx
    from ragq.shared.corpus.chunking import split_pages
    from ragq.shared.corpus.documents import load_document
    from ragq.shared.corpus.embedding import Embedder
    from ragq.shared.hashing import sha256_file

    out = {}
    start = time.perf_counter()
    pages = load_document(pdf)
    out["read"] = time.perf_counter() - start
    start = time.perf_counter()
    chunks = split_pages(pages, sha256_file(pdf))
    out["split"] = time.perf_counter() - start
    texts = [c.text for c in chunks]
    for runtime in ("onnx", "torch"):
        embedder = Embedder(runtime, cache)
        embedder.encode(["load"])
        start = time.perf_counter()
        vectors = [embedder.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]  # as idx.build does
        out[f"embed {runtime}"] = time.perf_counter() - start
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        idx.save(Path(folder) / "x", {"name": "x"}, chunks, np.concatenate(vectors))
        out["write"] = time.perf_counter() - start
    return {"pages": len(pages), "chunks": len(chunks), **out}


def run(ctx: Context) -> Section:
    pdf = document(ctx)
    export_once(ctx)
    cache = ctx.work / "study-export" / "embedders"
    walls, again, parts = [], [], []
    for i in range(ctx.repeats):
        home = fresh_home(ctx, f"ingest-{i}")
        start = time.perf_counter()
        ragq(home, "ingest", str(pdf), "--index", "doc")
        walls.append(time.perf_counter() - start)
        start = time.perf_counter()
        ragq(home, "ingest", str(pdf), "--index", "doc")
        again.append(time.perf_counter() - start)
        parts.append(steps(pdf, cache))
    pages, chunks = parts[0]["pages"], parts[0]["chunks"]
    wall = spread(walls)
    rows = [[pdf.name, pages, chunks, fmt(wall), f"{pages / wall['median']:.1f}", f"{chunks / wall['median']:.1f}",
             fmt(spread(again), 2)]]  # fmt: skip
    step_rows = [[s, fmt(spread([p[s] for p in parts]), 2), f"{chunks / spread([p[s] for p in parts])['median']:.0f}"]
                 for s in STEPS]  # fmt: skip
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            f"Seconds, median (min-max) over {ctx.repeats} ingests.",
            table(["document", "pages", "chunks", "ingest s", "pages/s", "chunks/s", "unchanged re-ingest s"], rows),
            table(["step", "seconds", "chunks/s"], step_rows),
        ]
    )
    return Section(
        "ingest",
        "Ingest: pages/s, chunks/s, where the time goes",
        text,
        {"walls": walls, "again": again, "steps": parts},
    )
