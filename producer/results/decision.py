"""The sentences that say what the measures decide (producer/results/measures.py): for one comparison, which
measure tells A and B apart and what it means; where none does, which would need the fewest questions."""

from ragq.producer.results.measures import MEASURES, MeasureTest


def _num(value: float, unit: str) -> str:
    return f"{value:+.3f}" + (f" {unit}" if unit else "")


def _pct(t: MeasureTest) -> str:
    return f", {100 * t.relative:+.0f} %" if t.relative is not None else ""


def _p(t: MeasureTest, tests: int) -> str:
    return f"p = {t.p_holm:.2g}" + (f" after Holm over {tests} tests" if tests > 1 else "")


def finding(t: MeasureTest, a: str, b: str, tests: int) -> str:
    """What one deciding measure says, in words a user can act on."""
    m = t.spec
    better = t.b_is_better()
    side = "better" if better else "worse"
    figures = f"({_num(t.diff, m.unit)}{_pct(t)}, {side} on {t.better if better else t.worse} of {t.n} questions, "
    figures += _p(t, tests) + ")"
    if m.name == "expert_bpb":
        return f"{b} makes the experts' answers {'more' if better else 'less'} likely than {a} does {figures}"
    return f"{b} answers {side} than {a} by {m.label} {figures}"


def planning(t: MeasureTest) -> str:
    unit = f" {t.spec.unit}" if t.spec.unit else ""
    if t.needed is None:
        return f"{t.spec.label} shows no spread to plan with"
    return f"{t.spec.label} would need about {t.needed} questions to detect {t.detect:g}{unit}"


def _undecided(tests: list[MeasureTest], a: str, b: str, family: int, n: int) -> str:
    """No measure decides: what the most sensitive one can see with these questions, and what it would take."""
    head = f"No measure tells {a} and {b} apart with {n} questions" + (
        f" (Holm over {family} tests)" if family > 1 else ""
    )
    plans = [t for t in tests if t.needed is not None]
    if not plans:
        return head + "."
    best = min(plans, key=lambda t: t.needed or 0)
    unit = f" {best.spec.unit}" if best.spec.unit else ""
    seen = ""
    if best.detectable is not None:
        seen = (f": {best.spec.label} detects {best.detectable:.3f}{unit} or more with these questions (the "
                f"difference here is {best.diff:+.3f})")  # fmt: skip
    return f"{head}{seen}. Of the measures, {planning(best)}, the fewest."


def sentence(tests: list[MeasureTest], a: str, b: str, family: int) -> str:
    """The verdict of one comparison: the measure that decides (the smallest adjusted p), whether the other
    deciding measures agree, and what the rest could not tell; or, where none decides, the one that would need the
    fewest questions. `family`: how many tests the Holm adjustment covered."""
    if not tests:
        return f"{a} and {b} share no question with a measure: compare runs over one question set."
    n = max(t.n for t in tests)
    deciding = sorted((t for t in tests if t.decides()), key=lambda t: t.p_holm or 0.0)
    if not deciding:
        return _undecided(tests, a, b, family, n)
    first, *others = deciding
    parts = [finding(first, a, b, family)]
    for t in others:
        agree = t.b_is_better() == first.b_is_better()
        word = "agrees" if agree else "says the opposite"
        parts.append(f"{t.spec.label} {word} ({_num(t.diff, t.spec.unit)}, {_p(t, family)})")
    silent = [t for t in tests if not t.decides()]
    if silent:
        names = join_names([t.spec.label for t in silent])
        plans = [planning(t) for t in silent if t.needed is not None]
        flat = [t.spec.label for t in silent if t.needed is None]
        plans += [f"{join_names(flat)} {'shows' if len(flat) == 1 else 'show'} no spread to plan with"] if flat else []
        parts.append(f"{names} cannot tell them apart with {n} questions ({'; '.join(plans)})")
    return "; ".join(parts) + "."


def join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def measure_label(name: str) -> str:
    m = MEASURES[name]
    return f"{m.label} ({m.unit})" if m.unit else m.label
