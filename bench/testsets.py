"""Generated question sets against the experts' (`ragq questions generate`, `ragq questions check`): on the demo
guide (8 questions) and the 8 FinanceBench documents (36 analysts' questions), a set generated as a user would (a
model writing the questions, the cloze where its question fails a filter, each counted: 150 on FinanceBench) for its
counts and samples; then the 8 variants of the choose section (each catalog model, its Q8_0 and Q2_K at ratio 0.3,
the base at 0.7) run on the experts' questions and on a smaller generated set (three filters measured but not
enforced, so the same runs show the agreement with every filter and without each one), and the check: Kendall's tau
per measure, the pairwise verdicts that agree, the subsample curve. Also what generation costs per question for each
writer. Not in `--quick` (tests/integration/test_testsets.py runs the commands): about 80 minutes on 2 cores."""

import json
import shutil
import statistics

from bench.common import FINANCEBENCH, Context, Section, demo_files, ragq, table

MEASURED = ("needs_page", "duplicate", "retrievable")  # measured on every question, enforced only in the subsets
WRITER = "smollm2-135m"
QUANTS, RATIO, OTHER_RATIO = "Q8_0,Q2_K", "0.3", "0.7"


def inputs(ctx: Context) -> list[tuple[str, list, object, int, int]]:
    """(name, pdfs, expert question file, questions to generate, of which the variants answer) per input present."""
    folder = ctx.home("testsets-inputs")
    pdf_file, qa_file = demo_files()
    with pdf_file as pdf, qa_file as qa:
        shutil.copy(pdf, folder / "guide.pdf")
        shutil.copy(qa, folder / "guide-qa.txt")
    found = [("demo guide", [folder / "guide.pdf"], folder / "guide-qa.txt", 40, 40)]
    if (FINANCEBENCH / "pdfs").is_dir():
        records = json.loads((FINANCEBENCH / "qa_7docs.json").read_text())
        records += json.loads((FINANCEBENCH / "qa_ulta.json").read_text())
        (folder / "all.json").write_text(json.dumps(records))
        docs = sorted({r["doc"] for r in records})
        found.append((f"FinanceBench, {len(docs)} documents", [FINANCEBENCH / "pdfs" / d for d in docs],
                      folder / "all.json", 150, 60))  # fmt: skip
    return found


def _variants(home, qset: str, models: list[str]) -> None:
    for model in models:
        ragq(home, "run", "--model", model, "--quants", QUANTS, "--ratio", RATIO, "--index", "docs",
             "--questions", qset, "--json")  # fmt: skip
        ragq(home, "run", "--model", model, "--ratio", OTHER_RATIO, "--index", "docs", "--questions", qset, "--json")


def _generate(home, name: str, count: int, measured_only: bool, answer: str = "span") -> dict:
    without = [arg for f in MEASURED for arg in ("--without", f)] if measured_only else []
    return json.loads(ragq(home, "questions", "generate", "docs", "--set", name, "--count", str(count), "--model",
                           WRITER, "--seed", "0", "--answer", answer, *without, "--json"))  # fmt: skip


def sentence_answers(home, count: int, models: list[str]) -> dict:
    """The answered set again with the span's sentence as the reference answer (`--answer sentence`), on the same
    pages and spans, run by the same variants and checked against the same expert runs."""
    _generate(home, "generated-sentence", count, measured_only=True, answer="sentence")
    _variants(home, "generated-sentence", models)
    return json.loads(ragq(home, "questions", "check", "generated-sentence", "--against", "expert", "--json"))


def one_input(ctx: Context, name: str, pdfs: list, qa, count: int, answered: int, last: bool) -> dict:
    """The set generated as a user would, every filter enforced (its counts and samples), and a set of `answered`
    questions with three filters measured but not enforced, which every variant answers (so that the same runs
    show the agreement with and without each filter)."""
    home = ctx.home("testsets-" + name.split(",")[0].replace(" ", "-").lower())
    ragq(home, "ingest", *map(str, pdfs), "--index", "docs")
    ragq(home, "questions", "import", str(qa), "--set", "expert")
    whole = _generate(home, "generated-whole", count, measured_only=False)
    made = _generate(home, "generated", answered, measured_only=True)
    shown = json.loads(ragq(home, "questions", "show", "generated", "--json"))
    for qset in ("expert", "generated"):
        _variants(home, qset, ctx.models)
    checked = json.loads(ragq(home, "questions", "check", "generated", "--against", "expert", "--json"))
    whole_questions = json.loads(ragq(home, "questions", "show", "generated-whole", "--json"))["questions"]
    return {"input": name, "whole": whole, "whole_questions": whole_questions, "generated": made,
            "questions": shown["questions"], "check_all_generated": checked,
            "subsets": subsets(home, shown["questions"]), "cost": cost(ctx, home) if last else {},
            "sentence": sentence_answers(home, answered, ctx.models) if not last else None}  # fmt: skip


