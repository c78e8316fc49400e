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
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module name -> (file, the unit tests that guard it, the functions mutated: None for all of the file)
MODULES = {
    "bm25": ("shared/corpus/bm25.py", ["tests/unit/test_bm25.py"], None),
    "retrieval": (
        "shared/rag/retrieval.py",
        ["tests/unit/test_retrieval_modes.py", "tests/unit/test_fusion.py"],
        None,
    ),
    "answer": ("shared/metrics/answer.py", ["tests/unit/test_metrics.py"], None),
    "drift": ("shared/metrics/drift.py", ["tests/unit/test_drift.py"], None),
    "likelihood": ("shared/metrics/likelihood.py", ["tests/unit/test_likelihood.py"], None),
    "stats": ("producer/results/stats.py", ["tests/unit/test_results.py"], None),
    "verdict": ("producer/results/verdict.py", ["tests/unit/test_verdict.py"], None),
    "claim": (  # the store's claim condition, the fence on a holder, leases renewed and released (SQLite: the same
        # SQLAlchemy statements as on PostgreSQL, in half the time)
        "shared/store/jobs.py",
        [
            "tests/unit/test_store.py",
            "-k",
            "(claim or fenced or killing or expired or one_result or freed or own_ or finished or giving_up) and sqlite",
        ],
        ["claimable", "_held_by", "claim", "renew", "complete", "_release", "release_expired"],
    ),
}

# -k expressions of the tests that need no embedder, run before the whole set: a mutant they kill costs less
FAST: dict[str, str] = {}

# Each binary operator is replaced by its arithmetic kin (+ - * /) or its bitwise kin, not by both: a float `+`
# turned into `|` or `<<` dies as a TypeError on the first call, which says nothing about the tests.
EXCLUDED_OPERATORS = [
    "core/ReplaceBinaryOperator_(Add|Sub|Mul|Div|MatMult|FloorDiv|Mod|Pow)_(LShift|RShift|BitOr|BitAnd|BitXor)",
    "core/ReplaceBinaryOperator_(BitOr|BitAnd|BitXor|LShift|RShift)_(Add|Sub|Mul|Div|FloorDiv|Mod|Pow|MatMult)",
]

