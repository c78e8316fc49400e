"""int8 against fp32, and PDFium against pypdf: what the faster ingest changes, per document.

Pages: each page's text from PDFium (normalised as ragq reads it) against pypdf's, by difflib's ratio (1 = the same
characters). Vectors: every chunk (read by PDFium, as the default ingest does) embedded by both variants, the cosine
between the two. Retrieval: each expert question of the document (the demo set for the guide, FinanceBench's for its
PDFs) against an fp32 index queried in fp32 and an int8 index queried in int8 (the default fusion, ratios 0.3 and
0.7): the top 4 chunks the same set, and in the same order; hit@4 of an evidence page on each side, paired by
question (exact McNemar test, statsmodels); the same for PDFium's chunks against pypdf's, both in fp32. Scores: the cosine score (the study's measure) of every answer stored
in bench/results (the study section's answers with their expert answers) computed by each variant.

Recipes: the same measures for each int8 recipe ragq can build (shared/corpus/quantize.py), side by side in one
run, with the chunks/s of embedding every chunk as an ingest does (two calls at once, one thread each; fp32 two
texts a call, int8 one): what chose the default's recipe."""

import difflib
import json
import logging
from pathlib import Path

import numpy as np

from bench.common import FINANCEBENCH, HERE, Context, Section, demo_files, table
from bench.study import export_once

RATIOS = (0.3, 0.7)


def page_similarity(ours: list, theirs: list) -> dict:
    """PDFium's pages against pypdf's (both as ragq reads them)."""
    ratios = [difflib.SequenceMatcher(None, a.text, b.text).ratio() for a, b in zip(ours, theirs, strict=True)]
    theirs = [p.text for p in theirs]
    return {"pages": len(ratios), "identical": sum(a.text == b for a, b in zip(ours, theirs, strict=True)),
            "mean": float(np.mean(ratios)), "min": float(np.min(ratios)), "below_0.95": sum(r < 0.95 for r in ratios),
            "chars_pdfium": sum(len(p.text) for p in ours), "chars_pypdf": sum(len(t) for t in theirs)}  # fmt: skip


def questions(label: str) -> list[dict]:
    if label == "guide.pdf":
        from ragq.producer.questions import parse_qa_file

        _, qa = demo_files()
        with qa as path:
            return [{"question": p.question, "pages": p.evidence_pages, "doc": None} for p in parse_qa_file(path)]
    rows = [json.loads(line) for line in (FINANCEBENCH / "financebench_open_source.jsonl").open()]
    return [{"question": r["question"], "pages": [e["evidence_page_num"] for e in r["evidence"]], "doc": label}
            for r in rows if r["doc_name"] + ".pdf" == label]  # fmt: skip


def in_memory_index(chunks, vectors):
    import faiss

    from ragq.shared.corpus.bm25 import BM25, tokenize
    from ragq.shared.corpus.index import HybridIndex

    dense = faiss.IndexFlatL2(vectors.shape[1])
    dense.add(vectors)
    return HybridIndex("x", {}, chunks, BM25.build([tokenize(c.text) for c in chunks]), dense)


def top4(cfg, index, embedder, question: str, ratio: float) -> list:
    from ragq.shared.rag.retrieval import retrieve

    return [index.chunks[h.position] for h in retrieve(cfg, index, question, embedder.encode([question])[0], ratio)[:4]]


def agreement(asked: list[dict], sides: dict) -> list[dict]:
    """Per question and ratio: the two sides' top 4 (chunks compared by page and text) and hit@4 on each side.
    `sides`: name -> (index, embedder), the exact side first."""
    from ragq.shared.metrics.evidence import evidence_rank
    from ragq.shared.records import RetrievalConfig

    cfg, rows = RetrievalConfig(), []
    exact, other = list(sides)
    for q in asked:
        for ratio in RATIOS:
            tops = {name: top4(cfg, index, e, q["question"], ratio) for name, (index, e) in sides.items()}
            keys = {name: [(c.page, " ".join(c.text.split())) for c in top] for name, top in tops.items()}
            hit = {name: 1 <= (evidence_rank(top, q["pages"], None) or 0) <= 4 for name, top in tops.items()}
            pages = {name: {c.page for c in top} for name, top in tops.items()}
            rows.append({"ratio": ratio, "same_set": set(keys[exact]) == set(keys[other]),
                         "same_pages": pages[exact] == pages[other],
                         "same_order": keys[exact] == keys[other], "hit_exact": hit[exact], "hit_other": hit[other]})  # fmt: skip
    return rows


def vectors_of(embedder, texts: list[str]) -> np.ndarray:
    return np.concatenate([embedder.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)])


