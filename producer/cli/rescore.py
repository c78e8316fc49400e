"""`ragq rescore`: add the experts' answers' likelihood to finished runs, without answering again."""

import click

from ragq.producer.cli.output import json_option, print_json, print_table
from ragq.producer.cli.results import run_selection
from ragq.producer.rescore import rescore


@click.command("rescore")
@click.option("--force", is_flag=True, help="Score every result again, replacing the figures it has.")
@json_option
@click.pass_obj
@run_selection
def rescore_command(settings, run_ids, force, as_json) -> None:
    """Read the experts' answers teacher-forced after each stored prompt, with the run's own model and settings,
    for results stored without it (runs made before ragq scored it in every job)."""
    say = (lambda line: None) if as_json else (lambda line: click.echo(line, err=True))  # noqa: E731
    done = rescore(settings, run_ids, force=force, say=say)
    if as_json:
        print_json({"runs": run_ids, "models": done})
        return
    if not done:
        click.echo(f"every result of run(s) {', '.join(map(str, run_ids))} has its likelihood already.")
        return
    print_table(
        "Experts' answers' likelihood added",
        ["model", "results scored", "skipped (no expert answer, or over n_ctx)", "seconds"],
        [[model, d["scored"], d["skipped"], d["seconds"]] for model, d in done.items()],
    )


COMMANDS = [rescore_command]
