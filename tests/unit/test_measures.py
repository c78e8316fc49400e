"""Every measure side by side: directions, the tests behind each, one Holm family over measures and runs, and the
sentences that name the measure that decides (or the one that would need the fewest questions)."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ragq.producer.results import decision, measures, overlap, winner
from ragq.producer.results.summary import RunSummary, metric_summary
from ragq.shared.store.results import ResultRow

QUESTIONS = [f"Q{i}" for i in range(8)]


def rows(run: int, bpb, f1, cosine=None, ratio=0.3, chunks=None) -> list[ResultRow]:
    cosine = cosine if cosine is not None else [0.6] * len(bpb)
    return [
        ResultRow(run, i, f"m{run}", ratio, 0, q, "a", c, 1.0, 0.1, 10, 0.1, 5, 0.1, 0, 1.0, None,
                  token_f1=f, exact_match=0.0, expert_bpb=b, chunk_ids=(chunks or {}).get(q))
        for i, (q, b, f, c) in enumerate(zip(QUESTIONS, bpb, f1, cosine, strict=False))
    ]  # fmt: skip


RNG = np.random.default_rng(7)
BASE_BPB = RNG.uniform(0.3, 0.6, 8)
BASE_F1 = RNG.uniform(0.1, 0.6, 8)
WORSE_BPB = BASE_BPB + 0.12 + RNG.normal(0, 0.02, 8)  # Q2_K-like: every question less likely
NOISY_F1 = np.clip(BASE_F1 + RNG.normal(0, 0.15, 8), 0, 1)


def test_likelihood_is_lower_better_and_tested_by_a_paired_t_test():
    t = measures.test_measure(rows(1, BASE_BPB, BASE_F1), rows(2, WORSE_BPB, NOISY_F1), measures.MEASURES["expert_bpb"])
    assert t.diff == pytest.approx(np.mean(WORSE_BPB - BASE_BPB)) and t.diff > 0
    assert not t.b_is_better() and (t.better, t.worse) == (0, 8)
    assert t.relative == pytest.approx(t.diff / np.mean(BASE_BPB))
    assert t.test == "paired t-test" and t.p == pytest.approx(stats.ttest_rel(WORSE_BPB, BASE_BPB).pvalue)
    f1 = measures.test_measure(rows(1, BASE_BPB, BASE_F1), rows(2, WORSE_BPB, NOISY_F1), measures.MEASURES["token_f1"])
    assert f1.test == "Wilcoxon signed-rank" and f1.p == pytest.approx(stats.wilcoxon(NOISY_F1 - BASE_F1).pvalue)
    assert f1.b_is_better() == (f1.diff > 0)  # higher is better for accuracy


def test_one_holm_family_over_every_measure_and_every_run():
    base = rows(1, BASE_BPB, BASE_F1)
    families = [
        measures.side_by_side(base, rows(r, b, f)) for r, b, f in ((2, WORSE_BPB, NOISY_F1), (3, BASE_BPB, BASE_F1))
    ]
    raw = [t.p for tests in families for t in tests]
    adjusted = measures.adjust(families)
    assert measures.family_size(adjusted) == len(raw) == 8  # 4 measures (no number match here) x 2 runs
    expected = multipletests(raw, method="holm")[1]
    assert [t.p_holm for tests in adjusted for t in tests] == pytest.approx(list(expected))


def test_five_measures_do_not_manufacture_a_decision():
    """A measure with p = 0.02 alone decides nothing once five measures and two runs were tried."""
    a = rows(1, BASE_BPB, BASE_F1)
    b_f1 = BASE_F1 + np.array([0.2, 0.15, 0.1, 0.12, 0.05, 0.3, 0.02, -0.01])
    tests = measures.side_by_side(a, rows(2, BASE_BPB + RNG.normal(0, 0.05, 8), b_f1))
    f1 = next(t for t in tests if t.measure == "token_f1")
    assert f1.p < 0.05
    ((alone,),) = measures.adjust([[f1]])
    assert alone.decides()
    together = measures.adjust([tests, tests])  # as if a second run had been compared too
    assert not any(t.decides() for t in together[0])
    said = decision.sentence(together[0], "A", "B", measures.family_size(together))
    assert said.startswith("No measure tells A and B apart with 8 questions (Holm over 8 tests)")
    assert "the fewest" in said


def test_the_verdict_names_the_measure_that_decides_and_what_the_others_could_not_tell():
    family = measures.adjust([measures.side_by_side(rows(1, BASE_BPB, BASE_F1), rows(2, WORSE_BPB, NOISY_F1))])
    tests = family[0]
    said = decision.sentence(tests, "base (run 1)", "q2_k (run 2)", measures.family_size(family))
    likelihood = next(t for t in tests if t.measure == "expert_bpb")
    assert likelihood.decides()
    assert said.startswith("q2_k (run 2) makes the experts' answers less likely than base (run 1) does (+0.1")
    assert "worse on 8 of 8 questions" in said and f"p = {likelihood.p_holm:.2g} after Holm over 4 tests" in said
    assert "token F1" in said and "cannot tell them apart with 8 questions" in said


def test_deciding_measures_that_disagree_are_both_named():
    better_f1 = np.clip(BASE_F1 + 0.3 + RNG.normal(0, 0.01, 8), 0, 1)
    (tests,) = measures.adjust([measures.side_by_side(rows(1, BASE_BPB, BASE_F1), rows(2, WORSE_BPB, better_f1))])
    tests = [t for t in tests if t.measure in ("expert_bpb", "token_f1")]
    assert all(t.decides() for t in tests)
    said = decision.sentence(tests, "A", "B", 2)
    assert "says the opposite" in said


def summary(run_id: int, r: list[ResultRow], ratio=0.3) -> RunSummary:
    metrics = {name: metric_summary([getattr(x, name) for x in r]) for name in ("cosine", "token_f1", "expert_bpb")}
    return RunSummary(run_id, f"m{run_id}", "abc", "chat", "docs", "qs", "rrf", ratio, len(r), len(r), 0, 1,
                      *([None] * 17), metrics=metrics)  # fmt: skip


def test_the_headline_names_no_winner_where_the_data_does_not_support_one():
    a, b = rows(1, BASE_BPB, BASE_F1), rows(2, BASE_BPB + RNG.normal(0, 0.05, 8), NOISY_F1)
    (line,) = winner.lines([summary(1, a), summary(2, b)], a + b)
    assert "no run is shown better than every other" in line and "The highest means are not a winner" in line
    c = rows(3, WORSE_BPB, NOISY_F1)
    lines = winner.lines([summary(1, a), summary(3, c)], a + c)
    assert "m1 r=0.3 (run 1) makes the experts' answers most likely" in lines[0]
    assert "better than each of the 1 other runs" in lines[0]


def test_retrieval_overlap_between_ratios_and_the_ratio_whose_context_is_most_likely():
    order = {q: ["c1", "c2", "c3"] for q in QUESTIONS}
    shuffled = {q: (["c3", "c1", "c2"] if i % 2 else ["c1", "c2", "c3"]) for i, q in enumerate(QUESTIONS)}
    shuffled["Q7"] = ["c1", "c9", "c3"]
    a = rows(1, BASE_BPB, BASE_F1, chunks=order)
    b = rows(2, WORSE_BPB, BASE_F1, ratio=0.7, chunks=shuffled)
    sa, sb = summary(1, a), summary(2, b, ratio=0.7)
    sb = RunSummary(**{**sb.__dict__, "model": "m1"})  # one model at two ratios
    (model, o), *_ = overlap.ratio_pairs([sa, sb], a + b)
    assert (model, o.questions, o.same_set, o.same_order) == ("m1", 8, 7, 4)
    assert (
        o.per_question["Q1"] == "same set" and o.per_question["Q0"] == "same order" and o.per_question["Q7"] == "differ"
    )
    assert "for 7 of 8 questions, in the same order for 4" in o.sentence()
    (said,) = overlap.best_ratio([sa, sb], a + b)
    assert said.startswith("m1: the context at ratio 0.3 makes the experts' answers most likely")
    assert overlap.kinship(["a", "b"], ["a", "b"]) == "same order" and overlap.kinship(None, ["a"]) is None
