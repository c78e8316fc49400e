"""Which one to run: each catalog model and its Q8_0 and Q2_K variants (`ragq run --quants Q8_0,Q2_K --drift`) on
real inputs, every measure side by side from `ragq compare` (the experts' answers' likelihood, token F1, cosine,
exact and number match: difference, p adjusted by Holm over every measure and both variants, the smallest difference
these questions detect, the questions needed), with the verdicts as `ragq compare` prints them.

Also: each base model at ratio 0.7 beside 0.3, for the retrieval overlap between the two ratios (questions whose
prompts held the same chunks, in the same order) and which ratio's context makes the experts' answers most likely;
the Spearman correlation over answers of the likelihood with token F1 and with cosine; whether the runs' order by the
likelihood agrees with their order by token F1 (Kendall's tau); the questions where a variant makes the experts'
answers less likely yet scores a higher token F1, or the reverse; and what the scoring costs per job (its seconds
against the job's wall time) beside drift's cost against answering. Inputs: the demo guide; BOEING_2022_10K.pdf
with its FinanceBench questions; all eight FinanceBench PDFs with every question over them, clustered by document.
Not in `--quick` (CI covers the same commands in tests/integration/test_quantize.py and test_expert_likelihood.py):
a full run takes about an hour on 2 cores."""

import json
import shutil
import statistics
from datetime import datetime

from bench.common import FINANCEBENCH, Context, Section, db_rows, demo_files, ragq, table

QUANTS = "Q8_0,Q2_K"
RATIO, OTHER_RATIO = "0.3", "0.7"


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


def _run(home, *args) -> dict:
    return json.loads(ragq(home, "run", *args, "--index", "docs", "--questions", "qs", "--json"))


def one_input(ctx: Context, name: str, pdfs: list, qa) -> dict:
    home = ctx.home("choose-" + name.split(",")[0].replace(" ", "-").lower())
    ragq(home, "ingest", *map(str, pdfs), "--index", "docs")
    ragq(home, "questions", "import", str(qa), "--set", "qs")
    out: dict = {"input": name, "models": []}
    for model in ctx.models:
        swept = _run(home, "--model", model, "--quants", QUANTS, "--drift", "--ratio", RATIO)
        other = _run(home, "--model", model, "--ratio", OTHER_RATIO)
        runs = list({s["run_id"]: s for s in swept["summary"]}.values())
        ids = [str(s["run_id"]) for s in runs]
        compared = json.loads(ragq(home, "compare", *ids, "--metric", "token_f1", "--json"))
        base_id, other_id = runs[0]["run_id"], other["summary"][0]["run_id"]
        ratios = json.loads(ragq(home, "compare", str(base_id), str(other_id), "--metric", "token_f1", "--json"))[0]
        out["models"].append(
            {"model": model, "runs": runs, "compared": compared, "ratio": ratios, "other_run": other["summary"][0]}
        )
    out["answers"] = _answers(home)
    return out


def _answers(home) -> list[dict]:
    """Every answer of the input's runs: its run, question, measures, and the scoring's and job's seconds."""
    rows = db_rows(
        home,
        "SELECT j.run_id, m.name, u.ratio, q.question, r.expert_bpb, r.token_f1, r.cosine, r.expert_s, "
        "r.started_at, r.finished_at FROM results r JOIN jobs j ON r.job_id = j.id JOIN runs u ON j.run_id = u.id "
        "JOIN models m ON u.model_id = m.id JOIN questions q ON j.question_id = q.id ORDER BY r.id",
    )
    keys = ["run", "model", "ratio", "question", "expert_bpb", "token_f1", "cosine", "expert_s"]
    out = []
    for *values, started, finished in rows:
        job_s = (datetime.fromisoformat(str(finished)) - datetime.fromisoformat(str(started))).total_seconds()
        out.append(dict(zip(keys, values, strict=True)) | {"job_s": job_s})
    return out


def _ci(m: dict) -> str:
    if m["mean"] is None:
        return "-"
    ci = f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]" if m["ci_low"] is not None else ""
    return f"{m['mean']:.3f}{ci}"


