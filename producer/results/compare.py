"""Runs side by side on the same questions: per question the metric (mean over repetitions) and seconds; overall
the paired test and its verdict (verdict.py), the answers that flipped between right and wrong (Dutta et al.
2024, "Accuracy is Not All You Need"), and how many questions would settle it.

Right or wrong, per metric (a question's value, averaged over repetitions, at or above the threshold is right):
cosine >= 0.75 (the study's expert answers: paraphrases score 0.75-0.95, off-topic answers under 0.6), token F1
>= 0.5, ROUGE-L >= 0.5, exact match = 1, number match = 1 (every number of the reference stated; questions whose
reference has no number are not judged), groundedness >= 0.8. `ragq compare --right-at` sets another threshold.
"""

import statistics
from dataclasses import dataclass

from ragq.producer.results import verdict
from ragq.shared.errors import UsageError
from ragq.shared.store.results import ResultRow

RIGHT_AT = {
    "cosine": 0.75,
    "token_f1": 0.5,
    "rouge_l": 0.5,
    "exact_match": 1.0,
    "number_match": 1.0,
    "groundedness": 0.8,
}
BINARY = frozenset({"exact_match"})  # metrics whose values are right/wrong already


@dataclass(frozen=True)
class QuestionPair:
    question: str
    doc: str | None
    value_a: float  # the compared metric, mean over repetitions
    value_b: float
    diff: float  # b - a
    seconds_a: float
    seconds_b: float
    speedup: float  # seconds_a / seconds_b: how many times faster B answered
    right_a: bool
    right_b: bool


@dataclass(frozen=True)
class Comparison:
    metric: str
    right_at: float
    pairs: list[QuestionPair]
    mean_diff: float
    diff_ci: tuple | None  # BCa interval of the mean difference
    speedup: float  # mean seconds A / mean seconds B
    max_speedup: float
    accuracy_a: float  # share of questions right under A
    accuracy_b: float
    right_to_wrong: list[str]  # questions A answered right and B wrong
    wrong_to_right: list[str]
    flips_p: float  # exact McNemar on the flips
    test: verdict.Test
    needed: int | None  # questions needed to detect `detect` (None: no spread observed)
    detect: float


def _by_question(rows: list[ResultRow], metric: str) -> dict[str, tuple[float, float, str | None]]:
    """Mean metric and seconds per question, over repetitions (answers without the metric left out)."""
    grouped: dict[str, list[ResultRow]] = {}
    for r in rows:
        if getattr(r, metric) is not None:
            grouped.setdefault(r.question, []).append(r)
    return {
        q: (
            statistics.fmean(float(getattr(r, metric)) for r in rs),
            statistics.fmean(r.total_s for r in rs),
            rs[0].doc,
        )
        for q, rs in grouped.items()
    }


def _pairs(a: dict, b: dict, threshold: float) -> list[QuestionPair]:
    """The questions both sides answered, in A's order."""
    return [
        QuestionPair(
            q,
            a[q][2],
            a[q][0],
            b[q][0],
            b[q][0] - a[q][0],
            a[q][1],
            b[q][1],
            a[q][1] / b[q][1],
            a[q][0] >= threshold,
            b[q][0] >= threshold,
        )  # fmt: skip
        for q in a
        if q in b
    ]


def right_threshold(metric: str, right_at: float | None) -> float:
    if right_at is not None:
        return right_at
    if metric not in RIGHT_AT:
        raise UsageError(f"no right/wrong rule for '{metric}': give one with --right-at VALUE.")
    return RIGHT_AT[metric]


def compare(
    rows_a: list[ResultRow],
    rows_b: list[ResultRow],
    metric: str = "cosine",
    *,
    right_at: float | None = None,
    margin: float = 0.05,
    detect: float = 0.05,
) -> Comparison | None:
    """A against B on their shared questions; None when they share none with the metric."""
    threshold = right_threshold(metric, right_at)
    pairs = _pairs(_by_question(rows_a, metric), _by_question(rows_b, metric), threshold)
    if not pairs:
        return None
    paired = verdict.Paired(
        [p.value_a for p in pairs], [p.value_b for p in pairs], [p.doc for p in pairs], metric in BINARY
    )
    result = verdict.test(paired, margin)
    return Comparison(
        metric=metric,
        right_at=threshold,
        pairs=pairs,
        mean_diff=result.mean_diff,
        diff_ci=result.ci,
        speedup=statistics.fmean(p.seconds_a for p in pairs) / statistics.fmean(p.seconds_b for p in pairs),
        max_speedup=max(p.speedup for p in pairs),
        accuracy_a=sum(p.right_a for p in pairs) / len(pairs),
        accuracy_b=sum(p.right_b for p in pairs) / len(pairs),
        right_to_wrong=[p.question for p in pairs if p.right_a and not p.right_b],
        wrong_to_right=[p.question for p in pairs if p.right_b and not p.right_a],
        flips_p=verdict.mcnemar_p([p.right_a for p in pairs], [p.right_b for p in pairs]),
        test=result,
        needed=verdict.questions_needed(paired, detect),
        detect=detect,
    )


def placement_notes(a, b) -> list[str]:
    """Why two runs may not compare (a and b: RunSummary): their hosts were shared differently, their models ran
    elsewhere, or on two llama.cpp builds."""
    notes = []
    if a.host_workers != b.host_workers:
        notes.append(
            f"up to {a.host_workers or '?'} ragq worker(s) shared the host during run A's jobs and "
            f"{b.host_workers or '?'} during run B's: their seconds are not comparable."
        )
    if a.placement != b.placement:
        notes.append(f"run A's model ran on {a.placement or '?'}, run B's on {b.placement or '?'}.")
    if a.build and b.build and a.build != b.build:
        notes.append(
            f"run A's llama.cpp ({a.build}) and run B's ({b.build}) differ: one model can word its answers "
            "differently on two builds, so not every difference in answers is the model's."
        )
    return notes
