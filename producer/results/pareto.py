"""Which run to pick: every run as a point of mean accuracy against seconds per answer (p50) and worker peak RSS;
the runs no other run beats on both (the Pareto front), and one sentence per budget naming the best run within it,
with its interval, and the runs it cannot be told apart from."""

import math
from dataclasses import dataclass

from ragq.producer.results.summary import RunSummary


@dataclass(frozen=True)
class Point:
    run_id: int
    label: str
    accuracy: float
    ci_low: float | None
    ci_high: float | None
    seconds: float  # p50 seconds per answer
    rss_mb: float  # worker peak RSS


def points(summaries: list[RunSummary], metric: str) -> list[Point]:
    out = []
    for s in summaries:
        m = s.metric(metric)
        if m["mean"] is None or s.p50_total_s is None or s.peak_rss_mb is None:
            continue
        label = f"{s.model} r={s.ratio:g}" + ("" if s.prompt_kind == "chat" else f" {s.prompt_kind}")
        label += f" [{s.placement}]" if s.placement else ""  # one spec placed two ways: two points, told apart
        out.append(Point(s.run_id, label, m["mean"], m["ci_low"], m["ci_high"], s.p50_total_s, s.peak_rss_mb))
    return out


def _dominates(a: Point, b: Point, costs: tuple[str, ...]) -> bool:
    no_worse = a.accuracy >= b.accuracy and all(getattr(a, c) <= getattr(b, c) for c in costs)
    better = a.accuracy > b.accuracy or any(getattr(a, c) < getattr(b, c) for c in costs)
    return no_worse and better


def front(pts: list[Point], costs: tuple[str, ...] = ("seconds",)) -> list[Point]:
    """The non-dominated points (higher accuracy, lower costs), cheapest first."""
    kept = [p for p in pts if not any(_dominates(q, p, costs) for q in pts if q is not p)]
    return sorted(kept, key=lambda p: tuple(getattr(p, c) for c in costs))


def round_up(value: float) -> float:
    """A budget a person would state: 1.37 -> 1.4, 0.262 -> 0.27, 913 -> 920."""
    if value <= 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(round(value / step, 6)) * step, 10)


def _overlaps(a: Point, b: Point) -> bool:
    if a.ci_low is None or a.ci_high is None or b.ci_low is None or b.ci_high is None:
        return False
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high


def _interval(p: Point) -> str:
    return f" [{p.ci_low:.2f}, {p.ci_high:.2f}]" if p.ci_low is not None else ""


def budget_sentences(pts: list[Point], metric: str) -> list[str]:
    """For each run on the three-way front (accuracy, seconds, memory), its costs rounded up as a budget, and the
    most accurate run within that budget; runs whose intervals overlap the winner's are named as a tie."""
    lines, seen = [], set()
    for anchor in front(pts, ("seconds", "rss_mb")):
        budget = (round_up(anchor.seconds), round_up(anchor.rss_mb))
        if budget in seen:
            continue
        seen.add(budget)
        within = [p for p in pts if p.seconds <= budget[0] and p.rss_mb <= budget[1]]
        best = max(within, key=lambda p: p.accuracy)
        ties = [p.label for p in within if p is not best and _overlaps(p, best)]
        memory = f"{budget[1] / 1024:.1f} GB" if budget[1] >= 1024 else f"{budget[1]:.0f} MB"
        line = f"under {budget[0]:g} s per answer and {memory}: {best.label}, {metric} {best.accuracy:.2f}{_interval(best)}"
        if ties:
            line += f" (within the intervals of {', '.join(ties)}: not a clear winner)"
        lines.append(line)
    return lines
