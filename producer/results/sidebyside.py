"""The report's paired sections: every measure side by side for each run against its group's baseline, with the
verdict naming the measure that decides (producer/results/measures.py, decision.py), and where a difference
between ratios comes from (producer/results/overlap.py)."""

from collections.abc import Iterator

from ragq.producer.results import decision, measures, overlap
from ragq.producer.results.page import Table
from ragq.producer.results.summary import RunSummary
from ragq.shared.store.results import ResultRow

HEAD = ["baseline (A)", "run (B)", "measure", "A", "B", "B - A", "relative", "B better / worse", "p", "p (Holm)"]
HEAD += ["detectable", "questions needed"]


def comparisons(summaries: list[RunSummary], rows: list[ResultRow]) -> Iterator[tuple]:
    """(baseline, runs, families, family size) for every group of runs over one index, question set and ratio:
    each run against the group's first (the base model of a `--quants` run), one Holm family per group."""
    groups: dict[tuple, list[RunSummary]] = {}
    for s in sorted(summaries, key=lambda s: s.run_id):
        groups.setdefault((s.index, s.questions, s.ratio), []).append(s)
    mine = lambda run_id: [r for r in rows if r.run_id == run_id]  # noqa: E731
    for base, *others in groups.values():
        if not others:
            continue
        families = measures.adjust([measures.side_by_side(mine(base.run_id), mine(s.run_id)) for s in others])
        yield base, others, families, measures.family_size(families)


def _cells(a: RunSummary, b: RunSummary, t: measures.MeasureTest) -> list[str]:
    return [
        f"{a.run_id} {a.model}",
        f"{b.run_id} {b.model}",
        decision.measure_label(t.measure),
        f"{t.mean_a:.3f}",
        f"{t.mean_b:.3f}",
        f"{t.diff:+.3f}",
        "-" if t.relative is None else f"{100 * t.relative:+.0f} %",
        f"{t.better} / {t.worse} of {t.n}",
        f"{t.p:.2g} ({t.test})",
        f"{t.p_holm:.2g}" + (" decides" if t.decides() else ""),
        "-" if t.detectable is None else f"{t.detectable:.3f}",
        f"{t.needed or '-'} to detect {t.detect:g}",
    ]


def measure_groups(summaries: list[RunSummary], rows: list[ResultRow], set_notes: dict | None = None) -> list[dict]:
    """Per group: every run's measures against the baseline (a table) and one verdict per run, labelled where the
    question set is generated (set_notes: producer/testset/labels.py)."""
    groups = []
    for base, others, families, size in comparisons(summaries, rows):
        body = [_cells(base, b, t) for b, tests in zip(others, families, strict=True) for t in tests]
        note = (set_notes or {}).get(base.questions)
        verdicts = [
            (f"({note}) " if note else "") + decision.sentence(tests, _name(base), _name(b), size)
            for b, tests in zip(others, families, strict=True)
        ]
        groups.append({"table": Table(HEAD, body), "verdicts": verdicts})
    return groups


def _name(s: RunSummary) -> str:
    return f"{s.model} (run {s.run_id})"


def ratio_section(summaries: list[RunSummary], rows: list[ResultRow]) -> dict | None:
    """Per model run at two ratios: whether they put the same chunks in its prompts, and which ratio's context
    makes the experts' answers most likely; None where no model ran at two ratios."""
    pairs = overlap.ratio_pairs(summaries, rows)
    if not pairs:
        return None
    head = ["model", "runs", "ratios", "questions", "same chunks", "same order", "per question"]
    body = [
        [model, f"{o.run_a}, {o.run_b}", f"{o.ratio_a:g} / {o.ratio_b:g}", str(o.questions), str(o.same_set),
         str(o.same_order), "; ".join(f"{q[:40]}: {k}" for q, k in o.per_question.items())]
        for model, o in pairs
    ]  # fmt: skip
    lines = [f"{model}: {o.sentence()}" for model, o in pairs] + list(overlap.best_ratio(summaries, rows))
    return {"table": Table(head, body), "lines": lines}
