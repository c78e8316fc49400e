"""Scheduling: each model of a 2-model grid measured alone, in turn (`ragq run`'s default), and both at once
(`--parallel 2`, the cores split between them). In turn should match alone within noise: a model's timings do not
depend on what else is in the grid. Demo set at ratio 0.3, every variant a new run in the same ingested home; per
answer: seconds (job wall as stored) and generation tokens/s (llama.cpp's own counters)."""

import json

from bench.common import Context, Section, fmt, ragq, spread, table
from bench.prepare import demo_home


def one_run(home, models: list[str], questions: str, *extra: str) -> dict[str, list[dict]]:
    args = ["run", *(x for m in models for x in ("--model", m)), "--ratio", "0.3", "--index", "demo"]
    out = json.loads(ragq(home, *args, "--questions", questions, "--new-run", "--json", *extra))
    per_model: dict[str, list[dict]] = {}
    for r in out["results"]:
        per_model.setdefault(r["model"], []).append(r)
    return per_model


def run(ctx: Context) -> Section:
    home = demo_home(ctx)
    questions = "one" if ctx.quick else "demo"
    models = ["smollm2-135m", "gemma3-270m"]
    seen: dict[tuple[str, str], list[dict]] = {}
    for _ in range(ctx.repeats):
        for model in models:
            seen.setdefault((model, "alone"), []).extend(one_run(home, [model], questions)[model])
        for mode, extra in (("in turn", ()), ("--parallel 2", ("--parallel", "2"))):
            for model, rows in one_run(home, models, questions, *extra).items():
                seen.setdefault((model, mode), []).extend(rows)
    modes = ["alone", "in turn", "--parallel 2"]
    rows, data = [], {}
    for model in models:
        secs = {m: spread([r["total_s"] for r in seen[(model, m)]]) for m in modes}
        rates = {m: spread([r["gen_tokens"] / r["gen_s"] for r in seen[(model, m)] if r["gen_s"]]) for m in modes}
        data[model] = {"seconds": secs, "gen_tok_s": rates}
        ratio = {m: secs[m]["median"] / secs["alone"]["median"] for m in modes}
        rows.append(
            [model, *(fmt(secs[m], 2) for m in modes), *(fmt(rates[m], 0) for m in modes),
             f"{ratio['in turn']:.2f}", f"{ratio['--parallel 2']:.2f}"]
        )  # fmt: skip
    header = ["model", *(f"s/answer {m}" for m in modes), *(f"tok/s {m}" for m in modes)]
    header += ["in turn / alone", "parallel / alone"]
    text = "\n\n".join(
        [
            __doc__.replace("\n", " "),
            f"Median (min-max) over every answer of {ctx.repeats} repeat(s) of the `{questions}` set.",
            table(header, rows),
        ]
    )
    return Section("scheduling", "Scheduling: in turn against --parallel, beside each model alone", text, data)
