"""`ragq compare BASELINE RUN...`: runs against a baseline on the same questions: every measure side by side, the
one that decides, the answers that flipped, and whether retrieval gave both the same chunks."""

from dataclasses import asdict

import click

from ragq.producer.cli.output import fmt, json_option, print_json, print_table
from ragq.producer.cli.results import metric_option
from ragq.producer.results import compare as cmp
from ragq.producer.results import decision, measures, overlap, summary
from ragq.producer.results.summary import unscored_note
from ragq.producer.testset import labels
from ragq.shared.errors import UsageError
from ragq.shared.store.door import Store


@click.command()
@click.argument("baseline", type=int)
@click.argument("runs", type=int, nargs=-1, required=True)
@metric_option
@click.option("--right-at", type=float, help="An answer is right at or above this value (default: per metric).")
@click.option("--margin", type=float, default=0.05, show_default=True, help="Equivalence margin (two one-sided tests).")
@click.option("--detect", type=float, help="The --metric difference to plan questions for (default: per measure).")
@json_option
@click.pass_obj
def compare(settings, baseline, runs, metric, right_at, margin, detect, as_json) -> None:
    """BASELINE (A) against each RUN (B) per question: every measure side by side (the experts' answers'
    likelihood, token F1, cosine, exact and number match: difference, relative difference, paired p adjusted by
    Holm over every measure and run, the smallest difference detectable and the questions needed), the verdict
    naming the measure that decides, the answers that flipped between right and wrong by --metric, drift where
    `ragq drift` measured it, and whether retrieval put the same chunks in both prompts."""
    if margin <= 0 or (detect is not None and detect <= 0):
        raise UsageError("--margin and --detect must be positive: e.g. --margin 0.05 --detect 0.05.")
    ids = [baseline, *runs]
    _, rows, found_summaries = summary.read(settings, ids)
    summaries = {m.run_id: m for m in found_summaries}
    generated = Store(settings).set_checks(sorted({m.questions for m in summaries.values()}))
    label = {run_id: f"{m.model} (run {run_id})" for run_id, m in summaries.items()}
    mine = {run_id: [r for r in rows if r.run_id == run_id] for run_id in ids}
    found = [_paired(mine, baseline, run, metric, right_at=right_at, margin=margin, detect=detect) for run in runs]
    overrides = {metric: detect} if detect else None
    families = measures.adjust([measures.side_by_side(mine[baseline], mine[run], overrides) for run in runs])
    size = measures.family_size(families)
    report = []
    for comparison, run, tests in zip(found, runs, families, strict=True):
        overlap_ = overlap.overlap(summaries[baseline], summaries[run], mine[baseline], mine[run])
        said = decision.sentence(tests, label[baseline], label[run], size)
        report.append(
            (comparison, run, tests, overlap_, said, _on_sets(generated, summaries[baseline], summaries[run]))
        )
    if as_json:
        print_json([_as_json(summaries, label, baseline, metric, size, *item) for item in report])
        return
    for comparison, run, tests, overlap_, said, sets in report:
        print_comparison(comparison, (baseline, label[baseline]), (run, label[run]), overlap_)
        print_measures(tests, size, summaries[run].drift)
        for note in _notes(summaries[baseline], summaries[run]) + labels.labels(sets):
            click.echo(f"Note: {note}")
        click.echo(f"Verdict{' (' + labels.PROVISIONAL + ')' if _provisional(sets) else ''}: {said}")


def _on_sets(generated: dict, a, b) -> dict:
    """The generated question sets two runs answered, with where each stands (checks.standing)."""
    return {name: generated[name] for name in {a.questions, b.questions} if name in generated}


def _provisional(sets: dict) -> bool:
    return any(standing is None for standing in sets.values())


def _paired(mine: dict, baseline: int, run: int, metric: str, *, right_at, margin, detect):
    comparison = cmp.compare(mine[baseline], mine[run], metric, right_at=right_at, margin=margin, detect=detect or 0.05)
    if comparison is None:
        raise UsageError(
            f"runs {baseline} and {run} share no answered question with a {metric}: compare runs over one "
            "question set (groundedness is missing from results stored before schema revision 0004)."
        )
    return comparison


