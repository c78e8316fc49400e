"""Mutation testing of the pure modules with cosmic-ray: each mutant (an operator, a constant, a comparison changed)
is one run of that module's unit tests, which must fail on it. Prints the score per module and every survivor, and
writes them to OUT/mutation.json. On request, not in CI (about an hour on 2 cores):

    python3 -m venv /tmp/crvenv && /tmp/crvenv/bin/pip install cosmic-ray==8.7.0
    .venv/bin/python scripts/mutation.py --cosmic-ray /tmp/crvenv/bin/cosmic-ray [--only bm25,stats] [--jobs 2]

cosmic-ray lives in a venv of its own (it pins its own SQLAlchemy). Mutants are made in copies of the checkout's
committed files, never in the checkout: each copy is put first on the tests' import path, ahead of the editable
install. A survivor listed in EQUIVALENT (same module, same source line, same operator) cannot change behaviour:
it is shown apart and left out of the score's denominator."""

import argparse
import ast
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its neighbour is importable
from mutation_checks import copy_checkout, report_checks  # noqa: E402
from mutation_targets import CHECKS, EQUIVALENT, EXCLUDED_OPERATORS, FAST, MODULES  # noqa: E402

# Run by cosmic-ray's own Python after `init`: mutants inside type annotations (`float | None` made `float & None`)
# only break the import; they are marked skipped, like the filters' own.
SKIP_ANNOTATIONS = """
import ast, sys
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult

session, path = sys.argv[1], sys.argv[2]
spans = []
for node in ast.walk(ast.parse(open(path).read())):
    found = [getattr(node, "returns", None), getattr(node, "annotation", None)]
    spans += [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in found if isinstance(a, ast.AST)]
with use_db(session, WorkDB.Mode.open) as db:
    for item in list(db.pending_work_items):
        m = item.mutations[0]
        if any(lo <= tuple(m.start_pos) and tuple(m.end_pos) <= hi for lo, hi in spans):
            db.set_result(item.job_id, WorkResult(output="in a type annotation", worker_outcome=WorkerOutcome.SKIPPED))
"""


def test_command(tests: list[str], python: str, shim: Path, fast: str | None) -> str:
    kept = shim.parent  # made by the baseline run, used by every mutant's (tests/conftest.py)
    env = f"env PYTHONPATH={shim} RAGQ_TEST_DEMO_INDEXES={kept}/_indexes RAGQ_TEST_ONNX_EMBEDDER={kept}/_embedders"
    pytest = f"{env} {python} -m pytest -x -q -p no:cacheprovider -o addopts= {' '.join(map(shlex.quote, tests))}"
    if fast is None:
        return pytest
    return "bash -c " + shlex.quote(f"{pytest} -k {shlex.quote(fast)} && {pytest}")


def config(file: str, command: str, lines: list[str] | None) -> str:
    text = (
        "[cosmic-ray]\n"
        f'module-path = "{file}"\n'
        "timeout = 120.0\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n\n"
        '[cosmic-ray.distributor]\nname = "local"\n\n'
        f"[cosmic-ray.filters.operators-filter]\nexclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n"
    )
    if lines is not None:
        text += f"\n[cosmic-ray.filters.line-filter.lines]\n{json.dumps(file)} = {json.dumps(lines)}\n"
    return text


def function_lines(path: Path, names: list[str]) -> list[str]:
    """The line ranges of these top-level functions, as cr-filter-lines takes them."""
    found = {n.name: f"{n.lineno}-{n.end_lineno}" for n in ast.parse(path.read_text()).body if hasattr(n, "name")}
    missing = [n for n in names if n not in found]
    if missing:
        raise SystemExit(f"{path} has no function {missing[0]!r}: update MODULES in {__file__}")
    return [found[n] for n in names]


