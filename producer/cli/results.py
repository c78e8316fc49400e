"""`ragq results`, `compare`, `export`, `report`: which model, which ratio, how accurate, how fast."""

import functools
from dataclasses import asdict
from pathlib import Path

import click

from ragq.producer.cli.output import fmt, json_option, print_json, print_table
from ragq.shared.errors import UsageError
from ragq.shared.output import compare as cmp
from ragq.shared.output import export as exp
from ragq.shared.output import report as rep
from ragq.shared.output.summary import as_dicts, summarize
from ragq.shared.store import db, jobs
from ragq.shared.store.results import result_rows, select_runs


def run_selection(command):
    """RUN ids and/or filters (--model, --ratio, --index, --questions, --since); the command gets `run_ids`."""

    @click.argument("runs", nargs=-1, type=int)
    @click.option("--model", help="Only runs of this model.")
    @click.option("--ratio", type=float, help="Only runs at this ratio.")
    @click.option("--index", help="Only runs over this index.")
    @click.option("--questions", help="Only runs of this question set.")
    @click.option("--since", type=click.DateTime(), help="Only runs created since (UTC), e.g. 2026-11-24.")
    @functools.wraps(command)
    def wrapper(settings, runs, model, ratio, index, questions, since, **kwargs):
        with db.session(db.engine_for(settings)) as s:
            run_ids = select_runs(s, list(runs), model, ratio, index, questions, since)
        if not run_ids:
            raise UsageError("no runs match: `ragq status` lists the runs.")
        return command(settings, run_ids=run_ids, **kwargs)

    return wrapper


def print_results(settings, run_ids: list[int], as_json: bool, by_question: bool = True) -> None:
    with db.session(db.engine_for(settings)) as s:
        run_ids = jobs.resolve_runs(s, run_ids)
        rows, summaries = result_rows(s, run_ids), summarize(s, run_ids)
    if as_json:
        print_json({"results": as_dicts(rows), "summary": as_dicts(summaries)})
        return
    if by_question:
        print_table(
            "Answers",
            ["run", "model", "ratio", "rep", "question", "cosine", "seconds", "prompt tok", "gen tok"],
            [
                [
                    r.run_id,
                    r.model,
                    r.ratio,
                    r.repetition,
                    r.question[:60],
                    r.cosine,
                    r.total_s,
                    r.prompt_tokens,
                    r.gen_tokens,
                ]
                for r in rows
            ],
        )
    repeated = [m for m in summaries if m.repeat > 1]
    if repeated:
        print_table(
            "Repetitions (each question's SD over its repetitions, averaged)",
            ["run", "model", "repeat", "mean s", "SD s", "mean cosine", "SD cosine"],
            [
                [m.run_id, m.model, m.repeat, m.mean_total_s, m.repeat_sd_s, m.mean_cosine, m.repeat_sd_cosine]
                for m in repeated
            ],
        )
    print_table(
        "Runs",
        [
            "run",
            "model",
            "spec",
            "ratio",
            "done",
            "failed",
            "cosine [95% CI]",
            "evidence",
            "mean s (sd)",
            "p50 s",
            "p95 s",
            "ttft s",
            "gen tok",
            "pp tok/s",
            "tg tok/s",
            "RSS MB",
        ],
        [
            [
                m.run_id,
                m.model,
                m.spec_id + ("" if m.prompt_kind == "chat" else f" {m.prompt_kind}"),
                m.ratio,
                f"{m.done}/{m.jobs}",
                m.failed,
                _with_ci(m),
                fmt(m.evidence_hit_rate, 2),
                _with_sd(m.mean_total_s, m.std_total_s),
                m.p50_total_s,
                m.p95_total_s,
                m.mean_ttft_s,
                fmt(m.mean_gen_tokens, 0),
                fmt(m.prompt_tokens_per_s, 0),
                fmt(m.gen_tokens_per_s, 1),
                fmt(m.peak_rss_mb, 0),
            ]
            for m in summaries
        ],
    )
    print_failures(settings, run_ids)


def print_failures(settings, run_ids: list[int]) -> None:
    """One line per distinct reason jobs failed, with its count and runs."""
    with db.session(db.engine_for(settings)) as s:
        reasons = jobs.failure_reasons(s, run_ids)
    for reason, count, runs in reasons:
        click.echo(f"{count} failed (run {', '.join(map(str, runs))}): {' '.join(reason.split())[:300]}")


def _with_ci(m) -> str:
    if m.mean_cosine is None:
        return "-"
    return f"{m.mean_cosine:.3f}" + (f" [{m.cosine_ci_low:.3f}, {m.cosine_ci_high:.3f}]" if m.cosine_ci_low else "")


