"""Paired tests, flips and power: each figure against a direct computation or a textbook value."""

import math

import numpy as np
import pytest
from scipy import stats

from ragq.producer.results import verdict
from ragq.producer.results.compare import compare
from ragq.shared.errors import UsageError
from ragq.shared.store.results import ResultRow


def paired(a, b, docs=None, binary=False):
    return verdict.Paired(list(a), list(b), docs or [None] * len(a), binary)


def test_exact_mcnemar_is_the_binomial_of_the_discordant_pairs():
    # 6 wrong -> right, 0 right -> wrong, 4 unchanged: two-sided binomial(6, 1/2) at 0 = 2 / 2**6
    a = [0] * 6 + [1, 1, 0, 0]
    b = [1] * 6 + [1, 1, 0, 0]
    assert verdict.mcnemar_p([x == 1 for x in a], [x == 1 for x in b]) == pytest.approx(2 / 2**6)
    assert verdict.p_value(paired(a, b, binary=True)) == (pytest.approx(2 / 2**6), "exact McNemar on the flips")
    assert stats.binomtest(0, 6).pvalue == pytest.approx(2 / 2**6)


def test_wilcoxon_and_identical_runs():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.3, 0.9, 12)
    b = a + rng.normal(0.02, 0.05, 12)
    pv, name = verdict.p_value(paired(a, b))
    assert name == "Wilcoxon signed-rank" and pv == pytest.approx(stats.wilcoxon(b - a).pvalue)
    assert verdict.p_value(paired(a, a)) == (1.0, "no question differs")


def test_bca_interval_unclustered_matches_scipy_and_covers_the_mean():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0, 1, 10), rng.uniform(0, 1, 10)
    low, high = verdict.bca_interval(paired(a, b))
    direct = stats.bootstrap((b - a,), np.mean, method="BCa", n_resamples=5000, random_state=0).confidence_interval
    assert (low, high) == pytest.approx((direct.low, direct.high))
    assert low < np.mean(b - a) < high
    assert verdict.bca_interval(paired([0.1, 0.2], [0.3, 0.4])) is None  # under three questions


def test_clustered_interval_resamples_documents_and_is_wider_when_documents_differ():
    # four documents; within one the difference is constant, between them it varies: questions are not independent
    docs = [d for d in "ABCD" for _ in range(5)]
    shift = {"A": 0.3, "B": -0.2, "C": 0.25, "D": -0.1}
    a = [0.5] * 20
    b = [0.5 + shift[d] + 0.01 * (i % 5) for i, d in enumerate(docs)]
    clustered, flat = paired(a, b, docs), paired(a, b)
    c_low, c_high = verdict.bca_interval(clustered)
    f_low, f_high = verdict.bca_interval(flat)
    assert c_high - c_low > f_high - f_low
    assert verdict.design_effect(clustered) > 2 and verdict.design_effect(flat) == 1.0
    pv, name = verdict.p_value(clustered)
    assert "clustered by document (4)" in name
    import statsmodels.api as sm

    codes = np.unique(docs, return_inverse=True)[1]
    fit = sm.OLS(np.asarray(b) - 0.5, np.ones((20, 1))).fit(cov_type="cluster", cov_kwds={"groups": codes})
    assert pv == pytest.approx(fit.pvalues[0])


def test_power_matches_the_textbook_paired_t():
    # effect size 0.5 (Cohen's d), 80% power, 5% two-sided: 34 pairs (33.4 rounded up)
    rng = np.random.default_rng(3)
    d = rng.normal(0, 1, 40)
    d = (d - d.mean()) / d.std(ddof=1) * 0.2  # sd 0.2 exactly
    p = paired(np.zeros(40), d)
    assert verdict.questions_needed(p, 0.1) == 34
    from statsmodels.stats.power import TTestPower

    assert verdict.detectable(p) == pytest.approx(0.2 * TTestPower().solve_power(nobs=40, alpha=0.05, power=0.8))
    assert verdict.questions_needed(paired([0.5] * 5, [0.5] * 5), 0.1) is None  # no spread, no plan


def test_holm_adjusts_like_statsmodels():
    assert verdict.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert verdict.holm([0.2]) == [0.2]


def test_sentences_better_equivalent_and_undetectable():
    rng = np.random.default_rng(4)
    a = rng.uniform(0.4, 0.6, 30)
    better = verdict.test(paired(a, a + 0.2 + rng.normal(0, 0.02, 30)))
    assert verdict.sentence(better, "cosine").startswith("B is better than A: cosine +0.19")
    same = verdict.test(paired(a, a + rng.normal(0, 0.01, 30)), margin=0.05)
    assert verdict.sentence(same, "cosine").startswith("A and B are equivalent within +-0.05 cosine")
    few = verdict.test(paired(a[:5], a[:5] + np.array([0.1, -0.2, 0.15, -0.05, 0.02])))
    text = verdict.sentence(few, "cosine")
    assert text.startswith("no detectable difference in cosine with 5 questions") and "detect" in text
    assert "after Holm's correction" in verdict.sentence(better, "cosine", p_adjusted=0.5)


def row(run, question, value, seconds=1.0, doc=None):
    return ResultRow(
        run, 1, "m", 0.3, 0, question, "a", value, seconds, 0.1, 10, 0.1, 5, 0.1, 0, 1.0, None, doc=doc
    )  # cosine = value


def test_flips_between_two_runs():
    a = [row(1, f"Q{i}", v) for i, v in enumerate([0.9, 0.8, 0.5, 0.6, 0.95])]
    b = [row(2, f"Q{i}", v) for i, v in enumerate([0.6, 0.85, 0.8, 0.77, 0.96])]
    c = compare(a, b, "cosine")
    assert c.right_at == 0.75
    assert c.right_to_wrong == ["Q0"] and c.wrong_to_right == ["Q2", "Q3"]
    assert (c.accuracy_a, c.accuracy_b) == (pytest.approx(3 / 5), pytest.approx(4 / 5))
    assert c.flips_p == pytest.approx(1.0)  # 1 against 2: nothing to tell
    assert compare(a, b, "cosine", right_at=0.9).wrong_to_right == []
    with pytest.raises(UsageError, match="--right-at"):
        compare(a, b, "abstained")
    assert math.isclose(c.mean_diff, np.mean([-0.3, 0.05, 0.3, 0.17, 0.01]))