def subsets(home, questions: list[dict]) -> dict:
    """The check over the generated questions that pass every filter, that pass all but one, and all of them."""
    from ragq.producer.testset import agreement
    from ragq.shared.config import load_settings
    from ragq.shared.store.door import Store

    matched, rows = Store(load_settings(home=home)).matched_answers("generated", "expert")
    fails = {q["question"]: set(q["origin"]["fails"]) for q in questions}
    out = {}
    for label, allowed in [("every filter", set()), *[(f"without {f}", {f}) for f in MEASURED],
                           ("no filter", set(MEASURED))]:  # fmt: skip
        keep = {q for q, failed in fails.items() if failed <= allowed}
        variants = [agreement.Variant(m.label, [r for r in rows if r.run_id == m.expert_run],
                                      [r for r in rows if r.run_id == m.generated_run and r.question in keep])
                    for m in matched]  # fmt: skip
        out[label] = {"questions": len(keep), **agreement.check(variants)}
    return out


def cost(ctx: Context, home) -> dict:
    """Seconds per generated question for each writer: the cloze alone and each catalog model (20 questions)."""
    out = {}
    for writer in [None, *ctx.models]:
        args = ["--model", writer] if writer else []
        name = f"cost-{writer or 'cloze'}"
        made = json.loads(ragq(home, "questions", "generate", "docs", "--set", name, "--count", "20", *args,
                               "--seed", "1", "--json"))  # fmt: skip
        p = made["provenance"]
        out[writer or "cloze"] = {"seconds_per_question": p["seconds_per_question"], "written": p["written"],
                                  "write_s": p["write_seconds_per_question"], "removed": p["removed"]}  # fmt: skip
    return out


def run(ctx: Context) -> Section:
    found = inputs(ctx)
    data = [one_input(ctx, *item, last=i == len(found) - 1) for i, item in enumerate(found)]
    return section({"inputs": data, "models": ctx.models})


def _tau(f: dict) -> list[str]:
    return ["-" if f["tau"][m] is None else f"{f['tau'][m]:.2f}" for m in ("expert_bpb", "token_f1", "cosine")]


def check_table(data: list[dict]) -> str:
    head = ["input", "generated questions", "tau likelihood", "tau token F1", "tau cosine", "verdicts agree",
            "expert decides / generated decides", "missed", "contradicted", "questions needed", "passed"]  # fmt: skip
    rows = []
    for item in data:
        for label, f in item["subsets"].items():
            a = f["agreement"]
            rows.append([item["input"], f"{f['questions']} ({label})", *_tau(f), f"{a['verdicts_agree']:.2f}",
                         f"{a['expert_decided']} / {a['generated_decided']}", a["missed"], a["contradicted"],
                         f["questions_needed"] or "-", "yes" if f["passed"] else "no"])  # fmt: skip
    return table(head, rows)


def runs_table(data: list[dict]) -> str:
    head = ["input", "variant", "likelihood expert", "likelihood generated", "token F1 expert", "token F1 generated"]
    rows = []
    for item in data:
        f = item["subsets"]["every filter"]
        for i, label in enumerate(f["runs"]):
            m = f["means"]
            rows.append([item["input"], label, *[f"{m[k][side][i]:.3f}" if m[k][side][i] is not None else "-"
                                                 for k in ("expert_bpb", "token_f1") for side in ("expert", "generated")]])  # fmt: skip
    return table(head, rows)


def curve_table(data: list[dict]) -> str:
    rows = [[item["input"], p["questions"], f"{p['median']:.2f}", f"{p['p10']:.2f} - {p['p90']:.2f}",
             f"{100 * p['reach']:.0f} %"] for item in data for p in item["subsets"]["every filter"]["curve"]]  # fmt: skip
    return table(["input", "generated questions", "median tau", "10th - 90th", "subsets with tau >= 0.7"], rows)