# (module, the mutated line's text, stripped; cosmic-ray's operator; the column): why no test can tell it apart
_MMR_SIGNATURE = (
    "def dense_mmr(index, query_vec: np.ndarray, *, k: int, fetch_k: int, lambda_mult: float) -> list[int]:"
)
_ROWS = "return [int(i) for i in found[0] if i != -1]"
_SEARCH = "_, found = index.dense.search(query_vec.reshape(1, -1), n)"
_MMR_LOOP = "while len(chosen) < min(k, len(candidates)):"
EQUIVALENT: dict[tuple[str, str, str, int], str] = {
    ("retrieval", _MMR_SIGNATURE, "core/ReplaceBinaryOperator_Mul_Div", 44): "the bare * made / (positional-only "
    "marker): every caller passes k, fetch_k and lambda_mult by keyword, which both accept",
    ("retrieval", _ROWS, "core/ReplaceComparisonOperator_NotEq_Gt", 42): "FAISS ids are -1 (padding) or >= 0",
    ("retrieval", _ROWS, "core/NumberReplacer", 34): "found[-1] is found[0]: one query, one row",
    ("retrieval", _SEARCH, "core/ReplaceUnaryOperator_USub_Invert", 55): "reshape(1, ~1): numpy takes any "
    "negative size as the one it infers",
    ("retrieval", _SEARCH, "core/NumberReplacer", 56): "reshape(1, -2): numpy takes any negative size as the one "
    "it infers",
    ("retrieval", _MMR_LOOP, "core/ReplaceComparisonOperator_Lt_NotEq", 22): "the list grows by one from 1 up to "
    "min(k, n) >= 1, so < and != stop at the same length",
    ("retrieval", _MMR_LOOP, "core/ReplaceComparisonOperator_Lt_IsNot", 22): "small ints are one object in CPython: "
    "`is not` stops where != does",
    (
        "retrieval",
        "return (values - values.min()) / span if span > 0 else np.ones_like(values)",
        "core/ReplaceComparisonOperator_Gt_NotEq",
        50,
    ): "span is max - min, never negative",
}
_TABLE = "table = [[int(np.sum(ra & rb)), int(np.sum(ra & ~rb))], [int(np.sum(~ra & rb)), int(np.sum(~ra & ~rb))]]"
_CONCORDANT = (
    "the exact McNemar test reads only the discordant cells (statsmodels: a binomial on table[0][1] and "
    "table[1][0]); this changes a concordant one"
)
_ONE_COEFFICIENT = "a fit on a constant has one coefficient: [-1] is [0]"
_AT_ALPHA = "differs only where p is exactly 0.05"
_VERDICT = {
    ("return len(values) == 0 or float(np.ptp(values)) < 1e-9", "core/ReplaceComparisonOperator_Eq_LtE", 23): (
        "len() is never negative"
    ),
    ("return len(values) == 0 or float(np.ptp(values)) < 1e-9", "core/ReplaceComparisonOperator_Lt_LtE", 53): (
        "differs only at a spread of exactly 1e-9"
    ),
    ("return float(d[0]), float(d[0])", "core/NumberReplacer", 23): "no spread: every difference equals d[0]",
    ("return float(d[0]), float(d[0])", "core/NumberReplacer", 36): "no spread: every difference equals d[0]",
    ("return 0.0 if abs(d[0]) < margin else 1.0", "core/NumberReplacer", 28): "no spread: every difference equals d[0]",
    (
        'return float(fit.pvalues[0]), f"t-test, standard errors clustered by document ({len(set(groups))})"',
        "core/NumberReplacer",
        33,
    ): _ONE_COEFFICIENT,
    ("se, dof = float(fit.bse[0]), len(set(groups)) - 1", "core/NumberReplacer", 32): _ONE_COEFFICIENT,
    ("mean = float(fit.params[0])", "core/NumberReplacer", 32): _ONE_COEFFICIENT,
    ("naive = sm.OLS(d, np.ones((len(d), 1))).fit().bse[0]", "core/NumberReplacer", 54): _ONE_COEFFICIENT,
    ("return max(1.0, float((_clustered_fit(d, groups).bse[0] / naive) ** 2))", "core/NumberReplacer", 57): (
        _ONE_COEFFICIENT
    ),
    (
        "np.atleast_1d(TTestPower().solve_power(effect_size=difference / sd, nobs=None, alpha=alpha, power=power))[0]",
        "core/NumberReplacer",
        114,
    ): "one value: [-1] is [0]",
    **{
        (
            'return mcnemar_p([x >= 0.5 for x in p.a], [x >= 0.5 for x in p.b]), "exact McNemar on the flips"',
            "core/ReplaceComparisonOperator_GtE_Gt",
            column,
        ): "the one right/wrong measure, exact match, is 0 or 1, never 0.5"
        for column in (28, 53)
    },
    **{
        (_TABLE, f"core/ReplaceBinaryOperator_BitAnd_{op}", 28): _CONCORDANT
        for op in ("RShift", "LShift", "BitOr", "BitXor")
    },
    **{
        (_TABLE, f"core/ReplaceBinaryOperator_BitAnd_{op}", 99): _CONCORDANT
        for op in ("RShift", "LShift", "BitOr", "BitXor")
    },
    **{(_TABLE, "core/ReplaceUnaryOperator_Delete_Invert", column): _CONCORDANT for column in (95, 101)},
    ("return max(2, math.ceil(n)) if math.isfinite(n) else None", "core/NumberReplacer", 15): (
        "max(1, ...): statsmodels' power solver returns 2 questions at the least (a paired t needs two)"
    ),
    ("if len(p_values) < 2:", "core/NumberReplacer", 23): "Holm over one p-value or none returns them as they are",
    ("if pv < alpha and t.mean_diff != 0:", "core/ReplaceComparisonOperator_Lt_LtE", 10): _AT_ALPHA,
    ("if t.equivalence_p is not None and t.equivalence_p < alpha:", "core/ReplaceComparisonOperator_Lt_LtE", 55): (
        _AT_ALPHA
    ),
    ('side = "better" if t.mean_diff > 0 else "worse"', "core/ReplaceComparisonOperator_Gt_GtE", 39): (
        "reached only where mean_diff != 0"
    ),
}
EQUIVALENT |= {("verdict", *key): why for key, why in _VERDICT.items()}
_SAME = "return a == b or (max(abs(a), abs(b)) > 0 and abs(a - b) / max(abs(a), abs(b)) <= 0.005)"
_NEVER_NEGATIVE = "a count of common tokens is never negative"
_EMPTY_SIDE = "with one side empty the general path gives 0.0 as well (no common token)"
EQUIVALENT |= {
    ("answer", "if same == 0:", "core/ReplaceComparisonOperator_Eq_LtE", 12): _NEVER_NEGATIVE,
    ("answer", "if common == 0:", "core/ReplaceComparisonOperator_Eq_LtE", 14): _NEVER_NEGATIVE,
    ("answer", "if not pred or not gold:", "core/ReplaceOrWithAnd", 16): _EMPTY_SIDE,
    (
        "answer",
        "previous = [0] * (len(b) + 1)",
        "core/NumberReplacer",
        31,
    ): "the extra cell of the first row is never read",
    ("answer", _SAME, "core/ReplaceComparisonOperator_LtE_Lt", 83): "differs only at a gap of exactly 0.5 %",
    ("answer", _SAME, "core/ReplaceComparisonOperator_Gt_NotEq", 42): "an absolute value is never negative",
    ("answer", _SAME, "core/ReplaceComparisonOperator_Gt_GtE", 42): "where both are 0, a == b has answered already",
    ("answer", _SAME, "core/NumberReplacer", 44): "> -1: where both are 0, a == b has answered already",
}
EQUIVALENT |= {
    ("stats", "return float(data[0]), float(data[0])", "core/NumberReplacer", column): "no spread: every value "
    "equals data[0]"
    for column in (26, 42)
}
EQUIVALENT[
    (
        "stats",
        "if np.ptp(data) == 0:  # no spread: every resample has the same mean, where BCa is undefined",
        "core/ReplaceComparisonOperator_Eq_LtE",
        20,
    )
] = "a range is never negative"
_LAST_STATE = "of a job's four states (done, failed, queued, running) none sorts after running: >= is =="
_ONE_ROW = "an UPDATE by primary key changes 0 or 1 row"
_AT_THE_INSTANT = "differs only for a lease ending at the very microsecond the database reads its clock"
_CLAIMABLE = 'return or_(Job.state == "queued", and_(Job.state == "running", Job.lease_until < now))'
_HELD = (
    'return and_(Job.id == job_id, Job.state == "running", Job.worker == holder.worker, Job.attempts == holder.attempt)'
)
_CLAIM = {
    (_CLAIMABLE, "core/ReplaceComparisonOperator_Eq_GtE", 53): _LAST_STATE,
    (_CLAIMABLE, "core/ReplaceComparisonOperator_Lt_LtE", 83): _AT_THE_INSTANT,
    (_HELD, "core/ReplaceComparisonOperator_Eq_GtE", 44): _LAST_STATE,
    (
        'return NotClaimed(f"held by {row.worker}" if row.state == "running" else row.state)',
        "core/ReplaceComparisonOperator_Eq_GtE",
        59,
    ): _LAST_STATE,
    ("return renewed.rowcount == 1", "core/ReplaceComparisonOperator_Eq_GtE", 28): _ONE_ROW,
    ("if done.rowcount != 1:", "core/ReplaceComparisonOperator_NotEq_Lt", 21): _ONE_ROW,
    ('.where(Job.state == "running", condition)', "core/ReplaceComparisonOperator_Eq_GtE", 25): _LAST_STATE,
    ("expired = Job.lease_until < db_now()", "core/ReplaceComparisonOperator_Lt_LtE", 30): _AT_THE_INSTANT,
}
EQUIVALENT |= {("claim", *key): why for key, why in _CLAIM.items()}
EQUIVALENT[
    ("bm25", "self.avgdl = float(doc_len.sum()) / len(doc_len) if len(doc_len) else 0.0", "core/NumberReplacer", 78)
] = "an empty corpus: no document length to normalise, the scores an empty array whatever avgdl is"
_NO_TOKEN = "summary returns before it reads them where there is no token"
EQUIVALENT |= {
    ("drift", "if len(kld) == 0:", "core/ReplaceComparisonOperator_Eq_LtE", 16): "len() is never negative",
    ("drift", "if n.sum() == 0:", "core/ReplaceComparisonOperator_Eq_LtE", 15): "token counts are never negative",
    ("drift", "return summary(kld, np.zeros(0, bool), np.zeros(0))", "core/NumberReplacer", 37): _NO_TOKEN,
    ("drift", "return summary(kld, np.zeros(0, bool), np.zeros(0))", "core/NumberReplacer", 56): _NO_TOKEN,
}

