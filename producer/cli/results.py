"""`ragq results`, `compare`, `export`, `report`: which model, which ratio, how accurate, how fast."""

import functools
from pathlib import Path

import click

from ragq.producer.cli.output import fmt, json_option, print_json, print_table
from ragq.producer.results import export as exp
from ragq.producer.results import overlap, summary
from ragq.producer.results import report as rep
from ragq.producer.results.summary import as_dicts, unscored_note
from ragq.producer.testset import labels
from ragq.shared.errors import UsageError
from ragq.shared.metrics.answer import METRICS
from ragq.shared.store.door import Store


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
        run_ids = Store(settings).select_runs(list(runs), model, ratio, index, questions, since)
        if not run_ids:
            raise UsageError("no runs match: `ragq status` lists the runs.")
        return command(settings, run_ids=run_ids, **kwargs)

    return wrapper


def print_results(
    settings, run_ids: list[int], as_json: bool, by_question: bool = True, metric: str = "cosine"
) -> None:
    run_ids, rows, summaries = summary.read(settings, run_ids)
    if as_json:
        print_json({"results": as_dicts(rows), "summary": as_dicts(summaries)})
        return
    if by_question:
        _answers_table(rows, metric)
    _repetitions_table([m for m in summaries if m.repeat > 1])
    _runs_table(summaries, metric)
    _drift_table([m for m in summaries if m.drift], metric)
    _overlap_table(overlap.ratio_pairs(summaries, rows))
    if note := unscored_note(summaries):
        click.echo(note)
    print_failures(settings, run_ids)


def _answers_table(rows, metric: str) -> None:
    extra = [metric] if metric != "cosine" else []
    columns = ["run", "model", "ratio", "rep", "question", "cosine", *extra, "expert bits/byte", "seconds"]
    print_table(
        "Answers",
        columns + ["prompt tok", "gen tok"],
        [
            [r.run_id, r.model, r.ratio, r.repetition, r.question[:60], r.cosine]
            + [getattr(r, m) for m in extra]
            + [r.expert_bpb, r.total_s, r.prompt_tokens, r.gen_tokens]
            for r in rows
        ],
    )


def _repetitions_table(repeated) -> None:
    if not repeated:
        return
    print_table(
        "Repetitions (each question's SD over its repetitions, averaged)",
        ["run", "model", "repeat", "mean s", "SD s", "mean cosine", "SD cosine"],
        [
            [m.run_id, m.model, m.repeat, m.mean_total_s, m.repeat_sd_s, m.mean_cosine, m.repeat_sd_cosine]
            for m in repeated
        ],
    )


RUN_COLUMNS = ["run", "model", "spec", "placement", "ratio", "done", "failed", "{metric} [95% CI]"]
RUN_COLUMNS += ["expert bits/byte [95% CI]", "abstained"]
RUN_COLUMNS += ["evidence"]
RUN_COLUMNS += ["mean s (sd)", "p50 s", "p95 s", "ttft s", "gen tok", "pp tok/s", "tg tok/s", "RSS MB"]


