"""Scheduling: each model of a 2-model grid measured alone, in turn (`ragq run`'s default), and both at once
(`--parallel 2`, the cores split between them). In turn should match alone within noise: a model's timings do not
depend on what else is in the grid. Demo set at ratio 0.3, every variant a new run in the same ingested home; per
answer: seconds (job wall as stored) and generation tokens/s (llama.cpp's own counters). In turn, the second
model's worker loads on standby while the first answers its last job: `gap` is the idle time between the first
model's last answer and the second model's first (before standby workers: the second worker's whole start)."""

import json
import time
from datetime import datetime

from bench.common import Context, Section, db_rows, fmt, ragq, spread, table
from bench.prepare import demo_home


def one_run(home, models: list[str], questions: str, *extra: str) -> dict[str, list[dict]]:
    args = ["run", *(x for m in models for x in ("--model", m)), "--ratio", "0.3", "--index", "demo"]
    out = json.loads(ragq(home, *args, "--questions", questions, "--new-run", "--json", *extra))
    per_model: dict[str, list[dict]] = {}
    for r in out["results"]:
        per_model.setdefault(r["model"], []).append(r)
    return per_model


def gap_s(home, models: list[str]) -> float:
    """Seconds between the first model's last answer and the second model's first answer, in the latest runs."""
    ends = []
    for model, first in ((models[0], False), (models[1], True)):
        pick = "min(r.started_at)" if first else "max(r.finished_at)"
        (value,) = db_rows(
            home,
            f"SELECT {pick} FROM results r JOIN jobs j ON r.job_id = j.id WHERE j.run_id = (SELECT max(runs.id) "
            "FROM runs JOIN models ON runs.model_id = models.id WHERE models.name = :m)",
            {"m": model},
        )[0]
        ends.append(datetime.fromisoformat(str(value)))
    return (ends[1] - ends[0]).total_seconds()


def measure(ctx: Context, home, models: list[str], questions: str) -> tuple[dict, dict, list[float]]:
    """Each model alone, both in turn, both with --parallel 2, `ctx.repeats` times: (answers per model and mode,
    the grid's wall seconds per mode, the idle gap between the models in turn)."""
    seen: dict[tuple[str, str], list[dict]] = {}
    grid: dict[str, list[float]] = {}
    gaps: list[float] = []
    for _ in range(ctx.repeats):
        for model in models:
            seen.setdefault((model, "alone"), []).extend(one_run(home, [model], questions)[model])
        for mode, extra in (("in turn", ()), ("--parallel 2", ("--parallel", "2"))):
            start = time.perf_counter()
            for model, rows in one_run(home, models, questions, *extra).items():
                seen.setdefault((model, mode), []).extend(rows)
            grid.setdefault(mode, []).append(time.perf_counter() - start)
            if mode == "in turn":
                gaps.append(gap_s(home, models))
    return seen, grid, gaps


def run(ctx: Context) -> Section:
    home = demo_home(ctx)
    questions = "one" if ctx.quick else "demo"
    models = ["smollm2-135m", "gemma3-270m"]
    seen, grid, gaps = measure(ctx, home, models, questions)
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
            f"The whole grid (`ragq run` of both models, wall): in turn {fmt(spread(grid['in turn']), 1)} s, "
            f"--parallel 2 {fmt(spread(grid['--parallel 2']), 1)} s; idle gap between the models in turn "
            f"{fmt(spread(gaps), 2)} s.",
        ]
    )
    data["grid_wall_s"] = {mode: spread(values) for mode, values in grid.items()}
    data["gap_s"] = spread(gaps)
    return Section("scheduling", "Scheduling: in turn against --parallel, beside each model alone", text, data)
