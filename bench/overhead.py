"""Overhead: what ragq adds to each answer over raw llama-cpp-python with the identical prompt, parameters and
placement, and how fast llama.cpp runs inside a worker against a bare process.

ragq side: a real `ragq run` (embedded Redis, one Celery worker, SQLite) of the demo set at ratio 0.3,
one model at a time; a job's wall time runs from its start to its end in the database: claim, query embedding,
retrieval, prompt, generation, reading the expert's answer teacher-forced (its likelihood), scoring, storing the
result. `expert ms` and `share of job`: that teacher-forced reading alone, per job, and its share of the job's wall
time (goal <= 5 %). Raw side: a fresh process that loads the same GGUF with
the same load settings and placement (generation threads t, prompt threads b) and calls `Llama.create_completion`
on each stored prompt with the catalog's sampling values and stop strings, resetting the KV cache before each as
ragq does. Prompt and generation tok/s on both sides are llama.cpp's own counters per answer (prompt tokens over
prompt evaluation time, generated tokens over generation time). The default placement on both sides. The two
sides run in turn, three rounds of each (worker, bare, worker, bare, ...): on a shared VM two processes minutes
apart differ by up to 8 % in generation speed, as much as the gap being measured. `same answer`: answers whose text
is identical on both sides (seeded sampling: they should all be)."""

import json
import statistics
import subprocess
import sys

from bench.common import Context, Section, db_rows, env_for, fmt, ragq, spread, table
from bench.prepare import demo_home

RAW = r"""
import json, sys, time
import llama_cpp
from ragq.shared.models import catalog, files
from ragq.shared.config import load_settings
settings = load_settings()
spec = catalog.get_model(settings, sys.argv[1])
from ragq.shared.models.placement import Placement
from ragq.shared.rag.loader import load_arguments, open_llama  # the worker's loader: the same arguments, no runner
placement = Placement(n_threads=int(sys.argv[2]), n_threads_batch=int(sys.argv[3]))
load = load_arguments(spec, placement, llama_cpp.llama_supports_gpu_offload())
llm = open_llama(files.model_path(settings, spec), load)
sampling = spec.params.sampling()
llm.create_completion("Hello", **{**sampling, "max_tokens": 4})  # the same warm-up a worker does
out = []
for prompt in json.load(sys.stdin):
    llm.reset()
    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
    start = time.perf_counter()
    done = llm.create_completion(prompt, **sampling, stop=spec.prompt.stop or None)
    seconds = time.perf_counter() - start
    perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
    rate = lambda n, ms: n / (ms / 1000) if ms else None
    out.append({"s": seconds, "tokens": done["usage"]["completion_tokens"], "text": done["choices"][0]["text"].strip(),
                "pp_tok_s": rate(perf.n_p_eval, perf.t_p_eval_ms), "tg_tok_s": rate(perf.n_eval, perf.t_eval_ms)})
llm.close()
print(json.dumps(out))
"""


def ragq_jobs(home, model: str, questions: str, ratios: list[str], threads: int, batch: int) -> list[dict]:
    args = ["run", "--model", model, "--index", "demo", "--questions", questions, "--new-run", "--json"]
    args += ["--threads", str(threads), "--threads-batch", str(batch)]
    for r in ratios:
        args += ["--ratio", r]
    ids = sorted({r["run_id"] for r in json.loads(ragq(home, *args))["results"]})
    rows = db_rows(
        home,
        "SELECT r.prompt, r.started_at, r.finished_at, r.total_s, r.gen_tokens, r.answer, r.prompt_tokens, "
        f"r.prompt_eval_s, r.gen_s, r.expert_s, r.expert_tokens FROM results r JOIN jobs j ON r.job_id = j.id "
        "WHERE j.run_id IN "
        f"({','.join(map(str, ids))}) ORDER BY r.id",
    )
    from datetime import datetime

    def seconds(a, b) -> float:
        return (datetime.fromisoformat(str(b)) - datetime.fromisoformat(str(a))).total_seconds()

    return [
        {"prompt": p, "job_s": seconds(s, f), "gen_s": t, "tokens": n, "answer": a}
        | {"pp_tok_s": pt / pe if pe else None, "tg_tok_s": n / gs if gs else None}
        | {"expert_s": es, "expert_tokens": et, "expert_share": es / seconds(s, f) if es is not None else None}
        for p, s, f, t, n, a, pt, pe, gs, es, et in rows
    ]


