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
    three = stats.bootstrap((b[:3] - a[:3],), np.mean, method="BCa", n_resamples=5000, random_state=0)
    interval = three.confidence_interval
    assert verdict.bca_interval(paired(a[:3], b[:3])) == pytest.approx((interval.low, interval.high))


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
    fit = sm.OLS(np.asarray(b) - 0.5, np.ones((20, 1))).fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    assert pv == pytest.approx(fit.pvalues[0])  # Student's t with 4 - 1 dof, not the normal reference
    assert pv == pytest.approx(2 * stats.t.sf(abs(fit.tvalues[0]), 3))


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


def three_documents(seed=5, shifts=(0.02, -0.03, 0.04)):
    """Twelve questions over three documents (the fewest the clustered statistics use), 4 each."""
    docs = [d for d in "ABC" for _ in range(4)]
    diffs = np.random.default_rng(seed).normal(0.01, 0.05, 12) + np.repeat(shifts, 4)
    return paired(np.zeros(12), diffs, docs), diffs, np.unique(docs, return_inverse=True)[1]


def clustered_fit(diffs, codes):
    """The oracle: statsmodels' OLS on a constant, standard errors clustered by document, t with G - 1 dof."""
    import statsmodels.api as sm

    return sm.OLS(diffs, np.ones((len(diffs), 1))).fit(
        cov_type="cluster", cov_kwds={"groups": codes, "use_correction": True}, use_t=True
    )


def scipy_cluster_interval(diffs, codes):
    """The oracle: scipy's BCa over each document's summed difference and question count, resampled in pairs."""
    return stats.bootstrap(
        (np.bincount(codes, diffs), np.bincount(codes).astype(float)),
        lambda s, n, axis: s.sum(axis=axis) / n.sum(axis=axis),
        paired=True,
        method="BCa",
        n_resamples=5000,
        random_state=0,
    ).confidence_interval


def test_clustered_interval_is_scipys_paired_bca_over_document_sums():
    p, diffs, codes = three_documents()
    direct = scipy_cluster_interval(diffs, codes)
    assert verdict.bca_interval(p) == pytest.approx((direct.low, direct.high))
    # six documents of 2 to 4 questions (3^3 resamples of three are too few to tell 5,000 resamples from 5,001; equal
    # sizes would hide a resampling of sums and sizes that is not paired)
    docs6 = [d for d, n in zip("ABCDEF", (2, 3, 4, 2, 3, 4), strict=True) for _ in range(n)]
    d6 = np.random.default_rng(9).normal(0.02, 0.08, 18)
    codes6 = np.unique(docs6, return_inverse=True)[1]
    six = scipy_cluster_interval(d6, codes6)
    assert verdict.bca_interval(paired(np.zeros(18), d6, docs6)) == pytest.approx((six.low, six.high), rel=1e-9)
    two = paired(np.zeros(8), diffs[:8], ["A"] * 4 + ["B"] * 4)  # two documents are too few to resample
    assert verdict.bca_interval(two) is None
    assert verdict.bca_interval(paired([0.5] * 5, [0.6] * 5)) == pytest.approx((0.1, 0.1))  # no spread


def clustered_tost(diffs, codes, margin):
    """Two one-sided t-tests of the clustered mean against -margin and +margin, from statsmodels' t_test."""
    fit = clustered_fit(diffs, codes)
    low = fit.t_test((np.array([[1.0]]), np.array([-margin])))  # H0: mean <= -margin
    high = fit.t_test((np.array([[1.0]]), np.array([margin])))  # H0: mean >= +margin
    assert low.df_denom == high.df_denom == len(set(codes)) - 1  # G - 1
    return max(stats.t.sf(low.tvalue.item(), low.df_denom), stats.t.cdf(high.tvalue.item(), high.df_denom))


def test_clustered_equivalence_and_design_effect_against_statsmodels():
    p, diffs, codes = three_documents()
    fit = clustered_fit(diffs, codes)
    for sign in (1, -1):  # above and below 0: each one-sided test decides once
        moved = paired(np.zeros(12), sign * diffs, [d for d in "ABC" for _ in range(4)])
        assert verdict.equivalence_p(moved, 0.05) == pytest.approx(clustered_tost(sign * diffs, codes, 0.05))
    docs6 = [d for d in "ABCDEF" for _ in range(3)]
    d6 = np.random.default_rng(10).normal(0.01, 0.04, 18)
    six = paired(np.zeros(18), d6, docs6)
    assert verdict.equivalence_p(six, 0.05) == pytest.approx(clustered_tost(d6, np.repeat(np.arange(6), 3), 0.05))
    assert verdict.p_value(p) == (pytest.approx(fit.pvalues[0]), "t-test, standard errors clustered by document (3)")
    import statsmodels.api as sm

    naive = sm.OLS(diffs, np.ones((12, 1))).fit().bse[0]
    assert verdict.design_effect(p) == pytest.approx((fit.bse[0] / naive) ** 2) and verdict.design_effect(p) > 1
    # within each document the differences cancel: clustering shrinks the variance, and the effect stays at 1
    cancel = [0.1, -0.1, 0.12, -0.12] * 3
    c = paired(np.zeros(12), cancel, [d for d in "ABC" for _ in range(4)])
    assert clustered_fit(np.asarray(cancel), codes).bse[0] < naive and verdict.design_effect(c) == 1.0
    sd = float(np.std(diffs, ddof=1)) * math.sqrt(verdict.design_effect(p))  # the spread inflated by clustering
    from statsmodels.stats.power import TTestPower

    assert verdict.detectable(p) == pytest.approx(sd * TTestPower().solve_power(nobs=12, alpha=0.05, power=0.8))
    assert verdict.test(p).documents == 3 and verdict.test(paired([0.1, 0.2, 0.3], [0.2, 0.2, 0.5])).documents == 1