def compare_document(path: Path, embedders: dict) -> dict:
    """int8 against fp32 (both on PDFium's chunks), and PDFium against pypdf (both embedded in fp32)."""
    from ragq.shared.corpus.chunking import split_pages
    from ragq.shared.corpus.documents import load_document
    from ragq.shared.hashing import sha256_file

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    pages = {reader: load_document(path, reader) for reader in ("pdfium", "pypdf")}
    chunks = {reader: split_pages(pages[reader], sha256_file(path)) for reader in pages}
    vectors = {v: vectors_of(e, [c.text for c in chunks["pdfium"]]) for v, e in embedders.items()}
    pypdf_vectors = vectors_of(embedders["fp32"], [c.text for c in chunks["pypdf"]])
    agree = (vectors["int8"] * vectors["fp32"]).sum(axis=1)
    indexes = {v: in_memory_index(chunks["pdfium"], vectors[v]) for v in embedders}
    asked = questions(path.name)
    variants = agreement(asked, {v: (indexes[v], embedders[v]) for v in ("fp32", "int8")})
    readers = agreement(asked, {"pypdf": (in_memory_index(chunks["pypdf"], pypdf_vectors), embedders["fp32"]),
                                "pdfium": (indexes["fp32"], embedders["fp32"])})  # fmt: skip
    return {"document": path.name, "chunks": len(chunks["pdfium"]), "chunks_pypdf": len(chunks["pypdf"]),
            "cos_mean": float(agree.mean()), "cos_min": float(agree.min()), "questions": len(asked),
            "retrieval": variants, "readers": readers, "pages": page_similarity(pages["pdfium"], pages["pypdf"])}  # fmt: skip


def stored_answers() -> list[tuple[str, str]]:
    """(answer, expert answer) for every answer the committed study section stored."""
    study = json.loads((HERE / "results" / "study.json").read_text())
    expert = {r["question"]: r["answer"] for r in json.loads((FINANCEBENCH / "qa_7docs.json").read_text())}
    found = []
    for key in ("script_cell", "ragq_cold", "ragq_warm", "grid_script"):
        for run in study.get(key, []):
            answers = run.get("answers") if isinstance(run.get("answers"), list) else []
            found += [(a["answer"], expert[a["question"]]) for a in answers if a["question"] in expert]
    return found


def score_shift(embedders: dict) -> dict:
    from ragq.shared.metrics.cosine import cosine

    pairs = stored_answers()
    shift = [abs(cosine(embedders["int8"], a, r) - cosine(embedders["fp32"], a, r)) for a, r in pairs]
    return {"answers": len(pairs), "max": max(shift, default=0.0), "mean": float(np.mean(shift)) if shift else 0.0,
            "over_0.01": sum(s > 0.01 for s in shift)}  # fmt: skip


def mcnemar_line(rows: list[dict], exact: str, other: str) -> str:
    from statsmodels.stats.contingency_tables import mcnemar

    both = sum(r["hit_exact"] and r["hit_other"] for r in rows)
    lost = sum(r["hit_exact"] and not r["hit_other"] for r in rows)
    gained = sum(r["hit_other"] and not r["hit_exact"] for r in rows)
    p = mcnemar([[both, lost], [gained, len(rows) - both - lost - gained]], exact=True).pvalue
    same = sum(r["same_set"] for r in rows) / max(1, len(rows))
    pages = sum(r["same_pages"] for r in rows) / max(1, len(rows))
    return (f"{other} against {exact}: the same top 4 for {same:.1%} of {len(rows)} question-ratio pairs, from the "
            f"same pages for {pages:.1%}; hit@4 "
            f"{exact} {both + lost}, {other} {both + gained} ({lost} lost, {gained} gained; exact McNemar "
            f"p = {p:.3f}: {'no detectable difference' if p >= 0.05 else 'a difference'})")  # fmt: skip


def recipe_plans() -> dict[str, dict]:
    """The recipes measured: the default, its neighbours (alpha, block) and the plain dynamic one of before."""
    from ragq.shared.corpus import quantize
    from ragq.shared.hardware import cpu_flags

    default = quantize.plan(cpu_flags())
    dynamic = {k: v for k, v in default.items() if k not in ("recipe", "alpha", "block")}
    plans = {"dynamic (before)": dynamic, f"smoothed a{default['alpha']} b{default['block']} (default)": default}
    for alpha, block in ((0.5, 32), (0.7, 32), (0.5, 128)):
        plans[f"smoothed a{alpha} b{block}"] = {**default, "alpha": alpha, "block": block}
    return plans


