"""The report's opening lines: which run is best over a question set, only where the data supports it.

Within each group of runs over one index and question set, for every measure (producer/results/measures.py) the run
with the best mean is tested against every other run on their shared questions; every test of the group (measures
x runs) is adjusted together by Holm's method. A run is named best by a measure only where it beats every other
run there; otherwise the line says that no run is shown better, and which measure would settle the closest call
with the fewest questions. A mean that is highest by a margin no test supports is not a winner."""

from dataclasses import dataclass

from ragq.producer.results import measures
from ragq.producer.results.decision import join_names, planning
from ragq.producer.results.summary import RunSummary
from ragq.shared.store.results import ResultRow


def label(s: RunSummary) -> str:
    where = f" {s.placement}" if s.placement else ""
    return f"{s.model} r={s.ratio:g}{where} (run {s.run_id})"


@dataclass(frozen=True)
class Contest:
    """One measure's best run against each other run of the group (A: the other, B: the best)."""

    measure: str
    best: RunSummary
    tests: list[measures.MeasureTest]
    others: list[int]  # the run each test compares with the best, in the same order

    def won(self) -> bool:
        return bool(self.tests) and all(t.decides() and t.b_is_better() for t in self.tests)


def _contests(group: list[RunSummary], rows: list[ResultRow]) -> list[Contest]:
    mine = {s.run_id: [r for r in rows if r.run_id == s.run_id] for s in group}
    out = []
    for m in measures.MEASURES.values():
        scored = [s for s in group if s.metric(m.name)["mean"] is not None]
        if len(scored) < 2:
            continue
        pick = max if m.higher_is_better else min
        best = pick(scored, key=lambda s: s.metric(m.name)["mean"])
        found = [(s.run_id, measures.test_measure(mine[s.run_id], mine[best.run_id], m)) for s in scored]
        kept = [(run, t) for run, t in found if t is not None and run != best.run_id]
        out.append(Contest(m.name, best, [t for _, t in kept], [run for run, _ in kept]))
    families = measures.adjust([c.tests for c in out])
    return [Contest(c.measure, c.best, tests, c.others) for c, tests in zip(out, families, strict=True)]


def _won(c: Contest, family: int) -> str:
    m = measures.MEASURES[c.measure]
    value = c.best.metric(c.measure)["mean"]
    worst = max(t.p_holm or 0.0 for t in c.tests)
    what = "makes the experts' answers most likely" if m.name == "expert_bpb" else f"answers best by {m.label}"
    unit = f" {m.unit}" if m.unit else ""
    return (
        f"{label(c.best)} {what} ({value:.3f}{unit}; better than each of the {len(c.tests)} other runs, "
        f"p <= {worst:.2g} after Holm over {family} tests)"
    )


def lines(summaries: list[RunSummary], rows: list[ResultRow], set_notes: dict[str, str] | None = None) -> list[str]:
    """One line per index and question set: its winner by each measure that names one, or that none is shown.
    set_notes: a generated question set's label (producer/testset/labels.py), shown with its group."""
    groups: dict[tuple, list[RunSummary]] = {}
    for s in sorted(summaries, key=lambda s: s.run_id):
        if s.done:
            groups.setdefault((s.index, s.questions), []).append(s)
    out = []
    for (index, qset), group in groups.items():
        n = max(s.done // max(s.repeat, 1) for s in group)
        where = f"Over '{qset}' ({index}, {n} questions, {len(group)} runs)"
        if qset in (set_notes or {}):
            where += f" [{(set_notes or {})[qset]}]"
        if len(group) < 2:
            out.append(f"{where}: one run, nothing to compare it with.")
            continue
        contests = _contests(group, rows)
        family = sum(len(c.tests) for c in contests)
        won = [_won(c, family) for c in contests if c.won()]
        if won:
            out.append(f"{where}: " + "; ".join(won) + ".")
            continue
        out.append(f"{where}: no run is shown better than every other (Holm over {family} tests)" + _partial(contests))
    return out


def _partial(contests: list[Contest]) -> str:
    """What the measures could tell where none names a winner: the most decisive one's best run and whom it beats,
    and which measure would need the fewest questions."""
    said = ""
    ranked = sorted(contests, key=lambda c: -sum(t.decides() and t.b_is_better() for t in c.tests))
    if ranked and any(t.decides() and t.b_is_better() for t in ranked[0].tests):
        c = ranked[0]
        beaten = [f"run {r} (p = {t.p_holm:.2g})" for r, t in zip(c.others, c.tests, strict=True) if t.decides()]
        rest = [str(r) for r, t in zip(c.others, c.tests, strict=True) if not t.decides()]
        said += (
            f". By {measures.MEASURES[c.measure].label}, {label(c.best)} is better than {join_names(beaten)} but "
            f"not shown better than run{'s' if len(rest) > 1 else ''} {join_names(rest)}"
        )
    plans = [t for c in contests for t in c.tests if t.needed is not None and not t.decides()]
    if plans:
        pick = min(plans, key=lambda t: t.needed or 0)
        seen = f" (these {pick.n} detect {pick.detectable:.3f} or more)" if pick.detectable is not None else ""
        said += f". Of the measures, {planning(pick)} between two of these runs{seen}, the fewest"
    return said + ". The highest means are not a winner."