def test_two_documents_are_not_clustered_and_unclustered_equivalence_is_ttost():
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(6)
    a = rng.uniform(0.4, 0.6, 8)
    b = a + rng.normal(0.0, 0.01, 8)  # a spread far under 1: not "flat"
    two = paired(a, b, ["A"] * 4 + ["B"] * 4)
    assert verdict.p_value(two) == (pytest.approx(stats.wilcoxon(b - a).pvalue), "Wilcoxon signed-rank")
    assert verdict.design_effect(two) == 1.0
    assert verdict.equivalence_p(two, 0.05) == pytest.approx(ttost_paired(b, a, -0.05, 0.05)[0])
    assert verdict.equivalence_p(paired(a, b), 0.05) == pytest.approx(ttost_paired(b, a, -0.05, 0.05)[0])
    three = paired(a[:3], b[:3])
    assert verdict.equivalence_p(three, 0.05) == pytest.approx(ttost_paired(b[:3], a[:3], -0.05, 0.05)[0])
    assert verdict.equivalence_p(paired(a[:2], b[:2]), 0.05) is None  # under three questions
    assert verdict.equivalence_p(paired(a, b), 0.0) is None  # no margin, no equivalence
    assert verdict.equivalence_p(paired(a, b), -0.05) is None
    # every question moved alike: equivalent exactly when that one move is inside the margin
    assert verdict.equivalence_p(paired([0.5] * 4, [0.51] * 4), 0.05) == 0.0
    assert verdict.equivalence_p(paired([0.5] * 4, [0.6] * 4), 0.05) == 1.0
    assert verdict.equivalence_p(paired([0.5] * 4, [0.75] * 4), 0.25) == 1.0  # at the margin is not inside it
    assert verdict.test(paired(a, b)).margin == 0.05  # the stated default


def test_a_mean_over_many_tokens_gets_a_paired_t_test_from_two_questions():
    a, b = [1.2, 0.9], [1.0, 0.8]
    pv, name = verdict.p_value(verdict.Paired(a, b, [None, None], False, parametric=True))
    assert name == "paired t-test" and pv == pytest.approx(stats.ttest_rel(b, a).pvalue)
    one = verdict.Paired([1.2], [1.0], [None], False, parametric=True)  # one question: no t-test
    assert verdict.p_value(one) == (pytest.approx(stats.wilcoxon([-0.2]).pvalue), "Wilcoxon signed-rank")
    alike = verdict.Paired([1.0, 2.0, 3.0], [1.5, 2.5, 3.5], [None] * 3, False, parametric=True)
    assert verdict.p_value(alike) == (0.0, "paired t-test (every question moved alike)")


def test_power_at_its_edges():
    d = np.array([0.1, -0.05, 0.2])
    p = paired(np.zeros(3), d)
    from statsmodels.stats.power import TTestPower as Power

    at_three = float(np.std(d, ddof=1)) * Power().solve_power(nobs=3, alpha=0.05, power=0.8)
    assert verdict.detectable(p) == pytest.approx(at_three)  # three questions are enough to plan with
    assert verdict.detectable(paired(np.zeros(2), d[:2])) is None  # under three questions
    assert verdict.questions_needed(paired(np.zeros(2), d[:2]), 0.1) is None
    from statsmodels.stats.power import TTestPower

    sd = float(np.std(d, ddof=1))
    needed = TTestPower().solve_power(effect_size=0.1 / sd, nobs=None, alpha=0.05, power=0.8)
    assert verdict.questions_needed(p, 0.1) == math.ceil(needed)
    assert verdict.questions_needed(p, 10 * sd) == 2  # a difference ten spreads wide: two questions show it
    assert verdict.questions_needed(paired([], []), 0.1) is None  # nothing compared
    assert verdict.questions_needed(p, 0.0) is None and verdict.questions_needed(p, -0.1) is None


def test_holm_over_two_and_none():
    assert verdict.holm([0.01, 0.04]) == pytest.approx([0.02, 0.04])
    assert verdict.holm([]) == []


def test_a_pair_of_runs_and_its_test_are_values():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):  # nothing may amend the values a verdict was drawn from
        paired([0.1], [0.2]).a = [0.3]  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.test(paired([0.1, 0.4, 0.3], [0.2, 0.5, 0.1])).p_value = 0.0  # type: ignore[misc]
    assert paired([], []).clusters is None  # no questions: no documents to cluster by


def test_the_sentence_names_what_the_questions_can_detect():
    few = verdict.test(paired([0.5] * 5, [0.6, 0.3, 0.65, 0.45, 0.52]))
    assert f"; 5 questions detect {few.detectable:.3f} or more" in verdict.sentence(few, "cosine")
    two = verdict.test(paired([0.5, 0.5], [0.6, 0.3]))
    assert two.detectable is None and "questions detect" not in verdict.sentence(two, "cosine")


def test_worse_and_a_significant_test_with_no_mean_difference():
    rng = np.random.default_rng(8)
    a = rng.uniform(0.4, 0.6, 30)
    worse = verdict.test(paired(a, a - 0.2 + rng.normal(0, 0.02, 30)))
    assert verdict.sentence(worse, "cosine").startswith("B is worse than A: cosine -0.2")
    # sixteen questions a little better, one much worse: Wilcoxon's ranks reject, yet the mean moved by exactly 0
    d = [0.0625] * 16 + [-1.0]
    zero = verdict.test(paired([0.0] * 17, d))
    assert zero.mean_diff == 0.0 and zero.p_value < 0.05 and zero.test == "Wilcoxon signed-rank"
    assert not verdict.sentence(zero, "cosine").startswith("B is")