def _as_json(summaries, label, baseline, metric, size, c, run, tests, overlap_, said, sets) -> dict:
    deciding = sorted((t for t in tests if t.decides()), key=lambda t: t.p_holm or 0.0)
    mine = next((t for t in tests if t.measure == metric), None)
    return {
        **asdict(c),
        "a": label[baseline],
        "b": label[run],
        "run_a": baseline,
        "run_b": run,
        "p_holm": mine.p_holm if mine else None,
        "measures": [asdict(t) | {"decides": t.decides()} for t in tests],
        "family": size,
        "decides": deciding[0].measure if deciding else None,
        "verdict": said,
        "provisional": _provisional(sets),
        "question_sets": labels.labels(sets),
        "drift": summaries[run].drift,
        "retrieval": asdict(overlap_) if overlap_ else None,
        "notes": _notes(summaries[baseline], summaries[run]),
    }


def _notes(a, b) -> list[str]:
    """Why two runs may not compare (placement, build), and answers that lack the likelihood."""
    unscored = unscored_note([a, b])
    return cmp.placement_notes(a, b) + ([unscored] if unscored else [])


def print_comparison(c: cmp.Comparison, a: tuple[int, str], b: tuple[int, str], overlap_) -> None:
    mark = {True: "right", False: "wrong"}
    chunks = overlap_.per_question if overlap_ else {}
    print_table(
        f"Run {a[0]} (A: {a[1]}) against run {b[0]} (B: {b[1]})",
        ["question", f"{c.metric} A", f"{c.metric} B", "B - A", "A", "B", "chunks", "seconds A", "seconds B",
         "B faster x"],
        [
            [p.question[:60], p.value_a, p.value_b, p.diff, mark[p.right_a], mark[p.right_b],
             chunks.get(p.question, "-"), p.seconds_a, p.seconds_b, fmt(p.speedup, 1)]
            for p in c.pairs
        ],
    )  # fmt: skip
    docs = f", resampled by document ({c.test.documents})" if c.test.documents > 1 else ""
    ci = f" (95% BCa CI {c.diff_ci[0]:+.3f} to {c.diff_ci[1]:+.3f})" if c.diff_ci else ""
    click.echo(
        f"mean {c.metric} difference B - A: {c.mean_diff:+.3f}{ci}{docs}; B answered {c.speedup:.1f}x as fast "
        f"on average, up to {c.max_speedup:.1f}x on one question"
    )
    n = len(c.pairs)
    click.echo(
        f"right ({c.metric} >= {c.right_at:g}): A {round(c.accuracy_a * n)}/{n}, B {round(c.accuracy_b * n)}/{n}; "
        f"flips: {len(c.right_to_wrong)} right -> wrong, {len(c.wrong_to_right)} wrong -> right "
        f"(exact McNemar p = {c.flips_p:.3g})"
    )
    for arrow, questions in (("right -> wrong", c.right_to_wrong), ("wrong -> right", c.wrong_to_right)):
        for q in questions:
            click.echo(f"  {arrow}: {q[:100]}")
    if overlap_ is not None:
        click.echo(overlap_.sentence()[0].upper() + overlap_.sentence()[1:] + ".")


def print_measures(tests: list[measures.MeasureTest], size: int, drift: dict | None) -> None:
    rows = [
        [decision.measure_label(t.measure), t.mean_a, t.mean_b, f"{t.diff:+.3f}",
         "-" if t.relative is None else f"{100 * t.relative:+.0f} %", f"{t.better} / {t.worse} of {t.n}",
         f"{t.p:.2g}", t.test, f"{t.p_holm:.2g}" + (" decides" if t.decides() else ""),
         fmt(t.detectable), f"{t.needed or '-'} for {t.detect:g}"]
        for t in tests
    ]  # fmt: skip
    if drift:
        rows.append([f"drift from {drift['reference']} (nats per token)", "-", fmt(drift["kld_mean"], 4), "-", "-",
                     f"same top token {100 * drift['same_top']:.1f} %", "-", "not a test: how far B moved", "-",
                     "-", "-"])  # fmt: skip
    print_table(
        f"Every measure, B against A (p adjusted by Holm over {size} tests: every measure of every run compared)",
        ["measure", "A", "B", "B - A", "relative", "B better / worse", "p", "test", "p (Holm)", "detectable",
         "questions needed"],
        rows,
    )  # fmt: skip


COMMANDS = [compare]