def raw_side(
    home, model: str, prompts: list[str], threads: int, batch: int, extra_env: dict | None = None
) -> list[dict]:
    """The bare process on `prompts`; extra_env: e.g. PYTHONPATH for another llama-cpp-python build (bench build)."""
    cmd = [sys.executable, "-c", RAW, model, str(threads), str(batch)]
    env = env_for(home, **(extra_env or {}))
    done = subprocess.run(cmd, input=json.dumps(prompts), env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"raw llama-cpp-python failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(home, model: str, questions: str, ratios: list[str], placement: tuple[int, int], rounds: int):
    """The worker and the bare process in turn, `rounds` times (worker, bare, worker, bare, ...), so that the
    drift of a shared VM over minutes falls on both sides alike; each round's ratio is kept to show the noise."""
    threads, batch = placement
    jobs, raw, per_round = [], [], []
    for _ in range(rounds):
        these = ragq_jobs(home, model, questions, ratios, threads, batch)
        bare = raw_side(home, model, [j["prompt"] for j in these], threads, batch)
        jobs, raw = jobs + these, raw + bare
        per_round.append({key: median_of(these, key) / median_of(bare, key) for key in ("pp_tok_s", "tg_tok_s")})
    pairs = list(zip(jobs, raw, strict=True))
    per_job = [j["job_s"] / r["s"] for j, r in pairs]
    extra_ms = [(j["job_s"] - r["s"]) * 1000 for j, r in pairs]
    speed = {
        side: {key: spread([x[key] for x in rows if x[key]]) for key in ("pp_tok_s", "tg_tok_s")}
        for side, rows in (("worker", jobs), ("bare", raw))
    }
    ratios_ = {key: speed["worker"][key]["median"] / speed["bare"][key]["median"] for key in ("pp_tok_s", "tg_tok_s")}
    rounds_ = {key: spread([r[key] for r in per_round]) for key in ("pp_tok_s", "tg_tok_s")}
    row = [model, f"t{threads}/b{batch}", f"{len(jobs)} ({rounds})", fmt(spread([r["s"] for r in raw]), 2)]
    row += [fmt(spread([j["job_s"] for j in jobs]), 2), f"{statistics.median(per_job):.3f}", fmt(spread(extra_ms), 0)]
    row += [fmt(speed["worker"]["pp_tok_s"], 0), fmt(speed["bare"]["pp_tok_s"], 0)]
    row += [f"{ratios_['pp_tok_s']:.2f}", fmt(rounds_["pp_tok_s"], 2)]
    row += [fmt(speed["worker"]["tg_tok_s"], 1), fmt(speed["bare"]["tg_tok_s"], 1)]
    row += [f"{ratios_['tg_tok_s']:.2f}", fmt(rounds_["tg_tok_s"], 2)]
    row += [f"{sum(j['answer'] == r['text'] for j, r in pairs)}/{len(jobs)}"]
    scored = [j for j in jobs if j["expert_s"] is not None]
    row += [
        fmt(spread([1000 * j["expert_s"] for j in scored]), 0),
        fmt(spread([j["expert_tokens"] for j in scored]), 0),
    ]
    row += [fmt(spread([100 * j["expert_share"] for j in scored]), 1) + " %"]
    entry = {"model": model, "placement": [threads, batch], "ratio": spread(per_job), "extra_ms": spread(extra_ms)}
    entry |= {"speed": speed, "worker_over_bare": ratios_, "per_round": per_round, "raw": raw}
    entry["jobs"] = [{k: v for k, v in j.items() if k != "prompt"} for j in jobs]
    return row, entry


def median_of(rows: list[dict], key: str) -> float:
    return statistics.median(x[key] for x in rows if x[key])


def run(ctx: Context) -> Section:
    from ragq.shared.models.placement import default_placement

    home = demo_home(ctx)
    default = default_placement()[0]
    placement = (default.n_threads, default.batch_threads)
    questions, rounds = ("one", 1) if ctx.quick else ("demo", 3)
    rows, data = [], []
    for model in ctx.models:
        row, entry = compare(home, model, questions, ["0.3"], placement, rounds)
        rows.append(row)
        data.append(entry)
    header = ["model", "placement", "answers (rounds)", "raw s", "ragq job s", "job / raw", "ragq adds ms"]
    header += ["pp tok/s worker", "pp bare", "pp worker/bare", "per round", "tg tok/s worker", "tg bare"]
    header += ["tg worker/bare", "per round", "same", "expert ms", "expert tokens", "share of job"]
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            "Seconds and tok/s per answer, median (min-max) over the answers; worker/bare: ratio of the medians over "
            "every round (goal >= 0.95 for both at the default placement); per round: that ratio in each round, "
            "median (min-max), which is the noise a single pair of processes carries on this machine.",
            table(header, rows),
        ]
    )
    return Section("overhead", "Overhead per job over raw llama-cpp-python", text, {"models": data})
