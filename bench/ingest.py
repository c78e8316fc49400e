"""Ingest: pages and chunks per second, where the time goes, batches and threads, against the study's index build.

`ragq ingest` into a fresh home, as a user runs it (wall time of the command; the embedder's one-time ONNX export
and int8 quantization already in place, as after the first use), in three ways in turn: the default (PDFium pages
streamed to the int8 embedder), PDFium with the fp32 embedder (RAGQ_EMBEDDER=fp32: the exact model), and pypdf with
the fp32 embedder (RAGQ_PDF_READER=pypdf: the study's reader; its pages come whole, read by a process per core, then
embedded); then
each again with nothing changed. The study's index build is its script's own (bench/seed_script.py --index-only: PyPDFLoader, the
splitter, sentence-transformers on torch into FAISS, BM25), timed the same way. The breakdown repeats each step in
one process: reading (pypdf, PDFium), splitting, embedding (fp32, int8), writing, and the whole streamed build with
each variant; the grid embeds the same chunks at each batch size and thread layout."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import FINANCEBENCH, HERE, Context, Section, demo_files, env_for, fmt, ragq, spread, table
from bench.study import DOCUMENT, export_once, fresh_home

WAYS = {
    "default (pdfium, int8)": {},
    "pdfium, fp32": {"RAGQ_EMBEDDER": "fp32"},
    "pypdf, fp32": {"RAGQ_PDF_READER": "pypdf", "RAGQ_EMBEDDER": "fp32"},
}
STEPS = [
    "read pypdf",
    "read pdfium",
    "split",
    "embed fp32",
    "embed int8",
    "write",
    "streamed build fp32",
    "streamed build int8",
]
GRID_CHUNKS = 640
BATCHES = (1, 2, 4, 8, 32)


def inputs(ctx: Context) -> list[tuple[str, list[Path]]]:
    pdf = FINANCEBENCH / "pdfs" / DOCUMENT
    if ctx.quick or not pdf.exists():
        pdf_file, _ = demo_files()
        with pdf_file as demo:
            copy = ctx.home("ingest-input") / "guide.pdf"
            copy.write_bytes(demo.read_bytes())
        return [("guide.pdf", [copy])]
    return [(DOCUMENT, [pdf]), ("8 FinanceBench PDFs", sorted((FINANCEBENCH / "pdfs").glob("*.pdf")))]


def document(ctx: Context) -> Path:
    """The one document other sections measure on (bench/retrieval.py): BOEING's 10-K, the demo guide in --quick."""
    return inputs(ctx)[0][1][0]


def ingest_wall(ctx: Context, name: str, paths: list[Path], env: dict) -> dict:
    home = fresh_home(ctx, name)
    start = time.perf_counter()
    out = json.loads(ragq(home, "ingest", *map(str, paths), "--index", "doc", "--json", env=env_for(home, **env)))
    wall = time.perf_counter() - start
    pages = sum(s["pages"] for s in out["sources"])
    start = time.perf_counter()
    ragq(home, "ingest", *map(str, paths), "--index", "doc", env=env_for(home, **env))
    return {"wall_s": wall, "again_s": time.perf_counter() - start, "pages": pages, "chunks": out["chunk_count"]}


def study_build(pdf: Path) -> float:
    script = HERE / "seed_script.py"
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(script), "--pdf", str(pdf), "--index-only"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    json.loads(out.stdout.strip().splitlines()[-1])
    return time.perf_counter() - start


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def steps(paths: list[Path], cache: Path) -> dict:
    import numpy as np

    from ragq.shared.corpus import index as idx
    from ragq.shared.corpus.chunking import split_pages
    from ragq.shared.corpus.documents import load_document
    from ragq.shared.corpus.embedding import Embedder
    from ragq.shared.hashing import sha256_file

    out: dict = {}
    out["read pypdf"], _ = timed(lambda: [load_document(p, "pypdf") for p in paths])
    out["read pdfium"], docs = timed(lambda: [load_document(p, "pdfium") for p in paths])
    out["split"], chunks = timed(
        lambda: [c for p, d in zip(paths, docs, strict=True) for c in split_pages(d, sha256_file(p))]
    )
    texts = [c.text for c in chunks]
    from ragq.producer.ingest.pipeline import ingest_streams

    streams = ingest_streams()  # as an ingest embeds
    embedders = {v: Embedder("onnx", cache, variant=v, streams=streams) for v in ("fp32", "int8")}
    for variant, embedder in embedders.items():
        embedder.encode(["load"])
        out[f"embed {variant}"], vectors = timed(
            lambda e=embedder: np.concatenate(
                [e.encode(texts[i : i + idx.BATCH]) for i in range(0, len(texts), idx.BATCH)]
            )
        )
    with tempfile.TemporaryDirectory() as folder:
        out["write"], _ = timed(lambda: idx.save(Path(folder) / "x", {"name": "x"}, chunks, vectors))
    sources = idx.describe_sources(paths)
    for variant, embedder in embedders.items():
        out[f"streamed build {variant}"], _ = timed(lambda e=embedder: idx.build("x", sources, e, lambda *a: None))
    return {"pages": sum(len(d) for d in docs), "chunks": len(chunks), **out, "texts": texts[:GRID_CHUNKS]}


