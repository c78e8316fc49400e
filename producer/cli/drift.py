"""`ragq drift`: quantization drift from a reference model on your own RAG prompts."""

import click

from ragq.producer.cli.output import fmt, json_option, print_json, print_table
from ragq.producer.drift import Pass, drift


@click.command("drift")
@click.option("--reference", required=True, help="The model the others are measured against (e.g. the base).")
@click.option("--model", "models", multiple=True, required=True, help="A candidate (repeatable): a variant.")
@click.option("--index", required=True, help="The index whose prompts the reference answered.")
@click.option("--questions", required=True, help="The question set.")
@click.option("--ratio", type=float, default=0.3, show_default=True, help="BM25 weight of the reference's run.")
@json_option
@click.pass_obj
def drift_command(settings, reference, models, index, questions, ratio, as_json) -> None:
    """Each --model reads the reference's answers teacher-forced on the same prompts (no generation); per answer
    token, KL(reference || candidate), same top token and delta-p of the reference's token, as llama-perplexity
    --kl-divergence defines them. The reference answers first where it has no finished run; results are stored
    and shown by `ragq results` beside accuracy."""
    say = (lambda line: None) if as_json else (lambda line: click.echo(line, err=True))  # noqa: E731
    passes = drift(settings, reference, list(models), index=index, questions=questions, ratio=ratio, say=say)
    show(reference, passes, as_json)


def show(reference: str, passes: list[Pass], as_json: bool) -> None:
    if as_json:
        print_json({"reference": reference, "models": [p.__dict__ for p in passes]})
        return
    print_table(
        f"Drift from {reference} on its own answers (KLD in nats; llama-perplexity's definitions)",
        ["model", "answers", "tokens", "mean KLD", "median", "p99", "max", "same top %", "mean dp", "RMS dp", "pass s"],
        [
            [p.model, p.answers, p.summary["tokens"], fmt(p.summary["kld_mean"], 4), fmt(p.summary["kld_median"], 4),
             fmt(p.summary["kld_p99"], 3), fmt(p.summary["kld_max"], 3), fmt(100 * (p.summary["same_top"] or 0), 1),
             fmt(p.summary["dp_mean"], 4), fmt(p.summary["dp_rms"], 4), fmt(p.seconds, 1)]
            for p in passes
        ],
    )  # fmt: skip


COMMANDS = [drift_command]