def runs_table(data: list[dict]) -> str:
    head = ["input", "model", "answers", "expert bits/byte [95% CI]", "token F1 [95% CI]", "cosine [95% CI]"]
    head += ["mean KLD", "same top %", "drift s / answer s", "scoring s / job s"]
    rows = []
    for item in data:
        for entry in item["models"]:
            for s in entry["runs"]:
                mine = [a for a in item["answers"] if a["run"] == s["run_id"] and a["expert_s"] is not None]
                d = s["drift"]
                answer_s = sum(a["job_s"] for a in item["answers"] if a["run"] == s["run_id"])
                drift = ["-", "-", "-"]
                if d:
                    drift = [f"{d['kld_mean']:.4f}", f"{100 * d['same_top']:.1f}", f"{d['seconds'] / answer_s:.2f}"]
                cost = sum(a["expert_s"] for a in mine) / sum(a["job_s"] for a in mine) if mine else None
                rows.append(
                    [item["input"], s["model"], s["done"], _ci(s["metrics"]["expert_bpb"]),
                     _ci(s["metrics"]["token_f1"]), _ci(s["metrics"]["cosine"]), *drift,
                     "-" if cost is None else f"{100 * cost:.1f} %"]
                )  # fmt: skip
    return table(head, rows)


def measures_table(data: list[dict]) -> str:
    head = ["input", "base (A)", "variant (B)", "measure", "A", "B", "B - A", "relative", "B better / worse"]
    head += ["p (Holm)", "detectable", "questions needed"]
    rows = []
    for item in data:
        for entry in item["models"]:
            for c in entry["compared"]:
                for t in c["measures"]:
                    rel = "-" if t["relative"] is None else f"{100 * t['relative']:+.0f} %"
                    rows.append(
                        [item["input"], c["a"], c["b"], t["measure"], f"{t['mean_a']:.3f}", f"{t['mean_b']:.3f}",
                         f"{t['diff']:+.3f}", rel, f"{t['better']} / {t['worse']} of {t['n']}",
                         f"{t['p_holm']:.2g}" + (" decides" if t["decides"] else ""),
                         "-" if t["detectable"] is None else f"{t['detectable']:.3f}",
                         f"{t['needed'] or '-'} for {t['detect']:g}"]
                    )  # fmt: skip
    return table(head, rows)


def ratios_table(data: list[dict]) -> str:
    head = ["input", "model", "questions", "same chunks", "same order", "bits/byte 0.3", "bits/byte 0.7", "p"]
    head += ["verdict, 0.3 against 0.7"]
    rows = []
    for item in data:
        for entry in item["models"]:
            r = entry["ratio"]
            o = r["retrieval"] or {"questions": "-", "same_set": "-", "same_order": "-"}
            bpb = next((t for t in r["measures"] if t["measure"] == "expert_bpb"), None)
            rows.append(
                [item["input"], entry["model"], o["questions"], o["same_set"], o["same_order"],
                 f"{bpb['mean_a']:.3f}" if bpb else "-", f"{bpb['mean_b']:.3f}" if bpb else "-",
                 f"{bpb['p_holm']:.2g}" if bpb else "-", r["verdict"]]
            )  # fmt: skip
    return table(head, rows)


def _spearman(answers: list[dict]) -> tuple:
    from scipy.stats import spearmanr

    bpb = [a["expert_bpb"] for a in answers]
    return spearmanr(bpb, [a["token_f1"] for a in answers]), spearmanr(bpb, [a["cosine"] for a in answers])


def _order(answers: list[dict]) -> tuple:
    """Kendall's tau between the runs' order by mean likelihood and by mean token F1, and both orders."""
    from scipy.stats import kendalltau

    runs = sorted({a["run"] for a in answers})
    bpb_of = {r: statistics.fmean(a["expert_bpb"] for a in answers if a["run"] == r) for r in runs}
    f1_of = {r: statistics.fmean(a["token_f1"] for a in answers if a["run"] == r) for r in runs}
    tau = kendalltau([-bpb_of[r] for r in runs], [f1_of[r] for r in runs])
    name = {a["run"]: f"{a['model']}@{a['ratio']:g}" for a in answers}
    by_bpb = " < ".join(name[r] for r in sorted(runs, key=bpb_of.__getitem__))
    by_f1 = " > ".join(name[r] for r in sorted(runs, key=lambda r: -f1_of[r]))
    return tau, by_bpb, by_f1