# The checks issue 31 tightened, each with a hand-made mutant of the code it guards, which it must catch:
# (the check, file, text, the text's mutant, the test). `--checks` runs them (about 10 minutes: real workers).
CHECKS = [
    (
        "a download cut off while written leaves its folder empty",
        "producer/ingest/download.py",
        "        Path(tmp).unlink(missing_ok=True)",
        "        pass",
        "tests/integration/test_documents.py::test_bad_downloads",
    ),
    (
        "convex fusion's scores against rank_bm25 and numpy, not ragq's own normalisation",
        "shared/rag/retrieval.py",
        "return (values - values.min()) / span if span > 0",
        "return values / values.max() if span > 0",
        "tests/unit/test_retrieval_modes.py",
    ),
    (
        "a budget holding two runs names no winner on two questions (runs counted from their own figures)",
        "producer/results/pareto.py",
        "        if ties:",
        "        if False:",
        "tests/integration/test_quantize.py",
    ),
    (
        "the build's own system info is recorded, not an x86 expectation",
        "shared/provenance.py",
        '"llama_cpp_system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),',
        '"llama_cpp_system_info": "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1",',
        "tests/integration/test_model_runs.py::test_repeats_are_identical_and_rows_carry_provenance",
    ),
    (
        "the study's system text reaches every stored prompt",
        "shared/models/spec.py",
        "    system: str = SYSTEM_TEXT",
        '    system: str = ""',
        "tests/integration/test_model_runs.py::test_repeats_are_identical_and_rows_carry_provenance",
    ),
    (
        "an interrupt ends a generation inside its prompt",
        "shared/rag/llm.py",
        "        self._llama_cpp.llama_set_abort_callback(self.llm._ctx.ctx, self._abort, None)",
        "        pass",
        "tests/integration/test_model_runs.py::test_an_interrupted_generation_stops_and_leaves_the_runner_as_it_was",
    ),
    (
        "the Redis flush strikes mid-run, with messages to lose, and requeue restores every job",
        "producer/planning.py",
        "    return publish(make_app(broker_url(settings), settings.signing), pending)",
        "    return len(pending)",
        "tests/faults/test_faults.py::test_redis_flushed_and_restarted_mid_run",
    ),
    (
        "the CPU's name is the model lscpu reports",
        "shared/models/placement.py",
        "    return _cpu_model(cpuinfo) or _platform.processor() or _platform.machine()",
        "    return _platform.processor() or _platform.machine()",
        "tests/unit/test_machine.py::test_cpu_name_is_the_model_lscpu_reports",
    ),
    (
        "cosine against numpy over the library's own vectors",
        "shared/metrics/cosine.py",
        "        return float(util.cos_sim(vectors[0], vectors[1]).item())",
        "        return float(util.cos_sim(vectors[0], vectors[0]).item())",
        "tests/unit/test_small_parts.py::test_cosine_is_sentence_transformers_cos_sim",
    ),
    (
        "a new nested home is made, with no probe left behind",
        "shared/config.py",
        '            with tempfile.NamedTemporaryFile(dir=self.home, prefix=".write-check-"):',
        '            with tempfile.NamedTemporaryFile(dir=self.home, prefix=".write-check-", delete=False):',
        "tests/unit/test_small_parts.py::test_home_check_is_safe_for_processes_starting_together",
    ),
    (
        "questions and answers in the report are text, never markup (headless Chromium)",
        "producer/results/page.py",
        "autoescape=True",
        "autoescape=False",
        "tests/integration/test_report.py",
    ),
]


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


