"""Which one to run: each catalog model and its Q8_0 and Q2_K variants (`ragq run --quants Q8_0,Q2_K --drift`) on
real inputs, then `ragq compare` of the base against both variants on token F1 and on cosine.

Per variant: its drift from the base on the base's own answers (KL divergence per answer token in nats: mean,
median, p99; same top token %; RMS delta-p), accuracy with its 95% BCa interval, flips against the base (right ->
wrong / wrong -> right by the metric's rule), the paired verdict (Holm over the two variants) and the questions it
would take to detect a difference of 0.05. `drift s / answer s`: the teacher-forced pass over the base's answers
against the time the variant took to answer the same questions (its jobs' seconds, summed). Inputs: the demo
guide; BOEING_2022_10K.pdf with its FinanceBench questions; all eight FinanceBench PDFs with every question over
them, compared with intervals and p-values clustered by document. Not in `--quick` (CI covers the same commands in
tests/integration/test_quantize.py): a full run takes most of an hour on 2 cores."""

import json
import shutil

from bench.common import FINANCEBENCH, Context, Section, demo_files, ragq, table

QUANTS = "Q8_0,Q2_K"
RATIO = "0.3"


def inputs(ctx: Context) -> list[tuple[str, list, object]]:
    """(name, pdfs, question file) for each input that is present."""
    folder = ctx.home("choose-inputs")
    pdf_file, qa_file = demo_files()
    with pdf_file as pdf, qa_file as qa:
        shutil.copy(pdf, folder / "guide.pdf")
        shutil.copy(qa, folder / "guide-qa.txt")
    found = [("demo guide", [folder / "guide.pdf"], folder / "guide-qa.txt")]
    pdfs = FINANCEBENCH / "pdfs"
    if pdfs.is_dir():
        records = json.loads((FINANCEBENCH / "qa_7docs.json").read_text())
        records += json.loads((FINANCEBENCH / "qa_ulta.json").read_text())
        boeing = [r for r in records if r["doc"] == "BOEING_2022_10K.pdf"]
        (folder / "boeing.json").write_text(json.dumps(boeing))
        (folder / "all.json").write_text(json.dumps(records))
        found.append(("BOEING 10-K", [pdfs / "BOEING_2022_10K.pdf"], folder / "boeing.json"))
        every = sorted({r["doc"] for r in records})
        found.append((f"FinanceBench, {len(every)} documents", [pdfs / d for d in every], folder / "all.json"))
    return found


def one_input(ctx: Context, name: str, pdfs: list, qa) -> list[dict]:
    home = ctx.home("choose-" + name.split(",")[0].replace(" ", "-").lower())
    ragq(home, "ingest", *map(str, pdfs), "--index", "docs")
    ragq(home, "questions", "import", str(qa), "--set", "qs")
    rows = []
    for model in ctx.models:
        args = ["run", "--model", model, "--quants", QUANTS, "--drift", "--ratio", RATIO]
        out = json.loads(ragq(home, *args, "--index", "docs", "--questions", "qs", "--json"))
        runs = {s["model"]: s for s in out["summary"]}
        seconds = {}
        for r in out["results"]:
            seconds[r["run_id"]] = seconds.get(r["run_id"], 0.0) + r["total_s"]
        base, *variants = runs.values()
        verdicts = {}
        for metric in ("token_f1", "cosine"):
            ids = [str(s["run_id"]) for s in (base, *variants)]
            verdicts[metric] = json.loads(ragq(home, "compare", *ids, "--metric", metric, "--json"))
        for s in (base, *variants):
            rows.append(_row(name, s, base, variants, verdicts, seconds))
    return rows


def _row(name: str, s: dict, base: dict, variants: list, verdicts: dict, seconds: dict) -> dict:
    row = {"input": name, "model": s["model"], "answers": s["done"], "drift": s["drift"]}
    row |= {m: s["metrics"][m] for m in ("token_f1", "cosine")}
    row["answer_s"] = seconds.get(s["run_id"])
    if s is not base:
        i = [v["run_id"] for v in variants].index(s["run_id"])
        row["against_base"] = {m: verdicts[m][i] for m in verdicts}
    return row


def _ci(m: dict) -> str:
    if m["mean"] is None:
        return "-"
    ci = f" [{m['ci_low']:.2f}, {m['ci_high']:.2f}]" if m["ci_low"] is not None else ""
    return f"{m['mean']:.3f}{ci}"


def _cells(r: dict) -> list:
    d, c = r["drift"], r.get("against_base")
    drift = ["-"] * 6
    if d:
        drift = [f"{d['kld_mean']:.4f}", f"{d['kld_median']:.4f}", f"{d['kld_p99']:.3f}",
                 f"{100 * d['same_top']:.1f}", f"{d['dp_rms']:.4f}", f"{d['seconds'] / r['answer_s']:.2f}"]  # fmt: skip
    against = ["base"] * 4
    if c:
        f1, cos = c["token_f1"], c["cosine"]
        against = [
            f"{len(f1['right_to_wrong'])} / {len(f1['wrong_to_right'])}",
            f1["verdict"],
            str(f1["needed"] or "-"),
            str(cos["needed"] or "-"),
        ]
    return [r["input"], r["model"], r["answers"], *drift, _ci(r["token_f1"]), _ci(r["cosine"]), *against]


HEAD = ["input", "model", "answers", "mean KLD", "median", "p99", "same top %", "RMS dp", "drift s / answer s"]
HEAD += ["token F1 [95% CI]", "cosine [95% CI]", "F1 flips r->w / w->r", "token F1 verdict (Holm)"]
HEAD += ["questions to detect 0.05 F1", "... cosine"]


def run(ctx: Context) -> Section:
    rows = []
    for name, pdfs, qa in inputs(ctx):
        rows += one_input(ctx, name, pdfs, qa)
    text = (
        "Drift from the base on its own answers (the packaged SmolLM2 is itself Q4_1, Gemma 3 270M Q4_K_M: every "
        "variant is requantized), accuracy, flips and paired verdicts against the base; ratio 0.3, one repetition."
        "\n\n" + table(HEAD, [_cells(r) for r in rows])
    )
    return Section("choose", "Which one to run: drift, flips and paired verdicts", text, {"rows": rows})