def _with_sd(mean: float | None, sd: float | None) -> str:
    return fmt(mean) if sd is None else f"{mean:.3f} ({sd:.3f})"


@click.command()
@click.option(
    "--by",
    type=click.Choice(["run", "question"]),
    default="run",
    show_default=True,
    help="A summary per run, or also every answer.",
)
@json_option
@click.pass_obj
@run_selection
def results(settings, run_ids, by, as_json) -> None:
    """Per-run summary: answered and failed, mean cosine with a 95% bootstrap interval, evidence hit rate,
    p50/p95 seconds, time to first token, prompt and generation tokens/s, peak RSS."""
    print_results(settings, run_ids, as_json, by_question=by == "question")


@click.command()
@click.argument("run_a", type=int)
@click.argument("run_b", type=int)
@json_option
@click.pass_obj
def compare(settings, run_a, run_b, as_json) -> None:
    """RUN_A against RUN_B per question: cosines, difference (B - A), speed-up (A seconds / B seconds)."""
    with db.session(db.engine_for(settings)) as s:
        jobs.resolve_runs(s, [run_a, run_b])
        rows = result_rows(s, [run_a, run_b])
        summaries = {m.run_id: m for m in summarize(s, [run_a, run_b])}
    label = {run_id: f"{m.model} spec {m.spec_id}" for run_id, m in summaries.items()}
    notes = placement_notes(summaries[run_a], summaries[run_b])
    result = cmp.compare([r for r in rows if r.run_id == run_a], [r for r in rows if r.run_id == run_b])
    if result is None:
        raise UsageError(f"runs {run_a} and {run_b} share no answered question: compare runs over one question set.")
    if as_json:
        print_json({**asdict(result), "a": label[run_a], "b": label[run_b], "notes": notes})
        return
    print_table(
        f"Run {run_a} (A: {label[run_a]}) against run {run_b} (B: {label[run_b]})",
        ["question", "cosine A", "cosine B", "B - A", "seconds A", "seconds B", "B faster x"],
        [
            [p.question[:60], p.cosine_a, p.cosine_b, p.diff, p.seconds_a, p.seconds_b, fmt(p.speedup, 1)]
            for p in result.pairs
        ],
    )
    ci = f" (95% CI {result.diff_ci[0]:+.3f} to {result.diff_ci[1]:+.3f})" if result.diff_ci else ""
    click.echo(
        f"mean cosine difference B - A: {result.mean_diff:+.3f}{ci}; B answered {result.speedup:.1f}x as fast "
        f"on average, up to {result.max_speedup:.1f}x on one question"
    )
    for note in notes:
        click.echo(f"Note: {note}")


def placement_notes(a, b) -> list[str]:
    """Why two runs' timings may not compare: their hosts were shared differently, or their models ran elsewhere."""
    notes = []
    if a.host_workers != b.host_workers:
        notes.append(
            f"up to {a.host_workers or '?'} ragq worker(s) shared the host during run A's jobs and "
            f"{b.host_workers or '?'} during run B's: their seconds are not comparable."
        )
    if a.placement != b.placement:
        notes.append(f"run A's model ran on {a.placement or '?'}, run B's on {b.placement or '?'}.")
    return notes


@click.command()
@click.option("--format", "fmt_", type=click.Choice(sorted(exp.EXPORTERS)), default="csv", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="File to write.")
@click.pass_obj
@run_selection
def export(settings, run_ids, fmt_, output) -> None:
    """One row per result with every recorded field (provenance included); `seed` writes the study's
    `model;question;cosine;resp_time` lines."""
    with db.session(db.engine_for(settings)) as s:
        records = exp.export_records(s, run_ids)
    count = exp.export(records, fmt_, output)
    click.echo(f"{count} results from {len(run_ids)} runs written to {output} ({fmt_})")


@click.command()
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(path_type=Path))
@click.pass_obj
@run_selection
def report(settings, run_ids, output) -> None:
    """A self-contained HTML report: accuracy treemap, time per question, accuracy against ratio and speed."""
    with db.session(db.engine_for(settings)) as s:
        rows, summaries = result_rows(s, run_ids), summarize(s, run_ids)
    if not rows:
        raise UsageError("those runs have no answers yet: wait for them (`ragq status --watch`).")
    exp.write_text_atomic(output, rep.render(summaries, rows))
    click.echo(f"report for runs {', '.join(map(str, run_ids))} written to {output}")


COMMANDS = [results, compare, export, report]