def generation_table(data: list[dict]) -> str:
    head = ["input", "kept", "written by model / cloze", "fell back to cloze", "outputs cut", "removed by filter",
            "kept but failing (measured)", "retrievable BM25 / dense", "s per question"]  # fmt: skip
    rows = []
    for item in data:
        p = item["whole"]["provenance"]
        rows.append([item["input"], item["whole"]["questions"],
                     f"{p['written'].get('model', 0)} / {p['written'].get('cloze', 0)}", p["fallbacks_to_cloze"],
                     p["model_outputs_cut"], json.dumps(p["removed"]), json.dumps(p["kept_failing"]),
                     f"{p['retrievable']['bm25']} / {p['retrievable']['dense']}", f"{p['seconds_per_question']:.2f}"])  # fmt: skip
    return table(head, rows)


def answers_table(data: list[dict]) -> str:
    """The same questions with the span, and with its sentence, as the reference answer."""
    head = ["input", "reference answer", "tau likelihood", "tau token F1", "tau cosine", "verdicts agree",
            "expert decides / generated decides", "missed", "contradicted", "passed"]  # fmt: skip
    rows = []
    for item in data:
        for label, f in (("span", item["check_all_generated"]), ("sentence", item.get("sentence"))):
            if f:
                a = f["agreement"]
                rows.append([item["input"], label, *_tau(f), f"{a['verdicts_agree']:.2f}",
                             f"{a['expert_decided']} / {a['generated_decided']}", a["missed"], a["contradicted"],
                             "yes" if f["passed"] else "no"])  # fmt: skip
    return table(head, rows)


def cost_table(data: list[dict]) -> str:
    rows = [[item["input"], writer, f"{c['seconds_per_question']:.3f}", json.dumps(c["written"]),
             json.dumps(c["write_s"])] for item in data for writer, c in item["cost"].items()]  # fmt: skip
    return table(["input", "writer", "s per kept question", "written", "s per writing, by method"], rows)


def samples(data: list[dict], n: int = 10) -> str:
    lines = []
    for item in data[-1:]:
        step = max(1, len(item["whole_questions"]) // n)
        for q in item["whole_questions"][::step][:n]:
            o = q["origin"]
            lines.append(f"- ({o['method']}, {o['kind']}, {q['doc']} p. {q['evidence_pages'][0]}) "
                         f"{q['question']} -> **{q['answer']}**")  # fmt: skip
    return "\n".join(lines)


def section(payload: dict) -> Section:
    data = payload["inputs"]
    seconds = [q["origin"]["seconds"] for item in data for q in item["whole_questions"]]
    text = "\n\n".join([
        f"Generation as a user runs it (`ragq questions generate docs --model {WRITER} --count N`, every filter "
        "enforced):",
        generation_table(data),
        "Ten of the FinanceBench questions, verbatim (method, span kind, evidence page, then the reference answer):",
        samples(data),
        "The check, `ragq questions check generated --against expert` over the 8 variants, on the answered set (40 "
        "wanted on the demo guide, 60 on FinanceBench, three filters measured but not enforced): its questions "
        "that pass every filter, all but one, and all of them (tau: Kendall between the runs' orderings; verdicts: "
        "the 28 pairs of runs compared as `ragq compare` does; missed: an expert verdict the generated set leaves "
        "undecided; contradicted: decided the other way):",
        check_table(data),
        "The runs' means on both sets (generated: every filter):",
        runs_table(data),
        "The span or its sentence as the reference answer (`--answer sentence`, on the demo guide: every question "
        "of the answered set, the same variants; a run that did not measure the sentence form has span rows only):",
        answers_table(data),
        "Tau by the likelihood against the number of generated questions (every filter; 200 random subsets a size):",
        curve_table(data),
        f"What generation costs (20 questions per writer, seed 1); writing alone averaged "
        f"{statistics.fmean(seconds):.3f} s over the main sets' questions:" if seconds else "What generation costs:",
        cost_table(data),
    ])  # fmt: skip
    return Section("testsets", "Generated question sets against the experts'", text, payload)
