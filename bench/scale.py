"""Questions per minute with 1 and 2 workers of one model on the same questions, the cores split between them.

    python bench/scale.py [--home /tmp/ragq-bench-scale] [--model smollm2-135m] [--rounds 2]

Each round enqueues the demo set at ratios 0.3 and 0.7 (16 jobs) as a new run, starts the workers against the
embedded Redis, and times from the first job's start to the last job's end (worker start-up excluded: both
sides load the same things). 1 worker gets every core as threads; 2 workers get half each. Prints a table and
writes bench/results/scale.json.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent


def ragq(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ragq.producer.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"ragq {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def one_round(env: dict, model: str, workers: int, cores: int) -> dict:
    from ragq.shared.config import load_settings
    from ragq.shared.store.door import Store

    args = ["enqueue", "--model", model, "--ratio", "0.3", "--ratio", "0.7", "--index", "demo", "--questions", "demo"]
    plan = json.loads(ragq(env, *args, "--new-run", "--json"))
    run_ids = [r["run_id"] for r in plan["runs"]]
    threads = max(1, cores // workers)
    cmd = [sys.executable, "-m", "ragq.producer.cli", "worker", "--model", model, "--threads", str(threads)]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)
    ]
    store = Store(load_settings(home=Path(env["RAGQ_HOME"])))
    try:
        while True:
            done = sum(counts["done"] for counts in store.progress(run_ids).values())
            if done >= plan["published"]:
                break
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
    first, last = store.timespan(run_ids)
    seconds = (last - first).total_seconds()
    return {
        "workers": workers,
        "threads_each": threads,
        "jobs": done,
        "seconds": seconds,
        "per_min": done / seconds * 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/ragq-bench-scale"))
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "RAGQ_HOME": str(args.home)}
    env.pop("RAGQ_BROKER_URL", None)
    demo = resources.files("ragq.producer.demo")
    with resources.as_file(demo / "guide.pdf") as pdf, resources.as_file(demo / "questions.txt") as qa:
        ragq(env, "ingest", str(pdf), "--index", "demo")
        ragq(env, "questions", "import", str(qa), "--set", "demo")
    os.environ["RAGQ_HOME"] = str(args.home)
    from ragq.shared.broker import EmbeddedRedis

    broker = EmbeddedRedis(args.home / "redis")
    broker.start()
    cores = os.cpu_count() or 1
    try:
        rounds = [one_round(env, args.model, w, cores) for _ in range(args.rounds) for w in (1, 2)]
    finally:
        broker.stop()
    rows = summary(rounds)
    show(rows, args.rounds)
    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {cores} cores, {platform.platform()}",
        "model": args.model,
        "rows": rows,
        "rounds": rounds,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "scale.json").write_text(json.dumps(out, indent=1) + "\n")


def summary(rounds: list[dict]) -> list[dict]:
    """Per worker count: questions per minute, median and range over the rounds."""
    rows = []
    for workers in (1, 2):
        mine = [r for r in rounds if r["workers"] == workers]
        per_min = [r["per_min"] for r in mine]
        rows.append(
            {
                "workers": workers,
                "threads_each": mine[0]["threads_each"],
                "jobs_per_round": mine[0]["jobs"],
                "per_min_median": statistics.median(per_min),
                "per_min_min": min(per_min),
                "per_min_max": max(per_min),
            }
        )
    return rows


def show(rows: list[dict], rounds: int) -> None:
    print(f"| workers x threads | questions per minute, median (min-max over {rounds} rounds) |")
    print("|---|---:|")
    for r in rows:
        print(
            f"| {r['workers']} x {r['threads_each']} | {r['per_min_median']:.1f} "
            f"({r['per_min_min']:.1f}-{r['per_min_max']:.1f}) |"
        )


if __name__ == "__main__":
    main()
