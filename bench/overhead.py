"""Overhead: what ragq adds to each answer over raw llama-cpp-python with the identical prompt and parameters.

ragq side: a real `ragq run` (embedded Redis, one Celery worker, SQLite) of the demo set at ratios 0.3 and 0.7,
one model at a time; a job's wall time runs from its start to its end in the database: claim, query embedding,
retrieval, prompt, generation, scoring, storing the result. Raw side: a fresh process that loads the same GGUF with
the same load settings and threads and calls `Llama.create_completion` on each stored prompt with the catalog's
sampling values and stop strings, resetting the KV cache before each as ragq does. `same answer`: answers whose text
is identical on both sides (seeded sampling: they should all be)."""

import json
import os
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
from ragq.shared.models.placement import Placement  # the worker's own placement arguments, "auto" resolved alike
placement = Placement(n_threads=int(sys.argv[2]))
supports = llama_cpp.llama_supports_gpu_offload()
load = {**spec.params.load(), **placement.load_args(spec.params.n_gpu_layers, supports), "verbose": False}
llm = llama_cpp.Llama(str(files.model_path(settings, spec)), **load)
sampling = spec.params.sampling()
llm.create_completion("Hello", **{**sampling, "max_tokens": 4})  # the same warm-up a worker does
out = []
for prompt in json.load(sys.stdin):
    llm.reset()
    start = time.perf_counter()
    done = llm.create_completion(prompt, **sampling, stop=spec.prompt.stop or None)
    seconds = time.perf_counter() - start
    out.append({"s": seconds, "tokens": done["usage"]["completion_tokens"], "text": done["choices"][0]["text"].strip()})
print(json.dumps(out))
"""


def ragq_jobs(home, model: str, questions: str, ratios: list[str]) -> list[dict]:
    args = ["run", "--model", model, "--index", "demo", "--questions", questions, "--new-run", "--json"]
    for r in ratios:
        args += ["--ratio", r]
    ids = sorted({r["run_id"] for r in json.loads(ragq(home, *args))["results"]})
    rows = db_rows(
        home,
        "SELECT r.prompt, r.started_at, r.finished_at, r.total_s, r.gen_tokens, r.answer FROM results r "
        f"JOIN jobs j ON r.job_id = j.id WHERE j.run_id IN ({','.join(map(str, ids))}) ORDER BY r.id",
    )
    from datetime import datetime

    def seconds(a, b) -> float:
        return (datetime.fromisoformat(str(b)) - datetime.fromisoformat(str(a))).total_seconds()

    return [{"prompt": p, "job_s": seconds(s, f), "gen_s": t, "tokens": n, "answer": a} for p, s, f, t, n, a in rows]


def raw_side(home, model: str, prompts: list[str], threads: int) -> list[dict]:
    cmd = [sys.executable, "-c", RAW, model, str(threads)]
    done = subprocess.run(cmd, input=json.dumps(prompts), env=env_for(home), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"raw llama-cpp-python failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(ctx: Context) -> Section:
    home = demo_home(ctx)
    questions, ratios = ("one", ["0.3"]) if ctx.quick else ("demo", ["0.3", "0.7"])
    threads = os.cpu_count() or 1
    rows, data = [], []
    for model in ctx.models:
        jobs = ragq_jobs(home, model, questions, ratios)
        raw = raw_side(home, model, [j["prompt"] for j in jobs], threads)
        per_job = [j["job_s"] / r["s"] for j, r in zip(jobs, raw, strict=True)]
        extra_ms = [(j["job_s"] - r["s"]) * 1000 for j, r in zip(jobs, raw, strict=True)]
        same = sum(j["answer"] == r["text"] for j, r in zip(jobs, raw, strict=True))
        job_s, raw_s = spread([j["job_s"] for j in jobs]), spread([r["s"] for r in raw])
        entry = {"model": model, "jobs": jobs, "raw": raw, "ratio": spread(per_job), "extra_ms": spread(extra_ms)}
        data.append({**entry, "jobs": [{k: v for k, v in j.items() if k != "prompt"} for j in jobs]})
        gen_s = spread([j["gen_s"] for j in jobs])
        rows.append(
            [
                model,
                len(jobs),
                fmt(raw_s, 2),
                fmt(gen_s, 2),
                fmt(job_s, 2),
                f"{statistics.median(per_job):.3f}",
                fmt(spread(extra_ms), 0),
                f"{same}/{len(jobs)}",
            ]
        )
    header = [
        "model",
        "answers",
        "raw s",
        "ragq generation s",
        "ragq job s",
        "job / raw (median)",
        "ragq adds ms",
        "same answer",
    ]
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            f"Seconds per answer, median (min-max) over the answers; {threads} threads on both sides.",
            table(header, rows),
        ]
    )
    return Section("overhead", "Overhead per job over raw llama-cpp-python", text, {"models": data})
