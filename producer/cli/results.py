"""`ragq results`: per-question rows and per-run summaries."""

import click

from ragq.producer.cli.output import fmt, json_option, print_json, print_table
from ragq.shared.store import db, jobs
from ragq.shared.store.results import as_dicts, result_rows, summarize


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
    print_table(
        "Runs",
        [
            "run",
            "model",
            "ratio",
            "done",
            "failed",
            "cosine (sd)",
            "seconds (sd)",
            "p50 s",
            "ttft s",
            "pp tok/s",
            "tg tok/s",
            "peak RSS MB",
        ],
        [
            [
                m.run_id,
                m.model,
                m.ratio,
                f"{m.done}/{m.jobs}",
                m.failed,
                _with_sd(m.mean_cosine, m.std_cosine),
                _with_sd(m.mean_total_s, m.std_total_s),
                m.p50_total_s,
                m.mean_ttft_s,
                fmt(m.prompt_tokens_per_s, 0),
                fmt(m.gen_tokens_per_s, 1),
                fmt(m.peak_rss_mb, 0),
            ]
            for m in summaries
        ],
    )


def _with_sd(mean: float | None, sd: float | None) -> str:
    return fmt(mean) if sd is None else f"{mean:.3f} ({sd:.3f})"


@click.command()
@click.argument("runs", nargs=-1, type=int)
@click.option("--summary", "summary_only", is_flag=True, help="Only the per-run summary.")
@json_option
@click.pass_obj
def results(settings, runs, summary_only, as_json) -> None:
    """Answers per question (model, ratio, question, cosine, seconds, tokens) and a summary per run."""
    print_results(settings, list(runs), as_json, by_question=not summary_only)


COMMANDS = [results]
