"""What scripts/mutation.py mutates and how it judges the survivors: the pure modules with the unit tests that guard
them (MODULES), the operators left out, the survivors known to be equivalent (EQUIVALENT: same module, same source
line, same operator, with the reason), and the hand-made mutants of the tightened integration checks (CHECKS)."""

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
        "shared/hardware.py",
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
