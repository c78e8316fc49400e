"""Build: llama.cpp built for this CPU's own instructions (what scripts/setup.sh installs on x86 Linux) against the
portable AVX2 build (`RAGQ_LLAMA_BACKEND=cpu-portable`), on the same prompts at the same placement.

Both sides are the bare process of the overhead section (the catalog's load settings and sampling, the KV cache
reset before each prompt); the portable side is the same interpreter with the portable wheel unpacked first on its
path. The prompts are the ones ragq stored for the demo guide's questions and, where the team data is beside the
checkout, for BOEING's 10-K (FinanceBench's 7 questions: prompts of 700-1,250 tokens). The builds run in turn,
three rounds each. On request only (`--only build`): it needs the portable wheel in the wheel cache, which
`RAGQ_LLAMA_BACKEND=cpu-portable RAGQ_VENV=/tmp/portable bash scripts/setup.sh` leaves there."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common import FINANCEBENCH, Context, Section, db_rows, fmt, llama_features, ragq, spread, table
from bench.overhead import median_of, raw_side
from bench.prepare import demo_home

SYSTEM_INFO = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"


def portable_wheel() -> Path:
    cache = Path(os.environ.get("RAGQ_WHEEL_CACHE", Path.home() / ".cache" / "ragq" / "wheels"))
    found = sorted(cache.glob("llama_cpp_python-*.whl"))  # the portable build's folder is the cache itself
    if not found:
        raise SystemExit(
            f"build: no portable llama-cpp-python wheel in {cache}: make one with "
            "`RAGQ_LLAMA_BACKEND=cpu-portable RAGQ_VENV=/tmp/portable bash scripts/setup.sh`, then run this again."
        )
    return found[-1]


def features(extra_env: dict) -> str:
    """The instruction sets a build uses, from llama_print_system_info() in a process that imports it."""
    done = subprocess.run([sys.executable, "-c", SYSTEM_INFO], env={**os.environ, **extra_env}, capture_output=True,
                          text=True, check=True)  # fmt: skip
    return llama_features(done.stdout)


def prompt_sets(ctx: Context, model: str) -> list[tuple[str, list[str]]]:
    """(name, prompts ragq built for `model`): the demo guide's, and BOEING's 10-K's when the team data is here."""
    questions = "one" if ctx.quick else "demo"
    sets = [("demo guide", stored_prompts(demo_home(ctx), model, "demo", questions))]
    if not ctx.quick and (FINANCEBENCH / "pdfs" / "BOEING_2022_10K.pdf").exists():
        sets.append(("BOEING 10-K", stored_prompts(boeing_home(ctx), model, "doc", "qa")))
    return sets


def boeing_home(ctx: Context) -> Path:
    """A home with BOEING's 10-K ingested as `doc` and its FinanceBench questions as `qa`, made once per bench run."""
    if "build_boeing" not in ctx.shared:
        from bench.study import inputs

        home = ctx.home("build-boeing")
        pdf, qa, _ = inputs(ctx)
        ragq(home, "ingest", str(pdf), "--index", "doc")
        ragq(home, "questions", "import", str(qa), "--set", "qa")
        ctx.shared["build_boeing"] = home
    return ctx.shared["build_boeing"]


def stored_prompts(home: Path, model: str, index: str, questions: str) -> list[str]:
    args = ["run", "--model", model, "--ratio", "0.3", "--index", index, "--questions", questions, "--json"]
    out = json.loads(ragq(home, *args))
    ids = ",".join(str(r["job_id"]) for r in out["results"])
    return [p for (p,) in db_rows(home, f"SELECT prompt FROM results WHERE job_id IN ({ids}) ORDER BY id")]


