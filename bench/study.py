"""Study: ragq against the study's own way of working (bench/seed_script.py), same document, questions and model.

The script does everything each time it runs: load and split the PDF, embed and index it, load the model, answer,
and load a SentenceTransformer for every score. ragq ingests once into a persisted index and runs a grid with one
worker per model that loads everything once. Three comparisons, each side timed as a user would see it (wall
time of the commands): (a) one cell cold: a fresh home, `ragq ingest` + `ragq questions import` + `ragq run`,
against one script run; (b) the study's grid, 2 models x 2 ratios, done the study's way (the script once per
cell, the index rebuilt each time) against one fresh-home ingest plus one `ragq run` of the whole grid; (c) warm:
`ragq run --new-run` of the cell again in the ingested home, against the script (which has no warm state: each of
its runs is a cold one). Accuracy: each side's mean cosine on the same questions. The prompt text is the same on
both sides (the model's prompt layout that ragq uses, given to the script as its PromptTemplate, with each chunk on
one line where that layout puts it so: Gemma 3 270M's completion template), and so are the
answer limits (the catalog's max_tokens and stop strings, given to the script in place of the study's 2000 tokens
and none, so that neither side is faster by writing less). Sampling: the study's values on both sides; the script
keeps LangChain's other defaults (n_batch 8, half the CPUs as threads), ragq its own (n_batch 512, every CPU). The embedder's one-time ONNX export (once per home, timed separately below)
is done before ragq's cold runs, as at install."""

import json
import os
import shutil
import subprocess
import sys
import time

from bench.common import FINANCEBENCH, HERE, Context, Section, demo_files, env_for, fmt, ragq, spread, table

CELL_MODEL, CELL_RATIO = "smollm2-135m", "0.3"
GRID_RATIOS = ["0.3", "0.7"]
DOCUMENT = "BOEING_2022_10K.pdf"  # 190 pages, 7 analyst questions in qa_7docs.json


def inputs(ctx: Context) -> tuple:
    """(pdf, qa file in the study's Q:/A: format, description): a FinanceBench 10-K when the team data is there."""
    folder = ctx.home("study-inputs")
    pdf = FINANCEBENCH / "pdfs" / DOCUMENT
    if not ctx.quick and pdf.exists():
        records = json.loads((FINANCEBENCH / "qa_7docs.json").read_text())
        pairs = [(q["question"], q["answer"]) for q in records if q["doc"] == DOCUMENT]
        described = f"{DOCUMENT} (190 pages), its {len(pairs)} FinanceBench questions"
    else:
        pdf_file, qa_file = demo_files()
        with pdf_file as demo_pdf, qa_file as demo_qa:
            shutil.copy(demo_pdf, folder / "guide.pdf")
            lines = demo_qa.read_text().strip().splitlines()
        pdf = folder / "guide.pdf"
        take = 2 if ctx.quick else 16
        pairs = [(q[2:].strip(), a[2:].strip()) for q, a in zip(lines[0:take:2], lines[1:take:2], strict=True)]
        described = f"the demo guide, {len(pairs)} of its questions"
    qa = folder / "qa.txt"
    qa.write_text("".join(f"Q: {' '.join(q.split())}\nA: {' '.join(a.split())}\n" for q, a in pairs))
    return pdf, qa, described


def template_and_file(home, model: str) -> tuple[str, str, list[str]]:
    """The prompt layout ragq uses for the model, with LangChain's placeholders, its GGUF path, and the model's
    limits and layout as ragq runs it: `--max-tokens N`, `--stop S` and `--collapse-whitespace` for the script."""
    from ragq.shared.config import load_settings
    from ragq.shared.models import catalog, files
    from ragq.shared.models.placement import Placement
    from ragq.shared.rag.llm import opened

    settings = load_settings(home=home)
    spec = catalog.get_model(settings, model)
    path = files.model_path(settings, spec)
    with opened(settings, model, Placement(n_threads=1)) as runner:
        text = runner.layout("chat").build(["{context}"], "{question}").text
    limits = ["--max-tokens", str(spec.params.max_tokens)] + [x for stop in spec.prompt.stop for x in ("--stop", stop)]
    if spec.prompt.template is not None and spec.prompt.collapse_whitespace:  # the layout ragq uses: one line a chunk
        limits.append("--collapse-whitespace")
    return text, str(path), limits


