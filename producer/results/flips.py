"""The report's flips: within each group of runs over the same index, question set and ratio, every run against
the group's first run (with `ragq run --quants`, the base model), on each metric with a right/wrong rule: accuracy
on both sides and the answers that flipped (Dutta et al. 2024). The verdicts, every measure side by side with one
Holm adjustment, are sidebyside.py's."""

from collections.abc import Iterator

from ragq.producer.results.compare import Comparison, compare
from ragq.producer.results.page import Table
from ragq.producer.results.summary import RunSummary
from ragq.shared.store.results import ResultRow

SHOWN = ("cosine", "token_f1", "number_match")
HEAD = ["baseline (A)", "run (B)", "metric", "right A", "right B", "right -> wrong", "wrong -> right", "McNemar p"]
HEAD += ["mean B - A [95% BCa]"]


def pairs(summaries: list[RunSummary], rows: list[ResultRow], metric: str) -> Iterator[tuple]:
    """(baseline, run, comparison) for every run that has a baseline in its group."""
    groups: dict[tuple, list[RunSummary]] = {}
    for s in sorted(summaries, key=lambda s: s.run_id):
        groups.setdefault((s.index, s.questions, s.ratio), []).append(s)
    for base, *others in groups.values():
        mine = lambda run_id: [r for r in rows if r.run_id == run_id]  # noqa: E731
        for s in others:
            c = compare(mine(base.run_id), mine(s.run_id), metric)
            if c is not None:
                yield base, s, c


def _cells(a: RunSummary, b: RunSummary, c: Comparison) -> list[str]:
    n = len(c.pairs)
    ci = f" [{c.diff_ci[0]:+.3f}, {c.diff_ci[1]:+.3f}]" if c.diff_ci else ""
    return [
        f"{a.run_id} {a.model}",
        f"{b.run_id} {b.model}",
        f"{c.metric} >= {c.right_at:g}",
        f"{round(c.accuracy_a * n)}/{n}",
        f"{round(c.accuracy_b * n)}/{n}",
        str(len(c.right_to_wrong)),
        str(len(c.wrong_to_right)),
        f"{c.flips_p:.3g}",
        f"{c.mean_diff:+.3f}{ci}",
    ]


def flips_table(summaries: list[RunSummary], rows: list[ResultRow]) -> Table | None:
    """Each metric's flips for every run against its baseline; None where no two runs share a group."""
    body = [_cells(a, b, c) for metric in SHOWN for a, b, c in pairs(summaries, rows, metric)]
    return Table(HEAD, body) if body else None
