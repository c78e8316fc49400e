"""ragq's benchmarks in one command: every section measured in one run, tables printed, results written.

    python -m bench                  # every section; rewrites bench/RESULTS.md and bench/results/*.json
    python -m bench --quick          # a few minutes: small inputs, one repeat, written under --out (CI runs it)
    python -m bench --only startup --only memory

Figures are medians with min-max over repeats, ratios are taken between two sides measured in the same run on
the same machine, and every section's JSON names the machine, the library versions and the date.
"""

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import HERE, Context, machine, save, stamp, versions

# in the order they run and appear; each is a module with run(ctx) -> Section
SECTIONS = [
    "startup", "memory", "tune", "overhead", "build", "queueing", "scheduling", "ingest", "int8", "retrieval", "study", "choose",
    "testsets", "soak",
]  # fmt: skip
# not in --quick: too long for CI, and the same commands run in the test suite (test_tune, test_quantize)
FULL_ONLY = {"tune", "choose", "testsets"}
# only with --only NAME: soak needs root (network namespaces) and runs for up to 20 minutes; build needs a portable
# llama-cpp-python wheel made beforehand
ON_REQUEST = {"soak", "build"}


def render(folder: Path) -> str:
    """RESULTS.md from the sections' JSON files: what the last full run measured."""
    parts = [
        "# Benchmark results",
        "Written by `python -m bench` (do not edit by hand: run it again). Each section: what was measured, on "
        "which machine, with which versions, and when; raw figures in `results/NAME.json`.",
    ]
    for name in SECTIONS:
        path = folder / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        m, v = data["machine"], data["versions"]
        built = f" ({v['llama.cpp features']})" if v.get("llama.cpp features") else ""
        where = (
            f"*{data['date']} · {m['machine']}, {m['cpus']} CPUs ({m['physical_cores']} physical), "
            f"{m['memory_gib']} GiB, Python {m['python']} · ragq {v.get('ragq')}, llama-cpp-python "
            f"{v.get('llama-cpp-python')}{built}, onnxruntime {v.get('onnxruntime')}, torch {v.get('torch')}*"
        )
        parts += [f"## {data['title']}", where, data["text"]]
    parts.append(
        "Earlier one-off measurements (sampling before and after the study's values, 1 against 2 workers): EARLIER.md."
    )
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, one repeat: checks that it all works")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run this section (repeatable)")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default 3, 1 with --quick)")
    parser.add_argument(
        "--out", type=Path, help="where results go (default bench/, or a temporary folder with --quick)"
    )
    parser.add_argument("--work", type=Path, help="scratch folder for ragq homes (default: a temporary folder)")
    args = parser.parse_args()
    out = args.out or (Path(tempfile.mkdtemp(prefix="ragq-bench-quick-")) if args.quick else HERE)
    work = args.work or Path(tempfile.mkdtemp(prefix="ragq-bench-"))
    ctx = Context(quick=args.quick, work=work, repeats=args.repeats or (1 if args.quick else 3))
    if args.quick:
        ctx.models = ctx.models[:1]
    print(f"machine: {machine()}\nversions: {versions()}\nscratch: {work}\nresults: {out}", flush=True)
    try:
        chosen = [s for s in SECTIONS if s not in ON_REQUEST and not (args.quick and s in FULL_ONLY)]
        for name in args.only or chosen:
            start = time.perf_counter()
            print(f"\n== {name} ...", flush=True)
            section = importlib.import_module(f"bench.{name}").run(ctx)
            save(section, out / "results")
            print(f"{section.text}\n({name}: {time.perf_counter() - start:.0f} s)", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    (out / "RESULTS.md").write_text(render(out / "results"))
    print(f"\nwrote {out / 'RESULTS.md'} ({stamp()['date']})")


if __name__ == "__main__":
    sys.exit(main())