def script_cell(ctx: Context, pdf, qa, model: str, ratio: str) -> dict:
    folder = ctx.home("study-script", fresh=False)
    template, gguf, limits = template_and_file(ctx.work / "study-export", model)
    (folder / "template.txt").write_text(template)
    out = folder / f"{model}-{ratio}.json"
    cmd = [sys.executable, str(HERE / "seed_script.py"), "--pdf", str(pdf), "--qa", str(qa), "--model", gguf]
    cmd += ["--template", str(folder / "template.txt"), "--ratio", ratio, "--json", str(out), *limits]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"seed_script failed: {done.stderr[-2000:]}")
    result = json.loads(out.read_text())
    return {
        "wall_s": wall,
        "index_s": result["index_s"],
        "mean_cosine": result["mean_cosine"],
        "answers": [{**a, "model": model, "ratio": float(ratio)} for a in result["answers"]],
    }


def fresh_home(ctx: Context, name: str):
    """A new home with the embedder's ONNX export already in place (made once, in study-export)."""
    home = ctx.home(name)
    (home / "embedders").mkdir()
    for file in (ctx.work / "study-export" / "embedders").iterdir():
        os.link(file, home / "embedders" / file.name)
    return home


def ragq_cold(ctx: Context, pdf, qa, models: list[str], ratios: list[str], name: str, **extra: str) -> dict:
    """A fresh home: ingest, import, run; `extra`: RAGQ_* settings for every command (RAGQ_EMBEDDER="fp32")."""
    home = fresh_home(ctx, name)
    env = env_for(home, **extra)
    start = time.perf_counter()
    ragq(home, "ingest", str(pdf), "--index", "doc", env=env)
    ingest_s = time.perf_counter() - start
    ragq(home, "questions", "import", str(qa), "--set", "qa", env=env)
    args = ["run", "--index", "doc", "--questions", "qa", "--json"]
    for m in models:
        args += ["--model", m]
    for r in ratios:
        args += ["--ratio", r]
    out = json.loads(ragq(home, *args, env=env))
    wall = time.perf_counter() - start
    return {"home": str(home), "wall_s": wall, "ingest_s": ingest_s, **cosines(out)}


def cosines(out: dict) -> dict:
    """Mean cosine, each answer's cosine and job time by (model, ratio, question), and the jobs' summed time."""
    done = [r for r in out["results"] if r["cosine"] is not None]
    values = [r["cosine"] for r in done]
    return {
        "mean_cosine": sum(values) / len(values),
        "answers": len(values),
        "per_answer": [{k: r[k] for k in ("model", "ratio", "question", "cosine", "total_s")} for r in done],
        "jobs_s": sum(r["total_s"] for r in done),
    }


def by_answer(runs: list[dict]) -> dict[tuple, float]:
    """Each (model, ratio, question)'s cosine, the mean over the runs given (the repeats of one side)."""
    seen: dict[tuple, list[float]] = {}
    for run in runs:
        for a in run.get("per_answer") or run["answers"]:
            seen.setdefault((a["model"], float(a["ratio"]), " ".join(a["question"].split())), []).append(a["cosine"])
    return {k: sum(v) / len(v) for k, v in seen.items()}


