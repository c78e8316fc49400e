"""Summaries, comparisons and exports on a small fixed set of result rows, checked by hand."""

import csv
import json
import statistics
from datetime import datetime

import pyarrow.parquet as pq
import pytest
from helpers import REPO, RUN_A, RUN_B

from ragq.producer.results import export as exp
from ragq.producer.results.compare import compare
from ragq.producer.results.stats import bootstrap_ci
from ragq.producer.results.summary import summarize
from ragq.shared.errors import UnknownNameError
from ragq.shared.store import db
from ragq.shared.store.export import export_records
from ragq.shared.store.results import result_rows, select_runs
from ragq.shared.store.summaries import run_facts


def test_summary_by_hand(filled):
    engine, (a, b) = filled
    with db.session(engine) as s:
        first, second = summarize(run_facts(s, [a, b]))
    assert (first.done, first.failed, first.jobs) == (3, 0, 3)
    assert first.mean_cosine == pytest.approx(0.7)
    assert first.std_cosine == pytest.approx(0.2)
    assert first.mean_total_s == pytest.approx(20.0) and first.p50_total_s == pytest.approx(20.0)
    assert first.p95_total_s == pytest.approx(29.0)  # numpy's linear interpolation: 20 + 0.9 * 10
    assert first.evidence_hit_rate == pytest.approx(0.5)  # Q1 hit, Q2 missed, Q3 has no evidence
    assert first.prompt_tokens_per_s == pytest.approx(300 / 30.0)  # 300 prompt tokens over 5 + 10 + 15 s
    assert first.gen_tokens_per_s == pytest.approx(30 / 15.0)
    assert first.cosine_ci_low <= 0.7 <= first.cosine_ci_high
    assert 0.5 <= first.cosine_ci_low and first.cosine_ci_high <= 0.9  # a mean stays inside the data's range
    assert second.evidence_hit_rate == pytest.approx(1.0)
    assert first.repeat_sd_s is None  # one repetition per question


def test_repeat_deviation_is_per_question():
    from ragq.producer.results.summary import _repeat_sd
    from ragq.shared.store.results import ResultRow

    def row(question, seconds):
        return ResultRow(1, 1, "m", 0.3, 0, question, "a", 0.5, seconds, 0.1, 10, 0.1, 5, 0.1, 0, 1.0, None)

    rows = [row("Q1", 1.0), row("Q1", 3.0), row("Q2", 10.0), row("Q2", 10.0)]
    assert _repeat_sd(rows, "total_s") == pytest.approx((statistics.stdev([1.0, 3.0]) + 0.0) / 2)


def test_bootstrap_is_seeded_and_sane():
    values = [0.1, 0.4, 0.5, 0.9, 0.3]
    assert bootstrap_ci(values) == bootstrap_ci(values)
    low, high = bootstrap_ci(values)
    assert low < statistics.fmean(values) < high
    assert bootstrap_ci([0.5]) is None
    assert bootstrap_ci([1.0, 1.0, 1.0]) == pytest.approx((1.0, 1.0))


def test_compare_by_hand(filled):
    engine, (a, b) = filled
    with db.session(engine) as s:
        rows = result_rows(s, [a, b])
    c = compare([r for r in rows if r.run_id == a], [r for r in rows if r.run_id == b])
    assert [p.diff for p in c.pairs] == pytest.approx([0.10, -0.05, 0.05])
    assert c.mean_diff == pytest.approx(0.1 / 3)
    assert [p.speedup for p in c.pairs] == pytest.approx([5.0, 5.0, 6.0])
    assert c.speedup == pytest.approx(20.0 / (11 / 3)) and c.max_speedup == pytest.approx(6.0)


def test_run_filters(filled):
    engine, (a, b) = filled
    with db.session(engine) as s:
        assert select_runs(s, []) == [a, b]
        assert select_runs(s, [], model="tiny") == [b]
        assert select_runs(s, [], ratio=0.3) == [a]
        assert select_runs(s, [], questions="other") == []
        assert select_runs(s, [], since=datetime(2000, 1, 1)) == [a, b]
        with pytest.raises(UnknownNameError):
            select_runs(s, [99])


