"""Small statistics for summaries: percentiles and bootstrap confidence intervals (seeded: same data, same interval)."""

import numpy as np


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def bootstrap_ci(values: list[float], level: float = 0.95, resamples: int = 5000, seed: int = 0) -> tuple | None:
    """Percentile bootstrap interval of the mean; None below two values."""
    if len(values) < 2:
        return None
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_bootstrap_ci(a: list[float], b: list[float], **kwargs) -> tuple | None:
    """Interval of the mean difference b - a over paired observations (the same questions)."""
    return bootstrap_ci([y - x for x, y in zip(a, b, strict=True)], **kwargs)
