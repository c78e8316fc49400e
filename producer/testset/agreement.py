"""Does a generated question set rank and decide like the expert set? Over runs of the same variants on both sets:
Kendall's tau between the runs' orderings by each measure (scipy), the pairwise verdicts as `ragq compare` makes
them (every measure, Holm within the comparison) agreeing in sign and in decision, and the subsample curve: how tau
grows with the number of generated questions. Pure functions over result rows (producer/results/measures.py)."""

import itertools
import random
import statistics
from dataclasses import dataclass

from ragq.producer.results import measures

RANKED = ("expert_bpb", "token_f1", "cosine")  # the measures whose orderings are compared
MIN_TAU = 0.7


@dataclass(frozen=True)
class Variant:
    label: str
    expert: list  # ResultRows of the run on the expert set
    generated: list  # ResultRows of the same variant's run on the generated set


def means(rows_by_variant: list[list], measure: str, keep=None) -> list[float | None]:
    """Each run's mean of its questions' means (over repetitions); `keep`: only these questions."""
    out: list[float | None] = []
    for rows in rows_by_variant:
        per = measures.per_question(rows, measure)
        values = [v for q, (v, _) in per.items() if keep is None or q in keep]
        out.append(statistics.fmean(values) if values else None)
    return out


def kendall(a: list[float | None], b: list[float | None]) -> float | None:
    """Kendall's tau-b between two orderings of the same runs (None: fewer than 3 runs with both, or no spread)."""
    from scipy.stats import kendalltau

    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if len(pairs) < 3:
        return None
    tau = kendalltau([x for x, _ in pairs], [y for _, y in pairs]).statistic
    return None if tau != tau else float(tau)  # NaN where one side has no spread


def verdict(tests: list[measures.MeasureTest]) -> str:
    """A comparison's verdict as `ragq compare` reads it: the deciding measure with the smallest adjusted p says
    whether B is better or worse; else undecided."""
    deciding = sorted((t for t in tests if t.decides()), key=lambda t: t.p_holm or 0.0)
    if not deciding:
        return "undecided"
    return "better" if deciding[0].b_is_better() else "worse"


def states(tests: list[measures.MeasureTest]) -> dict[str, tuple[int, str]]:
    """Per measure: the sign of B - A in the better direction (1, -1, 0) and its decision (better/worse/undecided)."""
    out = {}
    for t in tests:
        sign = 0 if t.diff == 0 else (1 if t.b_is_better() else -1)
        out[t.measure] = (sign, ("better" if t.b_is_better() else "worse") if t.decides() else "undecided")
    return out


def pairwise(rows_by_variant: list[list]) -> list[tuple[str, dict]]:
    """Every pair of runs compared as `ragq compare A B` would: (verdict, per-measure states)."""
    out = []
    for a, b in itertools.combinations(range(len(rows_by_variant)), 2):
        (tests,) = measures.adjust([measures.side_by_side(rows_by_variant[a], rows_by_variant[b])])
        out.append((verdict(tests), states(tests)))
    return out


def _share(hits: int, n: int) -> float | None:
    return hits / n if n else None


def verdict_agreement(expert: list[tuple[str, dict]], generated: list[tuple[str, dict]]) -> dict:
    """How many pairwise verdicts agree: overall and per measure, in sign and in decision; the expert set's decided
    verdicts the generated set missed (undecided) or contradicted (decided the other way)."""
    pairs = list(zip(expert, generated, strict=True))
    out: dict = {"pairs": len(pairs), "measures": {}}
    out["verdicts_agree"] = _share(sum(e[0] == g[0] for e, g in pairs), len(pairs))
    out["missed"] = sum(e[0] != "undecided" and g[0] == "undecided" for e, g in pairs)
    out["contradicted"] = sum({e[0], g[0]} == {"better", "worse"} for e, g in pairs)
    out["expert_decided"] = sum(e[0] != "undecided" for e, _ in pairs)
    out["generated_decided"] = sum(g[0] != "undecided" for _, g in pairs)
    for m in RANKED:
        both = [(e[1][m], g[1][m]) for e, g in pairs if m in e[1] and m in g[1]]
        out["measures"][m] = {
            "pairs": len(both),
            "sign": _share(sum(x[0] == y[0] for x, y in both), len(both)),
            "decision": _share(sum(x[1] == y[1] for x, y in both), len(both)),
        }
    return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def curve(variants: list[Variant], measure: str, sizes: list[int], draws: int, seed: int) -> list[dict]:
    """Tau against the expert ordering when the generated set had only n questions: `draws` random subsets of each
    size, the median and the 10th-90th percentiles of tau, and the share of subsets reaching MIN_TAU."""
    rng = random.Random(seed)
    target = means([v.expert for v in variants], measure)
    questions = sorted(set.intersection(*(set(measures.per_question(v.generated, measure)) for v in variants)))
    out = []
    for n in [s for s in sizes if s < len(questions)] + [len(questions)]:
        taus = []
        for _ in range(draws if n < len(questions) else 1):
            keep = set(rng.sample(questions, n))
            tau = kendall(target, means([v.generated for v in variants], measure, keep))
            if tau is not None:
                taus.append(tau)
        if taus:
            out.append({"questions": n, "median": statistics.median(taus), "p10": _quantile(taus, 0.1),
                        "p90": _quantile(taus, 0.9), "reach": sum(t >= MIN_TAU for t in taus) / len(taus)})  # fmt: skip
    return out


def needed(points: list[dict]) -> int | None:
    """The fewest generated questions whose median tau reached MIN_TAU and stayed there."""
    found = None
    for point in points:
        if point["median"] >= MIN_TAU:
            found = found or point["questions"]
        else:
            found = None
    return found


def deciding_measure(taus: dict[str, float | None]) -> str:
    """The ordering a check passes on: the experts' answers' likelihood where every run has it, else token F1."""
    return "expert_bpb" if taus.get("expert_bpb") is not None else "token_f1"


def check(variants: list[Variant], sizes=(5, 10, 20, 40, 80, 160), draws: int = 200, seed: int = 0) -> dict:
    """Every figure of a check, and whether it passed: tau by the deciding measure >= MIN_TAU, and every verdict the
    expert set decides reproduced by the generated set (none missed, none contradicted)."""
    expert, generated = [v.expert for v in variants], [v.generated for v in variants]
    taus = {m: kendall(means(expert, m), means(generated, m)) for m in RANKED}
    agreement = verdict_agreement(pairwise(expert), pairwise(generated))
    on = deciding_measure(taus)
    points = curve(variants, on, list(sizes), draws, seed)
    tau = taus[on]
    passed = tau is not None and tau >= MIN_TAU and agreement["missed"] == 0 and agreement["contradicted"] == 0
    return {"runs": [v.label for v in variants], "tau": taus, "decides_on": on, "min_tau": MIN_TAU,
            "agreement": agreement, "curve": points, "questions_needed": needed(points), "passed": passed,
            "means": {m: {"expert": means(expert, m), "generated": means(generated, m)} for m in RANKED}}  # fmt: skip