def compare_builds(home: Path, model: str, prompts: list[str], sides: dict, placement: tuple, rounds: int) -> dict:
    """Both builds on the same prompts, `rounds` times in turn: tok/s, the ratio per round, answers' seconds."""
    threads, batch = placement
    measured: dict[str, list[dict]] = {side: [] for side in sides}
    per_round = []
    for _ in range(rounds):
        this = {side: raw_side(home, model, prompts, threads, batch, env) for side, env in sides.items()}
        for side in sides:
            measured[side] += this[side]
        per_round.append({k: median_of(this["native"], k) / median_of(this["portable"], k)
                          for k in ("pp_tok_s", "tg_tok_s")})  # fmt: skip
    speed = {side: {k: spread([x[k] for x in rows_ if x[k]]) for k in ("pp_tok_s", "tg_tok_s")}
             for side, rows_ in measured.items()}  # fmt: skip
    return {
        "speed": speed,
        "native_over_portable": {
            k: speed["native"][k]["median"] / speed["portable"][k]["median"] for k in ("pp_tok_s", "tg_tok_s")
        },  # fmt: skip
        "per_round": per_round,
        "seconds": {side: statistics.median(x["s"] for x in rows_) for side, rows_ in measured.items()},
        "same_answers": sum(
            a["text"] == b["text"] for a, b in zip(measured["native"], measured["portable"], strict=True)
        ),
        "answers": len(measured["native"]),
    }


def build_row(model: str, name: str, prompts: list[str], rounds: int, placement: tuple, c: dict) -> list:
    speed, ratio, seconds = c["speed"], c["native_over_portable"], c["seconds"]
    return [
        model, name, f"{len(prompts)} x {rounds}", f"t{placement[0]}/b{placement[1]}",
        fmt(speed["portable"]["pp_tok_s"], 0), fmt(speed["native"]["pp_tok_s"], 0), f"{ratio['pp_tok_s']:.2f}",
        fmt(spread([r["pp_tok_s"] for r in c["per_round"]]), 2),
        fmt(speed["portable"]["tg_tok_s"], 1), fmt(speed["native"]["tg_tok_s"], 1), f"{ratio['tg_tok_s']:.2f}",
        fmt(spread([r["tg_tok_s"] for r in c["per_round"]]), 2),
        f"{seconds['portable'] / seconds['native']:.2f}", f"{c['same_answers']}/{c['answers']}",
    ]  # fmt: skip


def run(ctx: Context) -> Section:
    from ragq.shared.models.placement import default_placement

    portable = ctx.work / "portable-llama"
    wheel = portable_wheel()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(portable), str(wheel)],
                   check=True, capture_output=True)  # fmt: skip
    sides = {"native": {}, "portable": {"PYTHONPATH": str(portable)}}
    built = {name: features(env) for name, env in sides.items()}
    default = default_placement()[0]
    placement = (default.n_threads, default.batch_threads)
    rounds = 1 if ctx.quick else 3
    home = demo_home(ctx)
    rows, data = [], []
    for model in ctx.models:
        for name, prompts in prompt_sets(ctx, model):
            c = compare_builds(home, model, prompts, sides, placement, rounds)
            rows.append(build_row(model, name, prompts, rounds, placement, c))
            data.append({"model": model, "prompts": name, **{k: v for k, v in c.items() if k != "answers"}})
    header = ["model", "prompts", "answers x rounds", "placement", "pp tok/s portable", "pp native", "pp native/portable",
              "per round", "tg tok/s portable", "tg native", "tg native/portable", "per round",
              "answer s portable/native", "same answer"]  # fmt: skip
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            f"native: {built['native']}; portable: {built['portable']}. tok/s per answer, median (min-max); "
            "native/portable: ratio of the medians (above 1: the native build is faster); per round: that ratio in "
            "each round; answer s: the median answer's seconds, portable over native. `same answer`: identical text "
            "on both builds (other instructions may round differently, so a few answers can differ).",
            table(header, rows),
        ]
    )
    return Section("build", "Build: llama.cpp for this CPU against the portable build", text,
                   {"features": built, "rows": data})  # fmt: skip