def _runs_table(summaries, metric: str) -> None:
    print_table(
        "Runs",
        [c.format(metric=metric) for c in RUN_COLUMNS],
        [
            [
                m.run_id,
                m.model,
                m.spec_id + ("" if m.prompt_kind == "chat" else f" {m.prompt_kind}"),
                m.placement,
                m.ratio,
                f"{m.done}/{m.jobs}",
                m.failed,
                _with_ci(m.metric(metric)),
                _with_ci(m.metric("expert_bpb")),
                fmt(m.abstention_rate, 2),
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


def _drift_table(drifted, metric: str) -> None:
    """Drift beside accuracy: how far each run's model moved from the reference's own answer distribution."""
    if not drifted:
        return

    def reference(d: dict) -> str:
        quant = d["reference_quantization"]
        return d["reference"] + (f" (itself {quant})" if quant and not quant.startswith(("F16", "BF16", "F32")) else "")

    print_table(
        "Drift from a reference on its own answers (ragq drift; KLD in nats)",
        ["run", "model", f"{metric} [95% CI]", "reference", "answers", "tokens", "mean KLD", "median", "p99", "max",
         "same top %", "RMS dp"],
        [
            [m.run_id, m.model, _with_ci(m.metric(metric)), reference(m.drift), m.drift["answers"], m.drift["tokens"],
             fmt(m.drift["kld_mean"], 4), fmt(m.drift["kld_median"], 4), fmt(m.drift["kld_p99"], 3),
             fmt(m.drift["kld_max"], 3), fmt(100 * m.drift["same_top"], 1), fmt(m.drift["dp_rms"], 4)]
            for m in drifted
        ],
    )  # fmt: skip


def _overlap_table(pairs) -> None:
    """Retrieval across ratios: how often two ratios put the same chunks in one model's prompt."""
    if not pairs:
        return
    print_table(
        "Retrieval across ratios: questions whose prompts held the same chunks",
        ["model", "runs", "ratios", "questions", "same set", "same order"],
        [[model, f"{o.run_a}, {o.run_b}", f"{o.ratio_a:g} / {o.ratio_b:g}", o.questions, o.same_set, o.same_order]
         for model, o in pairs],
    )  # fmt: skip


def print_failures(settings, run_ids: list[int]) -> None:
    """One line per distinct reason jobs failed, with its count and runs."""
    for reason, count, runs in Store(settings).failure_reasons(run_ids):
        click.echo(f"{count} failed (run {', '.join(map(str, runs))}): {' '.join(reason.split())[:300]}")


def _with_ci(figures: dict) -> str:
    if figures["mean"] is None:
        return "-"
    low, high = figures["ci_low"], figures["ci_high"]
    return f"{figures['mean']:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")


metric_option = click.option(
    "--metric",
    type=click.Choice(METRICS),
    default="cosine",
    show_default=True,
    help="Accuracy measure: cosine (the study's), token_f1, exact_match, rouge_l, groundedness or number_match.",
)


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
@metric_option
@click.option("--pareto", is_flag=True, help="Accuracy against seconds and memory: the front, one line per budget.")
@json_option
@click.pass_obj
@run_selection
def results(settings, run_ids, by, metric, pareto, as_json) -> None:
    """Per-run summary: answered and failed, mean accuracy (--metric; cosine by default) with a 95% bootstrap
    interval, abstentions, evidence hit rate, p50/p95 seconds, time to first token, tokens/s, peak RSS."""
    if pareto:
        print_pareto(settings, run_ids, metric, as_json)
        return
    print_results(settings, run_ids, as_json, by_question=by == "question", metric=metric)


def print_pareto(settings, run_ids: list[int], metric: str, as_json: bool) -> None:
    from ragq.producer.results import pareto

    run_ids, answers, summaries = summary.read(settings, run_ids)
    pts = pareto.points(summaries, metric)
    if not pts:
        raise UsageError(f"no finished run has a {metric}, p50 seconds and peak RSS yet: run some first.")
    on_time = {p.run_id for p in pareto.front(pts, ("seconds",))}
    on_memory = {p.run_id for p in pareto.front(pts, ("rss_mb",))}
    sentences = pareto.budget_sentences(pts, metric, answers)
    if as_json:
        rows = [
            {**p.__dict__, "front_seconds": p.run_id in on_time, "front_memory": p.run_id in on_memory} for p in pts
        ]
        print_json({"metric": metric, "runs": rows, "budgets": sentences})
        return
    print_table(
        f"Accuracy ({metric}) against cost: on a front, no other run is both more accurate and cheaper",
        ["run", "model", f"{metric} [95% CI]", "p50 s", "peak RSS MB", "front: time", "front: memory"],
        [
            [p.run_id, p.label, _with_ci({"mean": p.accuracy, "ci_low": p.ci_low, "ci_high": p.ci_high}),
             p.seconds, fmt(p.rss_mb, 0), "yes" if p.run_id in on_time else "", "yes" if p.run_id in on_memory else ""]
            for p in sorted(pts, key=lambda p: p.seconds)
        ],
    )  # fmt: skip
    for line in sentences:
        click.echo(line[0].upper() + line[1:])


@click.command()
@click.option("--format", "fmt_", type=click.Choice(sorted(exp.EXPORTERS)), default="csv", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="File to write.")
@click.pass_obj
@run_selection
def export(settings, run_ids, fmt_, output) -> None:
    """One row per result with every recorded field (provenance included); `seed` writes the study's
    `model;question;cosine;resp_time` lines."""
    count = exp.export(Store(settings).export_records(run_ids), fmt_, output)
    click.echo(f"{count} results from {len(run_ids)} runs written to {output} ({fmt_})")


@click.command()
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(path_type=Path))
@click.pass_obj
@run_selection
def report(settings, run_ids, output) -> None:
    """A self-contained HTML report: accuracy treemap, time per question, accuracy against ratio and speed."""
    _, rows, summaries = summary.read(settings, run_ids)
    generated = Store(settings).set_checks(sorted({m.questions for m in summaries}))
    if not rows:
        raise UsageError("those runs have no answers yet: wait for them (`ragq status --watch`).")
    notes = {name: labels.label(name, standing) for name, standing in generated.items()}
    exp.write_text_atomic(output, rep.render(summaries, rows, notes))
    click.echo(f"report for runs {', '.join(map(str, run_ids))} written to {output}")


COMMANDS = [results, export, report]
