"""Every measure side by side for A against B on their shared questions, and the one that decides.

The measures: the experts' answers' likelihood (bits per byte, lower is better: shared/metrics/likelihood.py),
token F1, cosine, exact match and number match (higher is better), each a question's mean over its repetitions,
compared pair by pair (verdict.py: Wilcoxon, exact McNemar, a paired t-test for the likelihood, clustered by
document where the questions span several). For each: both means, the difference and its relative size, on how
many questions B is better and worse, the p-value, the smallest difference these questions detect, and how many
questions would detect the measure's own difference worth detecting (`DETECT`).

Trying five measures must not manufacture a decision: every p-value of one comparison's family (every measure,
and every run compared with the same baseline) is adjusted together by Holm's method, and a measure decides only
where its adjusted p is under 5 %. Drift (where `ragq drift` measured B from A's model) is shown beside them; it
says how far B's token distribution moved, not which answers better, so it is not tested.
"""

import statistics
from dataclasses import dataclass, replace

from ragq.producer.results import verdict
from ragq.shared.store.results import ResultRow


@dataclass(frozen=True)
class Measure:
    name: str  # the ResultRow field
    label: str  # its name in sentences and tables
    unit: str  # "" for a share or a score
    higher_is_better: bool
    detect: float  # the difference worth detecting, in its unit: what "questions needed" plans for
    binary: bool = False
    parametric: bool = False


MEASURES = {
    m.name: m
    for m in (
        Measure("expert_bpb", "the experts' answers' likelihood", "bits per byte", False, 0.05, parametric=True),
        Measure("token_f1", "token F1", "", True, 0.05),
        Measure("cosine", "cosine", "", True, 0.05),
        Measure("exact_match", "exact match", "", True, 0.1, binary=True),
        Measure("number_match", "number match", "", True, 0.1),
    )
}


@dataclass(frozen=True)
class MeasureTest:
    measure: str
    n: int  # questions both sides have the measure for
    mean_a: float
    mean_b: float
    diff: float  # B - A, in the measure's unit
    relative: float | None  # diff / mean A (None where A's mean is 0)
    better: int  # questions on which B is better than A by this measure
    worse: int
    p: float
    test: str
    detectable: float | None  # smallest |difference| these questions detect (80 % power, 5 % level)
    detect: float
    needed: int | None  # questions that would detect `detect`
    p_holm: float | None = None  # adjusted over the comparison's whole family

    @property
    def spec(self) -> Measure:
        return MEASURES[self.measure]

    def b_is_better(self) -> bool:
        return (self.diff > 0) == self.spec.higher_is_better

    def decides(self) -> bool:
        return self.p_holm is not None and self.p_holm < verdict.ALPHA and self.diff != 0


def per_question(rows: list[ResultRow], name: str) -> dict[str, tuple[float, str | None]]:
    """A question's mean over its repetitions (answers without the measure left out), with its document."""
    grouped: dict[str, list[ResultRow]] = {}
    for r in rows:
        if getattr(r, name) is not None:
            grouped.setdefault(r.question, []).append(r)
    return {q: (statistics.fmean(float(getattr(r, name)) for r in rs), rs[0].doc) for q, rs in grouped.items()}


def test_measure(rows_a: list[ResultRow], rows_b: list[ResultRow], m: Measure, detect: float | None = None):
    """One measure on the questions both sides have it for; None where they share none."""
    a, b = per_question(rows_a, m.name), per_question(rows_b, m.name)
    shared = [q for q in a if q in b]
    if not shared:
        return None
    paired = verdict.Paired([a[q][0] for q in shared], [b[q][0] for q in shared], [a[q][1] for q in shared],
                            m.binary, m.parametric)  # fmt: skip
    diffs = paired.diffs
    p_value, name = verdict.p_value(paired)
    mean_a, mean_b = statistics.fmean(paired.a), statistics.fmean(paired.b)
    sign = 1 if m.higher_is_better else -1
    detect = m.detect if detect is None else detect
    return MeasureTest(
        measure=m.name,
        n=len(shared),
        mean_a=mean_a,
        mean_b=mean_b,
        diff=mean_b - mean_a,
        relative=(mean_b - mean_a) / abs(mean_a) if mean_a else None,
        better=int(sum(sign * d > 0 for d in diffs)),
        worse=int(sum(sign * d < 0 for d in diffs)),
        p=p_value,
        test=name,
        detectable=verdict.detectable(paired),
        detect=detect,
        needed=verdict.questions_needed(paired, detect),
    )


def side_by_side(rows_a: list[ResultRow], rows_b: list[ResultRow], detect: dict | None = None) -> list[MeasureTest]:
    """Every measure both runs have, in MEASURES' order; `detect` overrides a measure's difference worth detecting."""
    found = [test_measure(rows_a, rows_b, m, (detect or {}).get(m.name)) for m in MEASURES.values()]
    return [t for t in found if t is not None]


def adjust(families: list[list[MeasureTest]]) -> list[list[MeasureTest]]:
    """Holm over every test of every comparison given (measures x runs), each test given its adjusted p."""
    flat = [t for tests in families for t in tests]
    adjusted = iter(verdict.holm([t.p for t in flat]) if len(flat) > 1 else [t.p for t in flat])
    return [[replace(t, p_holm=next(adjusted)) for t in tests] for tests in families]


def family_size(families: list[list[MeasureTest]]) -> int:
    return sum(len(tests) for tests in families)