def recipes(paths: list[Path], cache: Path) -> list[dict]:
    """Each recipe against fp32 on every document's chunks (PDFium), with its embedding speed."""
    import time

    from ragq.shared.corpus.chunking import split_pages
    from ragq.shared.corpus.documents import load_document
    from ragq.shared.corpus.embedding import Embedder
    from ragq.shared.hashing import sha256_file

    docs = [(p, split_pages(load_document(p, "pdfium"), sha256_file(p))) for p in paths]
    sides = {"fp32": Embedder("onnx", cache, variant="fp32", streams=2)}
    sides |= {name: Embedder("onnx", cache, variant="int8", streams=2, quantization=plan)
              for name, plan in recipe_plans().items()}  # fmt: skip
    found, exact = [], {}
    for name, embedder in sides.items():
        embedder.encode(["load"])  # the recipe's model made (once per home) before the clock starts
        start, vectors = time.perf_counter(), {p: vectors_of(embedder, [c.text for c in chunks]) for p, chunks in docs}
        seconds = time.perf_counter() - start
        exact = exact or {"vectors": vectors, "embedder": embedder}
        cos = np.concatenate([(vectors[p] * exact["vectors"][p]).sum(axis=1) for p, _ in docs])
        rows = [r for p, chunks in docs for r in agreement(questions(p.name), {
            "fp32": (in_memory_index(chunks, exact["vectors"][p]), exact["embedder"]),
            "int8": (in_memory_index(chunks, vectors[p]), embedder)})]  # fmt: skip
        shift = (
            score_shift({"fp32": exact["embedder"], "int8": embedder})
            if (FINANCEBENCH / "qa_7docs.json").exists()
            else {}
        )
        found.append({"recipe": name, "chunks": len(cos), "chunks_per_s": len(cos) / seconds, "cos_mean": float(cos.mean()),
                      "cos_min": float(cos.min()), "pairs": len(rows), "same_set": sum(r["same_set"] for r in rows),
                      "same_order": sum(r["same_order"] for r in rows), "hit_fp32": sum(r["hit_exact"] for r in rows),
                      "hit_int8": sum(r["hit_other"] for r in rows), "score_max": shift.get("max"),
                      "score_over": shift.get("over_0.01")})  # fmt: skip
    return found


def recipe_table(found: list[dict]) -> str:
    base = found[0]["chunks_per_s"]
    return table(["recipe", "chunks/s", "x fp32", "cos mean", "min", "same top-4", "same order", "hit@4", "score shift max",
                  "scores > 0.01"],
                 [[f["recipe"], f"{f['chunks_per_s']:.0f}", f"{f['chunks_per_s'] / base:.2f}", f"{f['cos_mean']:.5f}",
                   f"{f['cos_min']:.4f}", f"{f['same_set']}/{f['pairs']} ({f['same_set'] / max(1, f['pairs']):.1%})",
                   f"{f['same_order']}/{f['pairs']}", f"{f['hit_int8']} (fp32 {f['hit_fp32']})",
                   "" if f["score_max"] is None else f"{f['score_max']:.4f}",
                   "" if f["score_over"] is None else str(f["score_over"])] for f in found])  # fmt: skip


def documents(ctx: Context) -> list[Path]:
    pdf_file, _ = demo_files()
    with pdf_file as demo:
        copy = ctx.home("int8-input") / "guide.pdf"
        copy.write_bytes(demo.read_bytes())
    found = sorted((FINANCEBENCH / "pdfs").glob("*.pdf"))
    return [copy] if ctx.quick or not found else [copy, *found]


def run(ctx: Context) -> Section:
    from ragq.shared.corpus.embedding import Embedder

    export_once(ctx)
    cache = ctx.work / "study-export" / "embedders"
    embedders = {v: Embedder("onnx", cache, variant=v) for v in ("fp32", "int8")}
    shift = score_shift(embedders) if (FINANCEBENCH / "qa_7docs.json").exists() else {}
    paths = documents(ctx)
    found = [compare_document(p, embedders) for p in paths]
    tried = recipes(paths, cache)
    rows = []
    for f in found:
        r, pg = f["retrieval"], f["pages"]
        same = {ratio: [x for x in r if x["ratio"] == ratio] for ratio in RATIOS}
        rows.append([f["document"], pg["pages"], pg["identical"], f"{pg['mean']:.4f}", f"{pg['min']:.3f}",
                     f["chunks"], f"{f['cos_mean']:.4f}", f"{f['cos_min']:.4f}", f["questions"],
                     *[f"{sum(x['same_set'] for x in same[t])}/{len(same[t])}" for t in RATIOS],
                     *[f"{sum(x['same_order'] for x in same[t])}/{len(same[t])}" for t in RATIOS]])  # fmt: skip
    lines = [mcnemar_line([x for f in found for x in f["retrieval"]], "fp32", "int8") + " (goal: the same top 4 "
             "for >= 90 %, hit@4 no detectable difference).",
             mcnemar_line([x for f in found for x in f["readers"]], "pypdf", "pdfium") + " (both fp32; chunks "
             "compared by page and text, whitespace collapsed)."]  # fmt: skip
    if shift:
        lines.append(f"Cosine scores of {shift['answers']} stored answers, |int8 - fp32|: mean {shift['mean']:.4f}, "
                     f"max {shift['max']:.4f}; {shift['over_0.01']} move by more than 0.01.")  # fmt: skip
    text = "\n\n".join([__doc__.split("\n\n", 1)[1].replace("\n", " "), table(
        ["document", "pages", "identical", "page ratio mean", "min", "chunks", "cos(int8, fp32) mean", "min",
         "questions", "same top-4 0.3", "0.7", "same order 0.3", "0.7"], rows), *lines,
        "Recipes side by side (every document above; same top-4 and hit@4 over both ratios):", recipe_table(tried)])  # fmt: skip
    return Section("int8", "int8 against fp32, PDFium against pypdf", text,
                   {"documents": found, "scores": shift, "recipes": tried})  # fmt: skip
