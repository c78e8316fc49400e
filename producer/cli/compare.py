"""`ragq compare BASELINE RUN...`: runs against a baseline on the same questions, with a paired test and a verdict."""

from dataclasses import asdict

import click

from ragq.producer.cli.output import fmt, json_option, print_json, print_table
from ragq.producer.cli.results import metric_option
from ragq.producer.results import compare as cmp
from ragq.producer.results import verdict
from ragq.producer.results.summary import summarize
from ragq.shared.errors import UsageError
from ragq.shared.store import db, standing
from ragq.shared.store.results import result_rows


@click.command()
@click.argument("baseline", type=int)
@click.argument("runs", type=int, nargs=-1, required=True)
@metric_option
@click.option("--right-at", type=float, help="An answer is right at or above this value (default: per metric).")
@click.option("--margin", type=float, default=0.05, show_default=True, help="Equivalence margin (two one-sided tests).")
@click.option(
    "--detect", type=float, default=0.05, show_default=True, help="Questions needed to detect this difference."
)
@json_option
@click.pass_obj
def compare(settings, baseline, runs, metric, right_at, margin, detect, as_json) -> None:
    """BASELINE (A) against each RUN (B) per question: the metric on each side (cosine by default), difference
    (B - A), answers that flipped between right and wrong, a paired test with its verdict (Holm-corrected when
    several runs are compared), and how many questions it would take to detect --detect."""
    if margin <= 0 or detect <= 0:
        raise UsageError("--margin and --detect must be positive: e.g. --margin 0.05 --detect 0.05.")
    ids = [baseline, *runs]
    with db.session(db.engine_for(settings)) as s:
        standing.resolve_runs(s, ids)
        rows = result_rows(s, ids)
        summaries = {m.run_id: m for m in summarize(s, ids)}
    label = {run_id: f"{m.model} spec {m.spec_id}" for run_id, m in summaries.items()}
    base_rows = [r for r in rows if r.run_id == baseline]
    results = []
    for run in runs:
        found = cmp.compare(
            base_rows, [r for r in rows if r.run_id == run], metric, right_at=right_at, margin=margin, detect=detect
        )
        if found is None:
            raise UsageError(
                f"runs {baseline} and {run} share no answered question with a {metric}: compare runs over one "
                "question set (groundedness is missing from results stored before schema revision 0004)."
            )
        results.append(found)
    adjusted = verdict.holm([c.test.p_value for c in results]) if len(results) > 1 else [None] * len(results)
    if as_json:
        print_json(
            [
                {**asdict(c), "a": label[baseline], "b": label[run], "run_a": baseline, "run_b": run}
                | {"p_holm": p, "verdict": verdict.sentence(c.test, metric, p)}
                | {"notes": cmp.placement_notes(summaries[baseline], summaries[run])}
                for c, run, p in zip(results, runs, adjusted, strict=True)
            ]
        )
        return
    for c, run, p in zip(results, runs, adjusted, strict=True):
        print_comparison(c, (baseline, label[baseline]), (run, label[run]), p)
        for note in cmp.placement_notes(summaries[baseline], summaries[run]):
            click.echo(f"Note: {note}")


def print_comparison(c: cmp.Comparison, a: tuple[int, str], b: tuple[int, str], p_holm: float | None) -> None:
    mark = {True: "right", False: "wrong"}
    print_table(
        f"Run {a[0]} (A: {a[1]}) against run {b[0]} (B: {b[1]})",
        ["question", f"{c.metric} A", f"{c.metric} B", "B - A", "A", "B", "seconds A", "seconds B", "B faster x"],
        [
            [p.question[:60], p.value_a, p.value_b, p.diff, mark[p.right_a], mark[p.right_b], p.seconds_a,
             p.seconds_b, fmt(p.speedup, 1)]
            for p in c.pairs
        ],
    )  # fmt: skip
    t = c.test
    ci = f" (95% BCa CI {c.diff_ci[0]:+.3f} to {c.diff_ci[1]:+.3f})" if c.diff_ci else ""
    docs = f", resampled by document ({t.documents})" if t.documents > 1 else ""
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
    click.echo(f"Verdict: {verdict.sentence(t, c.metric, p_holm)}")
    if c.needed is not None:
        click.echo(
            f"To detect a difference of {c.detect:g} in {c.metric}: about {c.needed} questions "
            f"(80% power, 5% level, at the spread observed here{docs})."
        )


COMMANDS = [compare]
