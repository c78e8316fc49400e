"""The study's sampling against llama-cpp-python's defaults, per catalog model, on real question sets.

    python bench/sampling.py [--home /tmp/ragq-sampling] [--threads 2]

"before" is each catalog model with repeat_penalty 1.0 (llama-cpp-python's default, what ragq used before it took
the study's sampling); every other setting is the same, so the two sides differ in that one value (the penalty
window of 64 tokens only matters once the penalty is not 1.0). Each (model, side, set) is one `ragq run`, one
model at a time with all threads, so that no model's timing depends on another's. Sets: the demo guide (8
questions) and FinanceBench's ULTA earnings release (4 questions) when ../shared/data is beside the checkout.
Prints a table and writes bench/results/sampling.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
ULTA = HERE.parent.parent / "shared" / "data" / "financebench"
MODELS = ["smollm2-135m", "gemma3-270m"]


def ragq(home: Path, *args: str) -> str:
    env = {**os.environ, "RAGQ_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "ragq.producer.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"ragq {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def prepare(home: Path) -> list[str]:
    demo = resources.files("ragq.producer.demo")
    sets = []
    with resources.as_file(demo / "guide.pdf") as pdf, resources.as_file(demo / "questions.txt") as qa:
        ragq(home, "ingest", str(pdf), "--index", "demo")
        ragq(home, "questions", "import", str(qa), "--set", "demo")
    sets.append("demo")
    if ULTA.exists():
        ragq(home, "ingest", str(ULTA / "pdfs" / "ULTABEAUTY_2023Q4_EARNINGS.pdf"), "--index", "ulta")
        ragq(home, "questions", "import", str(ULTA / "qa_ulta.json"), "--set", "ulta")
        sets.append("ulta")
    catalog = home / "models" / "catalog"
    catalog.mkdir(parents=True, exist_ok=True)
    for model in MODELS:  # the "before" side: a variant that differs in repeat_penalty alone
        (catalog / f"{model}-rp1.toml").write_text(
            f'name = "{model}-rp1"\nextends = "{model}"\n\n[params]\nrepeat_penalty = 1.0\n'
        )
    return sets


def measure(home: Path, model: str, qset: str, threads: int) -> dict:
    ragq(
        home, "run", "--model", model, "--index", qset, "--questions", qset, "--ratio", "0.3", "--threads", str(threads)
    )
    data = json.loads(ragq(home, "results", "--model", model, "--questions", qset, "--json"))
    summary = data["summary"][-1]
    answers = [r for r in data["results"] if r["run_id"] == summary["run_id"]]
    max_tokens = json.loads(ragq(home, "models", "show", model, "--json"))["params"]["max_tokens"]
    return {
        "model": model.removesuffix("-rp1"),
        "side": "before (repeat_penalty 1.0)" if model.endswith("-rp1") else "after (study: 1.1 over 64, top_k 40)",
        "set": qset,
        "run": summary["run_id"],
        "spec": summary["spec_id"],
        "answers": len(answers),
        "mean_cosine": summary["mean_cosine"],
        "mean_gen_tokens": summary["mean_gen_tokens"],
        "at_max_tokens": sum(r["gen_tokens"] >= max_tokens - 1 for r in answers),  # llama.cpp counts max_tokens - 1,
        "mean_s": summary["mean_total_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/ragq-bench-sampling"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    sets = prepare(args.home)
    rows = [
        measure(args.home, model, qset, args.threads)
        for qset in sets
        for base in MODELS
        for model in (f"{base}-rp1", base)
    ]
    print("| model | sampling | set | answers | mean cosine | mean gen tokens | at max_tokens | mean s |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['side']} | {r['set']} | {r['answers']} | {r['mean_cosine']:.3f} | "
            f"{r['mean_gen_tokens']:.0f} | {r['at_max_tokens']} | {r['mean_s']:.2f} |"
        )
    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "threads": args.threads,
        "rows": rows,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "sampling.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