def copy_checkout(into: Path) -> Path:
    """The committed files, and a ragq/ folder of links to its roles: `import ragq.shared` finds the copy."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "_shim" / "ragq").mkdir(parents=True)
    for part in ("shared", "worker", "producer", "migrations", "models"):  # as pyproject.toml's package-dir maps them
        (into / "_shim" / "ragq" / part).symlink_to(into / part)
    if not (into.parent / "shared").exists():  # the team folder beside the checkout (tests read ../shared/data)
        (into.parent / "shared").symlink_to(ROOT.parent / "shared")
    return into


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


def pytest_in(copy: Path, test: str) -> tuple[bool, str]:
    """Whether the test passed in this copy, and where it failed: pytest's one line per failure."""
    env = {**os.environ, "PYTHONPATH": str(copy / "_shim")}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=line", "-o", "addopts=", test]
    done = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True)
    lines = done.stdout.replace(str(copy) + "/", "").splitlines()
    where = [line for line in lines if re.search(r"\.py:\d+: ", line)] + [
        line for line in lines if line.startswith("E ")
    ]
    return done.returncode == 0, (where[0] if where else done.stdout.strip()[-200:])


def run_check(number: int, check: tuple, work: Path, baseline: bool) -> dict:
    """The test on the copy as committed (it must pass; the suite itself shows that, so --no-baseline skips it),
    then on the copy with the mutant (it must fail)."""
    name, file, text, mutant, test = check
    copy = copy_checkout(work / f"check{number}" / "main")
    source = (copy / file).read_text()
    if source.count(text) != 1:
        raise SystemExit(f"{name}: {file} no longer holds {text.strip()!r} once: update CHECKS in {__file__}")
    passed = pytest_in(copy, test)[0] if baseline else None
    (copy / file).write_text(source.replace(text, mutant))
    survived, where = pytest_in(copy, test)
    return {
        "check": name,
        "file": file,
        "mutant": mutant.strip(),
        "test": test,
        "passes_as_is": passed,
        "caught": not survived,
        "where": where,
    }


def main() -> None:
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
    args = ap.parse_args()
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


def report_checks(checks: list[tuple], out: Path, baseline: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    found = []
    with tempfile.TemporaryDirectory(prefix="ragq-checks-") as tmp:
        for i, check in enumerate(checks):  # written as each ends: a long run stopped keeps what it found
            found.append(run_check(i, check, Path(tmp), baseline))
            (out / "checks.json").write_text(json.dumps(found, indent=1))
    for f in found:
        as_is = f["passes_as_is"] is not False  # None: not run here (--no-baseline)
        verdict = "caught" if f["caught"] and as_is else "NOT caught" if as_is else "FAILS AS IS"
        print(f"{verdict:11} {f['check']}\n            {f['file']}: {f['mutant']}\n            {f['where']}")
    if not all(f["caught"] and f["passes_as_is"] is not False for f in found):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