def cosine_verdict(script: list[dict], ragq_runs: list[dict]) -> str:
    """ragq's cosine against the script's, paired by answer (scipy/statsmodels, as `ragq compare` decides)."""
    from ragq.producer.results import verdict

    a, b = by_answer(script), by_answer(ragq_runs)
    keys = sorted(set(a) & set(b))
    paired = verdict.Paired(a=[a[k] for k in keys], b=[b[k] for k in keys], docs=[None] * len(keys), binary=False)
    return (
        verdict.sentence(verdict.test(paired), "cosine")
        .replace("B is", "ragq is")
        .replace("than A", "than the script")
        .replace("A and B", "they")
    )


def ragq_warm(home) -> dict:
    args = ["run", "--model", CELL_MODEL, "--ratio", CELL_RATIO, "--index", "doc", "--questions", "qa", "--new-run"]
    start = time.perf_counter()
    out = json.loads(ragq(home, *args, "--json"))
    return {"wall_s": time.perf_counter() - start, **cosines(out)}


def export_once(ctx: Context) -> float:
    home = ctx.home("study-export")
    start = time.perf_counter()
    code = "from ragq.shared.config import load_settings; from ragq.shared.corpus.embedding import Embedder; "
    code += "Embedder.from_settings(load_settings(), variant='int8').encode(['x'])"  # the fp32 export, then int8
    subprocess.run([sys.executable, "-c", code], env=env_for(home), check=True, capture_output=True)
    return time.perf_counter() - start


def measure(ctx: Context, pdf, qa) -> dict:
    """Both sides of every comparison: the cell (the script, ragq cold int8 and fp32, ragq warm), then the grid."""
    script = [script_cell(ctx, pdf, qa, CELL_MODEL, CELL_RATIO) for _ in range(ctx.repeats)]
    cold, cold32 = [], []
    for i in range(ctx.repeats):  # in turn: the default (int8), then the fp32 embedder (left out of --quick)
        cold.append(ragq_cold(ctx, pdf, qa, [CELL_MODEL], [CELL_RATIO], f"study-cold-{i}"))
        if not ctx.quick:
            cold32.append(
                ragq_cold(ctx, pdf, qa, [CELL_MODEL], [CELL_RATIO], f"study-cold32-{i}", RAGQ_EMBEDDER="fp32")
            )
    warm = [ragq_warm(cold[0]["home"]) for _ in range(ctx.repeats)]
    grid_script = [script_cell(ctx, pdf, qa, m, r) for m in ctx.models for r in GRID_RATIOS]
    grid_ragq = ragq_cold(ctx, pdf, qa, ctx.models, GRID_RATIOS, "study-grid")
    return {"script_cell": script, "ragq_cold": cold, "ragq_cold_fp32": cold32, "ragq_warm": warm,
            "grid_script": grid_script, "grid_ragq": grid_ragq}  # fmt: skip


def _row(name: str, script: list[dict], ragq: list[dict], goal: str) -> list:
    """One comparison: seconds on both sides (median, min-max), the ratio, cosines and their paired verdict."""
    s, r = spread([x["wall_s"] for x in script]), spread([x["wall_s"] for x in ragq])
    cosine = (spread([x["mean_cosine"] for x in xs])["median"] for xs in (script, ragq))
    return [name, fmt(s), fmt(r), f"{s['median'] / r['median']:.2f}x", goal, *(f"{c:.3f}" for c in cosine),
            cosine_verdict(script, ragq)]  # fmt: skip


def comparison_rows(m: dict, models: list[str]) -> list[list]:
    script, grid_script, grid_ragq = m["script_cell"], m["grid_script"], m["grid_ragq"]
    s_grid = sum(x["wall_s"] for x in grid_script)
    grid_cos = sum(x["mean_cosine"] for x in grid_script) / len(grid_script)
    rows = [
        _row("(a) one cell, cold", script, m["ragq_cold"], "1.5x"),
        [f"(b) grid {len(models)} models x {len(GRID_RATIOS)} ratios", f"{s_grid:.1f}", f"{grid_ragq['wall_s']:.1f}",
         f"{s_grid / grid_ragq['wall_s']:.2f}x", "3x", f"{grid_cos:.3f}", f"{grid_ragq['mean_cosine']:.3f}",
         cosine_verdict(grid_script, [grid_ragq])],
        _row("(c) the cell again, warm", script, m["ragq_warm"], "2.5x"),
    ]  # fmt: skip
    if m.get("ragq_cold_fp32"):
        rows.insert(1, _row("(a) with the fp32 embedder", script, m["ragq_cold_fp32"], "1.5x"))
    return rows


