"""Which run to pick: every run as a point of mean accuracy against seconds per answer (p50) and worker peak RSS;
the runs no other run beats on both (the Pareto front), and one sentence per budget naming the best run within it,
with its interval, unless a paired test on the shared questions cannot tell it from another run in the budget:
then the sentence says so, and how many questions would."""

import math
from dataclasses import dataclass

from ragq.producer.results import verdict
from ragq.producer.results.compare import Comparison, compare
from ragq.producer.results.summary import RunSummary
from ragq.shared.store.results import ResultRow


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


def _interval(p: Point) -> str:
    return f" [{p.ci_low:.2f}, {p.ci_high:.2f}]" if p.ci_low is not None else ""


def _undetectable(best: Point, others: list[Point], rows: list[ResultRow], metric: str) -> tuple[list[str], str]:
    """The runs the best one cannot be told apart from on their shared questions (paired test, Holm-corrected),
    and what it would take: '7 questions; about 40 would detect 0.05'."""
    mine = {p.run_id: [r for r in rows if r.run_id == p.run_id] for p in [best, *others]}
    found = [(p, compare(mine[p.run_id], mine[best.run_id], metric)) for p in others]
    tested = [(p, c) for p, c in found if c is not None]
    adjusted = verdict.holm([c.test.p_value for _, c in tested])
    ties: list[tuple[Point, Comparison | None]] = [
        (p, c) for (p, c), pv in zip(tested, adjusted, strict=True) if pv >= verdict.ALPHA
    ]
    ties += [(p, None) for p, c in found if c is None]  # no shared question: nothing tells them apart either
    if not ties:
        return [], ""
    counts = [c for _, c in ties if c is not None]
    n = min((len(c.pairs) for c in counts), default=0)
    needed = max((c.needed for c in counts if c.needed is not None), default=None)
    plan = f"; about {needed} would detect {DETECT:g}" if needed else ""
    return [p.label for p, _ in ties], f"{n} questions{plan}"


DETECT = 0.05


def budget_sentences(pts: list[Point], metric: str, rows: list[ResultRow]) -> list[str]:
    """For each run on the three-way front (accuracy, seconds, memory), its costs rounded up as a budget, and the
    most accurate run within that budget; where a paired test on the shared questions cannot tell it from another
    run within the budget, it is not called a winner."""
    lines, seen = [], set()
    for anchor in front(pts, ("seconds", "rss_mb")):
        budget = (round_up(anchor.seconds), round_up(anchor.rss_mb))
        if budget in seen:
            continue
        seen.add(budget)
        within = [p for p in pts if p.seconds <= budget[0] and p.rss_mb <= budget[1]]
        best = max(within, key=lambda p: p.accuracy)
        ties, reach = _undetectable(best, [p for p in within if p is not best], rows, metric)
        memory = f"{budget[1] / 1024:.1f} GB" if budget[1] >= 1024 else f"{budget[1]:.0f} MB"
        head = f"under {budget[0]:g} s per answer and {memory}"
        if ties:
            lines.append(
                f"{head}: no detectable difference in {metric} between {best.label} ({best.accuracy:.2f}"
                f"{_interval(best)}) and {', '.join(ties)} with {reach}: no winner yet"
            )
        else:
            lines.append(f"{head}: {best.label}, {metric} {best.accuracy:.2f}{_interval(best)}")
    return lines
