"""Two runs side by side: per question difference in a metric (cosine by default) and time ratio; overall with a
paired bootstrap interval."""

import statistics
from dataclasses import dataclass

from ragq.shared.metrics.stats import paired_bootstrap_ci
from ragq.shared.store.results import ResultRow


@dataclass(frozen=True)
class QuestionPair:
    question: str
    value_a: float  # the compared metric, mean over repetitions
    value_b: float
    diff: float  # b - a
    seconds_a: float
    seconds_b: float
    speedup: float  # seconds_a / seconds_b: how many times faster B answered


@dataclass(frozen=True)
class Comparison:
    metric: str
    pairs: list[QuestionPair]
    mean_diff: float
    diff_ci: tuple | None
    speedup: float  # mean seconds A / mean seconds B
    max_speedup: float


def _by_question(rows: list[ResultRow], metric: str) -> dict[str, tuple[float, float]]:
    """Mean metric and seconds per question, over repetitions (answers without the metric left out)."""
    grouped: dict[str, list[ResultRow]] = {}
    for r in rows:
        if getattr(r, metric) is not None:
            grouped.setdefault(r.question, []).append(r)
    return {
        q: (statistics.fmean(float(getattr(r, metric)) for r in rs), statistics.fmean(r.total_s for r in rs))
        for q, rs in grouped.items()
    }


def compare(rows_a: list[ResultRow], rows_b: list[ResultRow], metric: str = "cosine") -> Comparison | None:
    a, b = _by_question(rows_a, metric), _by_question(rows_b, metric)
    shared = [q for q in a if q in b]
    if not shared:
        return None
    pairs = [QuestionPair(q, a[q][0], b[q][0], b[q][0] - a[q][0], a[q][1], b[q][1], a[q][1] / b[q][1]) for q in shared]
    return Comparison(
        metric,
        pairs,
        statistics.fmean(p.diff for p in pairs),
        paired_bootstrap_ci([p.value_a for p in pairs], [p.value_b for p in pairs]),
        statistics.fmean(p.seconds_a for p in pairs) / statistics.fmean(p.seconds_b for p in pairs),
        max(p.speedup for p in pairs),
    )
