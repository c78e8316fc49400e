"""Start-up: from `ragq run` to the first answer of a 98 MB model, and where the worker's start goes.

One question (the demo set's first), SmolLM2, ratio 0.3, each repeat a new run in an already ingested home (the
broker, database and index exist; the worker process is new each time, as for a user's second `ragq run`).
`to first answer`: from launching `ragq run` to the first result's end time in the database. The worker's phases
come from its own log line ("ready in ..."): imports (interpreter start, ragq, Celery, llama.cpp), catalog (spec,
file hash), model load, one warm-up generation, embedder load and warm-up, index load. Both embedder runtimes:
torch (sentence-transformers, what ragq ran before) and onnx (the default now), on the same fp32 index of the guide
(torch has no int8)."""

import json
import time
from datetime import UTC, datetime

from bench.common import Context, Section, db_rows, demo_files, env_for, fmt, ragq, spread, table
from bench.prepare import demo_home

MODEL = "smollm2-135m"
PHASES = ["imports", "catalog", "model", "warmup", "embedder", "index"]
INDEX = "demo-fp32"


def last_ready_line(home, model: str) -> dict:
    lines = (home / "logs" / f"worker-{model}.log").read_text(errors="replace").splitlines()
    ready = [line for line in lines if "ready in" in line]
    return json.loads(ready[-1][ready[-1].index("{") :]) if ready else {}


def one_start(home, runtime: str) -> dict:
    import subprocess
    import sys

    env = env_for(home, RAGQ_EMBEDDER_RUNTIME=runtime)
    cmd = [sys.executable, "-m", "ragq.producer.cli", "run", "--model", MODEL, "--ratio", "0.3"]
    cmd += ["--index", INDEX, "--questions", "one", "--new-run", "--json"]
    launched = datetime.now(UTC).replace(tzinfo=None)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"ragq run failed: {done.stderr[-2000:]}")
    (first,) = db_rows(home, "SELECT min(finished_at) FROM results WHERE started_at >= :t", {"t": launched})[0]
    first = datetime.fromisoformat(str(first))
    return {
        "runtime": runtime,
        "to_first_answer_s": (first - launched).total_seconds(),
        "run_wall_s": wall,
        "worker": last_ready_line(home, MODEL),
    }


def run(ctx: Context) -> Section:
    home = demo_home(ctx)
    pdf_file, _ = demo_files()
    with pdf_file as pdf:
        ragq(home, "ingest", str(pdf), "--index", INDEX, env=env_for(home, RAGQ_EMBEDDER="fp32"))
    runs = [one_start(home, runtime) for _ in range(ctx.repeats) for runtime in ("torch", "onnx")]
    rows, summary = [], {}
    for runtime in ("torch", "onnx"):
        mine = [r for r in runs if r["runtime"] == runtime]
        first = spread([r["to_first_answer_s"] for r in mine])
        phases = {p: spread([r["worker"].get(p, 0.0) for r in mine]) for p in PHASES}
        ready = spread([sum(r["worker"].values()) for r in mine])
        summary[runtime] = {"to_first_answer_s": first, "worker_ready_s": ready, "phases": phases}
        rows.append([runtime, fmt(first), fmt(ready), *(fmt(phases[p], 2) for p in PHASES)])
    ratio = summary["torch"]["to_first_answer_s"]["median"] / summary["onnx"]["to_first_answer_s"]["median"]
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            f"Seconds, median (min-max) over {ctx.repeats} starts each, alternating runtimes.",
            table(["embedder", "to first answer", "worker ready", *PHASES], rows),
            f"onnx reaches the first answer {ratio:.2f}x as fast as torch "
            f"({summary['onnx']['to_first_answer_s']['median']:.1f} s against "
            f"{summary['torch']['to_first_answer_s']['median']:.1f} s; goal <= 10 s).",
        ]
    )
    return Section("startup", "Start-up: `ragq run` to the first answer", text, {"runs": runs, "summary": summary})