def where_time_goes(m: dict, export_s: float) -> list[str]:
    script, cold, cold32, warm = m["script_cell"], m["ragq_cold"], m.get("ragq_cold_fp32"), m["ragq_warm"]
    s_cell = spread([x["wall_s"] for x in script])
    parts = spread([x["index_s"] for x in script]), spread([x["ingest_s"] for x in cold])
    ingest32 = f"{fmt(spread([x['ingest_s'] for x in cold32]))} s" if cold32 else "not measured"
    s_answers = spread([sum(a["seconds"] for a in x["answers"]) for x in script])
    w_jobs = spread([x["jobs_s"] for x in warm])
    outside = spread([x["wall_s"] - x["jobs_s"] for x in warm])
    return [
        f"Where the cold time goes: the script's index build {fmt(parts[0])} s against `ragq ingest` "
        f"{fmt(parts[1])} s (int8, the default; with fp32: {ingest32}); the embedder's ONNX export and its "
        f"int8 quantization, once per home: {export_s:.1f} s.",
        f"Where the warm time goes: ragq's jobs (retrieval, generation, scoring, storing; their summed wall time) "
        f"{fmt(w_jobs)} s, everything around them (the command's start, the broker, the worker's start, "
        f"waiting for the last result) {fmt(outside)} s; the script's answers alone {fmt(s_answers)} s. With no "
        f"time around its jobs at all, (c) would be {s_cell['median'] / w_jobs['median']:.2f}x: the most ragq "
        "can reach while it answers at this speed (both sides run the same llama.cpp build, ragq at the bare "
        "library's speed: bench overhead).",
    ]


def per_cell(m: dict) -> str:
    script_cells = {(x["answers"][0]["model"], x["answers"][0]["ratio"]): x["mean_cosine"] for x in m["grid_script"]}
    ragq_cells: dict[tuple, list[float]] = {}
    for a in m["grid_ragq"]["per_answer"]:
        ragq_cells.setdefault((a["model"], a["ratio"]), []).append(a["cosine"])
    return "; ".join(
        f"{model} at {r}: script {script_cells[(model, r)]:.3f}, ragq {sum(v) / len(v):.3f}"
        for (model, r), v in sorted(ragq_cells.items())
        if (model, r) in script_cells
    )


def run(ctx: Context) -> Section:
    pdf, qa, described = inputs(ctx)
    export_s = export_once(ctx)
    m = measure(ctx, pdf, qa)
    header = ["comparison", "script s", "ragq s", "ragq faster", "goal", "script cosine", "ragq cosine",
              "ragq's cosine against the script's (paired by answer)"]  # fmt: skip
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            f"Input: {described}; cell: {CELL_MODEL} at ratio {CELL_RATIO}; grid: {', '.join(ctx.models)} at "
            f"{', '.join(GRID_RATIOS)}. Seconds, median (min-max) over {ctx.repeats} runs for (a) and (c), one run of "
            "each side for (b). The cosine verdict pairs the two sides answer by answer (each answer's mean over the "
            "repeats), as `ragq compare` does: Wilcoxon signed-rank, two one-sided tests for equivalence within 0.05.",
            table(header, comparison_rows(m, ctx.models)),
            *where_time_goes(m, export_s),
            f"Grid cosine per cell: {per_cell(m)}.",
        ]
    )
    return Section(
        "study", "Study: ragq against the study's script", text, {"input": described, **m, "export_s": export_s}
    )
