"""Is B better than A on these questions? Paired statistics over per-question values, all from scipy and
statsmodels (Miller 2024, "Adding Error Bars to Evals": compare by paired per-question differences, cluster by
document, plan the question count with a power analysis).

- interval of the mean difference B - A: scipy's BCa bootstrap; when the questions span several documents the
  documents are resampled (a cluster bootstrap: each document's summed difference and question count, paired);
- p-value: Wilcoxon signed-rank for a continuous metric, exact McNemar on the discordant pairs for a right/wrong
  metric, a paired t-test for a measure that is itself a mean over many tokens (the expert answer's likelihood:
  close to normal, and unlike Wilcoxon's, its p is not bounded below by 2/2^n, 0.008 at 8 questions); with
  several documents, a t-test with standard errors clustered by document (statsmodels OLS on a
  constant, cov_type="cluster");
- equivalence: two one-sided tests against a margin (statsmodels' ttost_paired, or the clustered t when the
  questions span documents);
- power: statsmodels' TTestPower over the paired differences (for right/wrong values, their -1/0/1 differences),
  the spread inflated by the design effect of clustering where there is one.
"""

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
POWER = 0.8


def _flat(values: np.ndarray) -> bool:
    """No spread beyond rounding: BCa, TOST and power are undefined there."""
    return len(values) == 0 or float(np.ptp(values)) < 1e-9


@dataclass(frozen=True)
class Paired:
    """One metric on the same questions under A and B, with each question's document (None: one document)."""

    a: list[float]
    b: list[float]
    docs: list[str | None]
    binary: bool  # right/wrong values (0 or 1): McNemar rather than Wilcoxon
    parametric: bool = False  # a mean over many tokens per question: a paired t-test rather than Wilcoxon

    @property
    def diffs(self) -> np.ndarray:
        return np.asarray(self.b, dtype=float) - np.asarray(self.a, dtype=float)

    @property
    def clusters(self) -> np.ndarray | None:
        """Document labels when the questions span more than one document, else None."""
        labels = [d or "" for d in self.docs]
        return np.asarray(labels) if len(set(labels)) > 1 else None


@dataclass(frozen=True)
class Test:
    n: int
    documents: int  # 1 when not clustered
    mean_diff: float
    ci: tuple[float, float] | None  # 95 % BCa interval of the mean difference (None under three questions)
    p_value: float
    test: str  # which test gave p_value
    equivalence_p: float | None  # TOST p-value against +-margin (None: not computable)
    margin: float
    detectable: float | None  # smallest |difference| these questions detect with 80 % power at 5 %
    design_effect: float  # clustered variance over independent variance (1 without clusters)


def bca_interval(p: Paired, level: float = 0.95) -> tuple[float, float] | None:
    """The BCa bootstrap interval of the mean difference; over documents when there are several."""
    from scipy.stats import bootstrap

    d = p.diffs
    if len(d) < 3:
        return None
    if _flat(d):  # no spread: every resample gives the same mean (BCa is undefined there)
        return float(d[0]), float(d[0])
    groups = p.clusters
    if groups is None:
        res = bootstrap((d,), np.mean, method="BCa", confidence_level=level, n_resamples=5000, random_state=0)
    else:
        names = sorted(set(groups))
        sums = np.array([d[groups == g].sum() for g in names])
        sizes = np.array([(groups == g).sum() for g in names], dtype=float)
        if len(names) < 3:
            return None

        def ratio(s, n, axis):  # scipy passes the axis (it vectorizes a statistic that takes one)
            return s.sum(axis=axis) / n.sum(axis=axis)

        res = bootstrap(
            (sums, sizes), ratio, paired=True, method="BCa", confidence_level=level, n_resamples=5000, random_state=0
        )
    low, high = res.confidence_interval
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return float(low), float(high)


def _clustered_fit(d: np.ndarray, groups: np.ndarray):
    import statsmodels.api as sm

    exog = np.ones((len(d), 1))
    codes = np.unique(groups, return_inverse=True)[1]
    # use_t: Student's t with G - 1 degrees of freedom (G documents), as equivalence_p uses; the normal reference
    # statsmodels takes by default gave p-values too small with few documents (3: 0.51 where t gives 0.58)
    fit_args = {"cov_type": "cluster", "cov_kwds": {"groups": codes, "use_correction": True}, "use_t": True}
    return sm.OLS(d, exog).fit(**fit_args)


def p_value(p: Paired) -> tuple[float, str]:
    """Two-sided p-value for "no difference", and the test's name."""
    d, groups = p.diffs, p.clusters
    if not np.any(d):
        return 1.0, "no question differs"
    if groups is not None and len(set(groups)) >= 3:
        fit = _clustered_fit(d, groups)
        return float(fit.pvalues[0]), f"t-test, standard errors clustered by document ({len(set(groups))})"
    if p.binary:
        return mcnemar_p([x >= 0.5 for x in p.a], [x >= 0.5 for x in p.b]), "exact McNemar on the flips"
    if p.parametric and len(d) >= 2:
        from scipy.stats import ttest_rel

        if _flat(d):  # the same nonzero difference on every question: no spread for t, none needed
            return 0.0, "paired t-test (every question moved alike)"
        return float(ttest_rel(p.b, p.a).pvalue), "paired t-test"
    from scipy.stats import wilcoxon

    return float(wilcoxon(d, zero_method="wilcox").pvalue), "Wilcoxon signed-rank"


