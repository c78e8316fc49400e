"""Placement: `ragq models tune` on each catalog model, and how close the machine's default comes to the best.

Each placement (generation threads `t`, prompt threads `b`) runs in a real worker, started as `ragq run` starts
it, on the demo guide's first four questions asked twice (ratio 0.3): prompt tok/s and generation tok/s are
llama.cpp's own counters per answer; `typical s` is the model's median prompt and answer lengths at the
placement's median speeds, which is how the winner is chosen. `default / best`: the default placement's typical
answer against the winner's (goal: within 5 %)."""

import json
import time

from bench.common import Context, Section, ragq, table


def one_model(ctx: Context, model: str) -> dict:
    home = ctx.home(f"tune-{model}")
    args = ["models", "tune", model, "--json", "--no-save"] + (["--quick"] if ctx.quick else [])
    start = time.perf_counter()
    out = json.loads(ragq(home, *args))
    return {"model": model, "rows": out["rows"], "seconds": time.perf_counter() - start}


def run(ctx: Context) -> Section:
    results = [one_model(ctx, model) for model in ctx.models]
    rows, verdicts = [], []
    for r in results:
        best = min(row["typical_s"] for row in r["rows"])
        default = next(row for row in r["rows"] if row["default"])
        verdicts.append(
            f"{r['model']}: default {default['placement']} {default['typical_s']:.2f} s against the best "
            f"{best:.2f} s ({default['typical_s'] / best:.3f}x; goal <= 1.05); the tune took {r['seconds']:.0f} s"
        )
        for row in r["rows"]:
            mark = " ".join(m for m, on in (("**winner**", row["winner"]), ("default", row["default"])) if on)
            rows.append(
                [r["model"], row["placement"]]
                + [_spread(row["prompt_tok_s"], 0), _spread(row["gen_tok_s"], 1), _spread(row["answer_s"], 2)]
                + [f"{row['typical_s']:.2f}", row["answers"], mark]
            )
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            table(["model", "placement", "prompt tok/s", "gen tok/s", "answer s", "typical s", "answers", ""], rows),
            "; ".join(verdicts) + ".",
        ]
    )
    return Section("tune", "Placement: `ragq models tune` and the default", text, {"models": results})


def _spread(d: dict, digits: int) -> str:
    return f"{d['median']:.{digits}f} ({d['min']:.{digits}f}-{d['max']:.{digits}f})"