def test_exports_read_back(filled, tmp_path):
    engine, run_ids = filled
    with db.session(engine) as s:
        records = export_records(s, run_ids)
    assert len(records) == 6
    for fmt in ("csv", "jsonl", "parquet", "seed"):
        assert exp.export(records, fmt, tmp_path / f"out.{fmt}") == 6
    with (tmp_path / "out.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    jsonl = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    parquet = pq.read_table(tmp_path / "out.parquet").to_pylist()
    for got in (rows, jsonl, parquet):
        assert len(got) == 6
        assert [float(r["cosine"]) for r in got] == [v[0] for v in RUN_A + RUN_B]
        assert [float(r["total_s"]) for r in got] == [v[1] for v in RUN_A + RUN_B]
        assert {r["model_sha256"] for r in got} == {"ab" * 32} and {r["quantization"] for r in got} == {"Q4_1"}
        assert {str(r["n_threads"]) for r in got} == {"2"}
    assert jsonl[0]["provenance"]["kv_cache"] == "reset before each job"
    seed = (tmp_path / "out.seed").read_text().splitlines()
    assert seed[0] == "small;Q1?;0.5;10.0" and seed[2] == "small;Q3, with a semicolon?;0.9;30.0"
    assert not list(tmp_path.glob(".out*"))  # no temporary file left behind


def test_export_refuses_unknown_format_and_missing_folder(filled, tmp_path):
    from ragq.shared.errors import UnknownNameError, UsageError

    with pytest.raises(UnknownNameError, match="Did you mean 'jsonl'"):
        exp.export([{"x": 1}], "jsnl", tmp_path / "x")
    with pytest.raises(UsageError, match="does not exist"):
        exp.export([{"x": 1}], "csv", tmp_path / "missing" / "x.csv")


def test_export_lifts_provenance_of_new_and_old_results():
    from ragq.shared.store.export import PROVENANCE_COLUMNS, _dig

    new = {"llama_cpp": {"sampling": {"temperature": 0.01, "top_k": 40}, "load": {"n_ctx": 2048}}}
    old = {"generation": {"temperature": 0.5, "n_ctx": 1024}}
    assert [_dig(new, PROVENANCE_COLUMNS[c]) for c in ("temperature", "top_k", "n_ctx")] == [0.01, 40, 2048]
    assert [_dig(old, PROVENANCE_COLUMNS[c]) for c in ("temperature", "top_k", "n_ctx")] == [0.5, None, 1024]


def test_bootstrap_ci_is_scipys_bca_interval_at_its_stated_defaults():
    """Oracle: scipy.stats.bootstrap called directly (BCa, 95 %, 5,000 resamples, seed 0); two values are enough, one
    is not, and no spread gives the value itself (cosmic-ray found each of these unpinned)."""
    import numpy as np
    from scipy.stats import bootstrap

    from ragq.producer.results.stats import bootstrap_ci

    data = np.random.default_rng(7).uniform(0, 1, 30).tolist()  # continuous: every resample count moves it
    want = bootstrap(
        (np.asarray(data),), np.mean, method="BCa", confidence_level=0.95, n_resamples=5000, random_state=0
    )
    assert bootstrap_ci(data) == (float(want.confidence_interval.low), float(want.confidence_interval.high))
    assert bootstrap_ci([0.3]) is None and bootstrap_ci([]) is None
    two = bootstrap_ci([0.2, 0.8])
    assert two is not None and 0.2 <= two[0] <= two[1] <= 0.8
    assert bootstrap_ci([0.4, 0.4, 0.4]) == (0.4, 0.4)


def test_same_answers_tells_a_changed_answer_from_a_changed_timing(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("same_answers", REPO / "scripts" / "same_answers.py")
    same = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(same)
    row = {"model": "m", "ratio": 0.3, "question_position": 0, "repetition": 0, "answer": "A", "total_s": 1.0}
    (tmp_path / "a.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({**row, "total_s": 2.0}) + "\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({**row, "answer": "B"}) + "\n")
    a, b, c = (same.records(tmp_path / f"{x}.jsonl") for x in "abc")
    assert same.differences(a, b) == []  # how fast it came is not what it is
    assert same.differences(a, c) == ["m r0.3 question 0 repetition 0: answer differs"]
    assert same.differences(a, a + c) == ["1 results against 2"]