def correlations(data: list[dict], models: list[str]) -> tuple[str, list[dict]]:
    """Spearman over answers of the likelihood with token F1 and cosine, per input, over every run and over each
    model's own runs (a model and its variants); the runs' order by the likelihood against their order by token F1
    (Kendall's tau over run means)."""
    rows, found = [], []
    for item in data:
        scored = [a for a in item["answers"] if a["expert_bpb"] is not None and a["token_f1"] is not None]
        for family in ["every run", *models]:
            answers = [a for a in scored if family == "every run" or a["model"].startswith(family)]
            if len(answers) < 3:
                continue
            f1, cos = _spearman(answers)
            tau, by_bpb, by_f1 = _order(answers)
            entry = {"input": item["input"], "runs": family, "answers": len(answers), "rho_f1": f1.statistic}
            entry |= {"p_f1": f1.pvalue, "rho_cosine": cos.statistic, "p_cosine": cos.pvalue, "tau": tau.statistic}
            entry |= {"p_tau": tau.pvalue, "order_bpb": by_bpb, "order_f1": by_f1}
            found.append(entry)
            rows.append(
                [item["input"], family, len(answers), f"{f1.statistic:+.2f} (p = {f1.pvalue:.2g})",
                 f"{cos.statistic:+.2f} (p = {cos.pvalue:.2g})", f"{tau.statistic:+.2f} (p = {tau.pvalue:.2g})",
                 by_bpb, by_f1]
            )  # fmt: skip
    head = ["input", "runs", "answers", "Spearman bits/byte ~ token F1", "... ~ cosine", "Kendall: run order"]
    head += ["runs by bits/byte", "runs by token F1"]
    return table(head, rows), found


def disagreements(data: list[dict], least_f1: float = 0.1) -> list[dict]:
    """Questions where a variant makes the experts' answers less likely than its base yet scores a token F1 at least
    `least_f1` higher, or the reverse."""
    found = []
    for item in data:
        by = {(a["run"], a["question"]): a for a in item["answers"]}
        for entry in item["models"]:
            base, *variants = entry["runs"]
            for v in variants:
                for (run, q), a in by.items():
                    b = by.get((v["run_id"], q)) if run == base["run_id"] else None
                    if b is None or None in (a["expert_bpb"], b["expert_bpb"], a["token_f1"], b["token_f1"]):
                        continue
                    d_bpb, d_f1 = b["expert_bpb"] - a["expert_bpb"], b["token_f1"] - a["token_f1"]
                    if abs(d_f1) >= least_f1 and d_bpb * d_f1 > 0:  # less likely and higher F1, or the reverse
                        found.append({"input": item["input"], "base": base["model"], "variant": v["model"],
                                      "question": q, "d_bpb": d_bpb, "d_f1": d_f1})  # fmt: skip
    return found


def run(ctx: Context) -> Section:
    data = [one_input(ctx, name, pdfs, qa) for name, pdfs, qa in inputs(ctx)]
    return section({"inputs": data, "models": ctx.models})


def section(payload: dict) -> Section:
    """The section from its figures (also to render a saved choose.json again after its tables change)."""
    data = payload["inputs"]
    corr_text, corr = correlations(
        data, payload.get("models") or sorted({e["model"] for i in data for e in i["models"]})
    )
    odd = disagreements(data)
    verdicts = [f"- {item['input']}: {c['verdict']}" for item in data for e in item["models"] for c in e["compared"]]
    odd_rows = [[o["input"], o["variant"], o["question"][:80], f"{o['d_bpb']:+.3f}", f"{o['d_f1']:+.2f}"] for o in odd]
    text = "\n\n".join(
        [
            "Each catalog model (the packaged SmolLM2 is itself Q4_1, Gemma 3 270M Q4_K_M: every variant is "
            "requantized) and its variants at ratio 0.3, one repetition: accuracy, the experts' answers' likelihood "
            "(bits per byte: lower is more likely), drift from the base, and what the scoring and drift cost.",
            runs_table(data),
            "Every measure, each variant against its base (`ragq compare BASE Q8_0 Q2_K --json`; p adjusted by Holm "
            "over every measure and both variants; detectable: the smallest difference these questions detect with "
            "80 % power; questions needed: to detect the measure's own difference worth detecting):",
            measures_table(data),
            "The verdicts, as `ragq compare` prints them:",
            "\n".join(verdicts),
            "Retrieval at ratio 0.3 against 0.7 for each base model (`ragq compare` of the two runs):",
            ratios_table(data),
            "The likelihood against accuracy, over the answers of each input's runs (all of them, and each model's "
            "own: the model and its variants at both ratios):",
            corr_text,
            f"Questions where a variant makes the experts' answers less likely than its base yet scores a token F1 at "
            f"least 0.1 higher, or the reverse ({len(odd)}):",
            table(["input", "variant", "question", "bits/byte B - A", "token F1 B - A"], odd_rows) if odd else "none",
        ]
    )
    payload = {"inputs": data, "models": payload.get("models"), "correlations": corr, "disagreements": odd}
    return Section("choose", "Which one to run: every measure, the one that decides, drift", text, payload)