# (label, ONNX Runtime threads per call, calls at once)
LAYOUTS = [("1 call, 2 threads", 2, 1), ("2 calls at once, 1 thread each", 1, 2)]


def grid(texts: list[str], cache: Path) -> list[dict]:
    """chunks/s of each variant at each batch size (texts per ONNX Runtime call, within the build's windows of 64
    chunks) and thread layout, on the same chunks."""
    from ragq.shared.corpus.embedding import Embedder

    rows = []
    for variant in ("fp32", "int8"):
        for label, threads, streams in LAYOUTS:
            embedder = Embedder("onnx", cache, threads=threads, variant=variant, streams=streams)
            embedder.encode(["load"])
            for batch in BATCHES:
                seconds, _ = timed(
                    lambda e=embedder, b=batch: [e.encode(texts[i : i + 64], b) for i in range(0, len(texts), 64)]
                )
                rows.append({"variant": variant, "layout": label, "batch": batch, "chunks_per_s": len(texts) / seconds})
    return rows


def measure(ctx: Context, label: str, paths: list[Path], cache: Path) -> dict:
    quick_big = label.startswith("8 ")  # the eight PDFs: one ingest each way but pypdf's, one breakdown
    repeats = 1 if quick_big else ctx.repeats
    walls: dict[str, list[dict]] = {way: [] for way in WAYS}
    for i in range(repeats):
        for way, env in WAYS.items():
            if (quick_big and way == "pypdf, fp32") or (ctx.quick and way == "pdfium, fp32"):
                continue  # the fp32 way left out of --quick: tests/unit/test_fast_ingest.py ingests with it
            walls[way].append(ingest_wall(ctx, f"ingest-{len(paths)}-{i}", paths, env))
    study = [study_build(paths[0]) for _ in range(repeats)] if len(paths) == 1 else []
    parts = [steps(paths, cache) for _ in range(1 if quick_big else repeats)]
    return {"label": label, "walls": walls, "study_s": study, "steps": parts}


def wall_rows(found: dict) -> list[list]:
    rows = []
    for way, runs in found["walls"].items():
        if not runs:
            continue
        wall = spread([r["wall_s"] for r in runs])
        pages, chunks = runs[0]["pages"], runs[0]["chunks"]
        rows.append([found["label"], way, pages, chunks, fmt(wall), f"{pages / wall['median']:.1f}",
                     f"{chunks / wall['median']:.0f}", fmt(spread([r["again_s"] for r in runs]), 2)])  # fmt: skip
    if found["study_s"]:
        study = spread(found["study_s"])
        rows.append([found["label"], "the study's index build", pages, "", fmt(study), "", "", ""])
    return rows


def ratios(found: dict) -> str:
    walls = {way: spread([r["wall_s"] for r in runs])["median"] for way, runs in found["walls"].items() if runs}
    line = f"{found['label']}: " + ", ".join(f"{way} {s:.1f} s" for way, s in walls.items())
    if found["study_s"]:
        study = spread(found["study_s"])["median"]
        line += "; against the study's index build (" + f"{study:.1f} s; goal >= 2.5x): "
        line += ", ".join(f"{way} {study / s:.2f}x" for way, s in walls.items())
    return line + "."


def run(ctx: Context) -> Section:
    export_s = export_once(ctx)
    cache = ctx.work / "study-export" / "embedders"
    found = [measure(ctx, label, paths, cache) for label, paths in inputs(ctx)]
    first = found[0]["steps"]
    chunks = first[0]["chunks"]
    step_rows = [[s, fmt(spread([p[s] for p in first]), 2), f"{chunks / spread([p[s] for p in first])['median']:.0f}"]
                 for s in STEPS]  # fmt: skip
    batches = grid(first[0]["texts"], cache)
    for part in (p for f in found for p in f["steps"]):
        part.pop("texts")
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            f"Seconds, median (min-max) over {ctx.repeats} ingests each way (the eight PDFs: one each way). "
            f"The embedder's export and quantization, once per home: {export_s:.1f} s.",
            table(["input", "way", "pages", "chunks", "ingest s", "pages/s", "chunks/s", "unchanged re-ingest s"],
                  [row for f in found for row in wall_rows(f)]),  # fmt: skip
            "\n".join(f"- {ratios(f)}" for f in found),
            f"Where the time goes ({found[0]['label']}, {chunks} chunks, in one process):",
            table(["step", "seconds", "chunks/s"], step_rows),
            f"Embedding the first {GRID_CHUNKS} chunks, chunks/s by texts per call (columns) and thread layout "
            f"(cores: {os.cpu_count()}). An ingest: as many calls at once as physical cores, fp32 two texts per call, "
            "int8 one (an int8 vector must not depend on the texts beside it: dynamic quantization scales a call's "
            "activations together):",
            table(["variant", "layout", *[str(b) for b in BATCHES]],
                  [[v, name, *[f"{b['chunks_per_s']:.0f}" for b in batches if b["layout"] == name and b["variant"] == v]]
                   for v in ("fp32", "int8") for name, _, _ in LAYOUTS]),
        ]
    )  # fmt: skip
    return Section("ingest", "Ingest: pages/s, chunks/s, where the time goes", text,
                   {"found": found, "grid": batches, "export_s": export_s})  # fmt: skip
