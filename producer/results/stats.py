"""Small statistics for summaries: percentiles and bootstrap confidence intervals of a mean (scipy's BCa, seeded:
same data, same interval). Paired tests between runs: producer/results/verdict.py."""

import math

import numpy as np


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def bootstrap_ci(values: list[float], level: float = 0.95, resamples: int = 5000, seed: int = 0) -> tuple | None:
    """BCa bootstrap interval of the mean (scipy.stats.bootstrap); None below two values."""
    from scipy.stats import bootstrap

    if len(values) < 2:
        return None
    data = np.asarray(values, dtype=float)
    if np.ptp(data) == 0:  # no spread: every resample has the same mean, where BCa is undefined
        return float(data[0]), float(data[0])
    for method in ("BCa", "percentile"):  # BCa needs a jackknife with spread; two values may not give one
        res = bootstrap(
            (data,), np.mean, method=method, confidence_level=level, n_resamples=resamples, random_state=seed
        )
        low, high = res.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return float(low), float(high)
    return None