def run_module(name: str, cosmic_ray: str, work: Path) -> dict:
    file, tests, functions = MODULES[name]
    copy = copy_checkout(work / name / "main")
    lines = function_lines(copy / file, functions) if functions else None
    command = test_command(tests, sys.executable, copy / "_shim", FAST.get(name))
    (copy / "cr.toml").write_text(config(file, command, lines))
    session = str(copy / "session.sqlite")
    tool = Path(cosmic_ray).parent
    steps = [
        [cosmic_ray, "init", "cr.toml", session],
        [str(tool / "cr-filter-operators"), session, "cr.toml"],
        [str(tool / "python"), "-c", SKIP_ANNOTATIONS, session, file],
        *([[str(tool / "cr-filter-lines"), session, "--config", "cr.toml"]] if lines else []),
        [cosmic_ray, "exec", "cr.toml", session],
    ]
    baseline = subprocess.run(
        shlex.split(tomllib.loads((copy / "cr.toml").read_text())["cosmic-ray"]["test-command"]),
        cwd=copy,
        capture_output=True,
        text=True,
    )
    if baseline.returncode:  # the tests must pass on the unmutated copy, or every mutant counts as killed
        raise SystemExit(f"{name}: the tests fail without a mutant: {baseline.stdout.strip()[-400:]}")
    for step in steps:
        done = subprocess.run(step, cwd=copy, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{name}: {Path(step[0]).name} {step[1]} failed: {done.stderr.strip()[-400:]}")
    return read_session(name, cosmic_ray, work)


def read_session(name: str, cosmic_ray: str, work: Path) -> dict:
    copy, file = work / name / "main", MODULES[name][0]
    dump = subprocess.run([cosmic_ray, "dump", "session.sqlite"], cwd=copy, capture_output=True, text=True, check=True)
    return summarize(name, file, [json.loads(line) for line in dump.stdout.splitlines() if line.strip()], copy)


def summarize(name: str, file: str, items: list, copy: Path) -> dict:
    source = (copy / file).read_text().splitlines()
    killed, incompetent, survived, equivalent, skipped = 0, 0, [], [], 0
    for work_item, result in items:
        mutation = work_item["mutations"][0]
        line, column = mutation["start_pos"]
        text = source[line - 1].strip()
        if result is None:
            raise SystemExit(f"{name}: mutant {work_item['job_id']} was never run: rerun, or look in {copy}")
        if result["worker_outcome"] == "skipped":
            skipped += 1
        elif result["test_outcome"] != "survived":  # killed, or incompetent (the tests errored on it)
            killed += 1
            incompetent += result["test_outcome"] == "incompetent"
        else:
            operator = mutation["operator_name"]
            entry = {"line": line, "column": column, "source": text, "operator": operator}
            entry |= {"occurrence": mutation["occurrence"], "diff": result["diff"]}
            reason = EQUIVALENT.get((name, text, operator, column))
            (equivalent if reason else survived).append(entry | ({"why": reason} if reason else {}))
    scored = killed + len(survived)
    return {
        "module": name,
        "file": file,
        "sha256": hashlib.sha256((copy / file).read_bytes()).hexdigest(),
        "mutants": len(items) - skipped,
        "filtered_out": skipped,
        "killed": killed,
        "incompetent": incompetent,
        "survived": survived,
        "equivalent": equivalent,
        "score": killed / scored if scored else None,
    }


def recheck(previous: dict, cosmic_ray: str, work: Path) -> dict:
    """The survivors of an earlier run, each applied again (same file, same operator and occurrence) and tested with
    today's tests. Sound where only tests changed since: a mutant an unchanged test killed is killed still."""
    name, file = previous["module"], previous["file"]
    shutil.rmtree(work / f"recheck-{name}", ignore_errors=True)
    copy = copy_checkout(work / f"recheck-{name}" / "main")
    source = (copy / file).read_bytes()
    if hashlib.sha256(source).hexdigest() != previous["sha256"]:
        raise SystemExit(f"{file} changed since that run: run {name} again in full")
    command = shlex.split(test_command(MODULES[name][1], sys.executable, copy / "_shim", FAST.get(name)))
    subprocess.run(command, cwd=copy, capture_output=True, check=True)  # the baseline: passes, and makes the caches
    survived = []
    for entry in previous["survived"]:
        apply = [cosmic_ray, "apply", file, entry["operator"], str(entry["occurrence"])]
        subprocess.run(apply, cwd=copy, capture_output=True, check=True)
        if subprocess.run(command, cwd=copy, capture_output=True).returncode == 0:
            survived.append(entry)
        (copy / file).write_bytes(source)
    killed = previous["killed"] + len(previous["survived"]) - len(survived)
    equivalent = previous["equivalent"] + [
        e | {"why": EQUIVALENT[key]}
        for e in survived
        if (key := (name, e["source"], e["operator"], e["column"])) in EQUIVALENT
    ]
    survived = [e for e in survived if (name, e["source"], e["operator"], e["column"]) not in EQUIVALENT]
    score = killed / (killed + len(survived)) if killed + len(survived) else None
    return previous | {"killed": killed, "survived": survived, "equivalent": equivalent, "score": score}


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cosmic-ray", default="cosmic-ray", help="the cosmic-ray command (its own venv)")
    ap.add_argument(
        "--only",
        default=",".join(MODULES),
        help="modules, comma-separated: " + ", ".join(MODULES) + " (with --checks: CHECKS' indices)",
    )
    ap.add_argument("--jobs", type=int, default=2, help="modules mutated at once (one core each)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "mutation")
    ap.add_argument("--report-only", action="store_true", help="read the sessions an earlier run left, run nothing")
    ap.add_argument("--recheck", type=Path, help="an earlier mutation.json: test its survivors again, no more")
    ap.add_argument("--no-baseline", action="store_true", help="with --checks: skip the run without the mutant")
    ap.add_argument("--checks", action="store_true", help="the tightened checks' own mutants instead (CHECKS)")
    return ap.parse_args()


def main() -> None:
    args = arguments()
    if args.checks:
        picked = [int(i) for i in args.only.split(",")] if args.only != ",".join(MODULES) else range(len(CHECKS))
        return report_checks([CHECKS[i] for i in picked], args.out, not args.no_baseline)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        raise SystemExit(f"unknown module {unknown[0]!r}: pick from {', '.join(MODULES)}")
    work = Path(tempfile.gettempdir()) / "ragq-mutation"  # kept: each module's session, to read with cr-report
    if args.recheck:
        earlier = {r["module"]: r for r in json.loads(args.recheck.read_text())}
        reports = [recheck(earlier[n], args.cosmic_ray, work) for n in names]
    elif args.report_only:
        reports = [read_session(n, args.cosmic_ray, work) for n in names]
    else:
        for name in names:
            shutil.rmtree(work / name, ignore_errors=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            reports = list(pool.map(lambda n: run_module(n, args.cosmic_ray, work), names))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mutation.json").write_text(json.dumps(reports, indent=1))
    (args.out / "mutation.md").write_text(markdown(reports))
    print_scores(reports)


def print_scores(reports: list[dict]) -> None:
    print(f"{'module':12} {'mutants':>7} {'killed':>6} {'equiv.':>6} {'survived':>8} {'score':>6}")
    for r in reports:
        score = f"{r['score']:.1%}" if r["score"] is not None else "-"
        print(
            f"{r['module']:12} {r['mutants']:7} {r['killed']:6} {len(r['equivalent']):6} {len(r['survived']):8} {score:>6}"
        )
    for r in reports:
        for s in r["survived"]:
            print(f"survived {r['file']}:{s['line']}:{s['column']} {s['operator']}: {s['source']}")


def markdown(reports: list[dict]) -> str:
    """The scores, the survivors and the equivalent mutants, as bench/RESULTS.md shows them."""
    lines = ["| module | file | mutants | killed | equivalent | survived | score |", "|---|---|---|---|---|---|---|"]
    for r in reports:
        score = f"{r['score']:.1%}" if r["score"] is not None else "-"
        lines.append(
            f"| {r['module']} | `{r['file']}` | {r['mutants']} | {r['killed']} | {len(r['equivalent'])} "
            f"| {len(r['survived'])} | {score} |"
        )
    for title, key in (("Surviving mutants", "survived"), ("Equivalent mutants", "equivalent")):
        lines += ["", f"{title}:", ""]
        for r in reports:
            for e in r[key]:
                change = next(
                    (x[1:].strip() for x in e["diff"].splitlines() if x.startswith("+") and x[1:2] != "+"), ""
                )
                why = f": {e['why']}" if "why" in e else ""
                lines.append(f"- `{r['file']}:{e['line']}` {e['operator'].split('/')[-1]}: `{change}`{why}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