def mcnemar_p(right_a: list[bool], right_b: list[bool]) -> float:
    """Exact McNemar test (statsmodels) of the flips: right->wrong against wrong->right."""
    from statsmodels.stats.contingency_tables import mcnemar

    ra, rb = np.asarray(right_a, bool), np.asarray(right_b, bool)
    table = [[int(np.sum(ra & rb)), int(np.sum(ra & ~rb))], [int(np.sum(~ra & rb)), int(np.sum(~ra & ~rb))]]
    return float(mcnemar(table, exact=True).pvalue)


def equivalence_p(p: Paired, margin: float) -> float | None:
    """TOST p-value for |mean difference| < margin; None where the spread is zero or too few questions."""
    d, groups = p.diffs, p.clusters
    if len(d) < 3 or margin <= 0:
        return None
    if _flat(d):
        return 0.0 if abs(d[0]) < margin else 1.0
    if groups is not None and len(set(groups)) >= 3:
        from scipy.stats import t

        fit = _clustered_fit(d, groups)
        se, dof = float(fit.bse[0]), len(set(groups)) - 1
        mean = float(fit.params[0])
        return float(max(t.sf((mean + margin) / se, dof), t.cdf((mean - margin) / se, dof)))
    from statsmodels.stats.weightstats import ttost_paired

    return float(ttost_paired(np.asarray(p.b, float), np.asarray(p.a, float), -margin, margin)[0])


def design_effect(p: Paired) -> float:
    """How much clustering by document inflates the variance of the mean difference (>= 1; 1 without clusters)."""
    d, groups = p.diffs, p.clusters
    if groups is None or len(set(groups)) < 3 or _flat(d):
        return 1.0
    import statsmodels.api as sm

    naive = sm.OLS(d, np.ones((len(d), 1))).fit().bse[0]
    return max(1.0, float((_clustered_fit(d, groups).bse[0] / naive) ** 2))


def _spread(p: Paired) -> float:
    """The differences' standard deviation, inflated by clustering (callers ask with three questions or more)."""
    return float(np.std(p.diffs, ddof=1)) * math.sqrt(design_effect(p))


def detectable(p: Paired, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest mean difference these many questions detect (paired t-test power, observed spread)."""
    from statsmodels.stats.power import TTestPower

    n = len(p.diffs)
    if n < 3 or _flat(p.diffs):
        return None
    effect = float(TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power))
    return effect * _spread(p) if math.isfinite(effect) else None


def questions_needed(p: Paired, difference: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """How many questions (at this spread) detect a mean difference of `difference`; None without a spread."""
    from statsmodels.stats.power import TTestPower

    if _flat(p.diffs) or difference <= 0 or len(p.diffs) < 3:
        return None
    sd = _spread(p)
    n = float(
        np.atleast_1d(TTestPower().solve_power(effect_size=difference / sd, nobs=None, alpha=alpha, power=power))[0]
    )
    return max(2, math.ceil(n)) if math.isfinite(n) else None


def test(p: Paired, margin: float = 0.05) -> Test:
    pv, name = p_value(p)
    groups = p.clusters
    return Test(
        n=len(p.diffs),
        documents=len(set(groups)) if groups is not None else 1,
        mean_diff=float(np.mean(p.diffs)),
        ci=bca_interval(p),
        p_value=pv,
        test=name,
        equivalence_p=equivalence_p(p, margin),
        margin=margin,
        detectable=detectable(p),
        design_effect=design_effect(p),
    )


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment (statsmodels) for one baseline compared with several runs."""
    if len(p_values) < 2:
        return list(p_values)
    from statsmodels.stats.multitest import multipletests

    return [float(x) for x in multipletests(p_values, alpha=ALPHA, method="holm")[1]]


def sentence(t: Test, metric: str, p_adjusted: float | None = None, alpha: float = ALPHA) -> str:
    """One verdict: better, worse, equivalent within the margin, or no detectable difference."""
    pv = t.p_value if p_adjusted is None else p_adjusted
    shown = f"p = {pv:.3g}" + (" after Holm's correction" if p_adjusted is not None else "")
    if pv < alpha and t.mean_diff != 0:
        side = "better" if t.mean_diff > 0 else "worse"
        return f"B is {side} than A: {metric} {t.mean_diff:+.3f} ({shown}, {t.test})."
    if t.equivalence_p is not None and t.equivalence_p < alpha:
        return (
            f"A and B are equivalent within +-{t.margin:g} {metric} (two one-sided tests, p = {t.equivalence_p:.3g})."
        )
    reach = f"; {t.n} questions detect {t.detectable:.3f} or more" if t.detectable else ""
    return f"no detectable difference in {metric} with {t.n} questions ({shown}{reach})."
