"""`ragq enqueue`, `requeue`, `status`, `run`, `demo`: runs of (model, ratio) over a question set."""

import contextlib
import dataclasses
import functools
import time
from dataclasses import asdict
from importlib import resources

import click

from ragq.producer import planning, supervisor
from ragq.producer.cli.options import RETRIEVAL_OPTIONS, retrieval_config
from ragq.producer.cli.output import (
    json_option,
    live,
    print_json,
    print_table,
    progress_bar,
    run_bar,
    run_progress,
)
from ragq.producer.cli.results import print_failures, print_results
from ragq.producer.ingest.pipeline import ingest
from ragq.producer.questions import parse_qa_file
from ragq.producer.ratios import parse_ratios
from ragq.shared.cli import placement_options
from ragq.shared.errors import UsageError
from ragq.shared.models.placement import PlacementOptions
from ragq.shared.records import RunSettings
from ragq.shared.store import standing
from ragq.shared.store.door import Store

DEMO_MODELS = ["smollm2-135m", "gemma3-270m"]
DEMO_RATIOS = [0.3, 0.7]


RUN_OPTIONS = [
    click.option("--model", "models", multiple=True, required=True, help="Catalog model (repeatable)."),
    click.option(
        "--ratio",
        "ratios",
        multiple=True,
        default=["0.3"],
        show_default=True,
        help="BM25 weight in [0, 1] (repeatable; 0.3,0.7 or a sweep 0:1:0.1).",
    ),
    click.option("--index", required=True, help="Index built by `ragq ingest`."),
    click.option("--questions", required=True, help="Question set imported by `ragq questions import`."),
    *RETRIEVAL_OPTIONS,
    click.option("--new-run", is_flag=True, help="Run the same work again as a new run."),
    click.option(
        "--repeat",
        default=1,
        show_default=True,
        type=click.IntRange(min=1),
        help="Timed repetitions of each question (summaries give mean and deviation).",
    ),
    click.option(
        "--kv-reuse",
        is_flag=True,
        help="Keep the KV cache's shared prompt prefix between jobs (recorded); default: reset.",
    ),
    click.option(
        "--prompt",
        "prompts",
        multiple=True,
        default=["chat"],
        show_default=True,
        help="chat (the GGUF's chat template, or the catalog's template) or study (the study's own layout, "
        "mistral and tinyllama); repeatable.",
    ),
]


def run_options(command):
    """Options shared by `enqueue` and `run`; the command receives them as one RunRequest, `req`."""

    @functools.wraps(command)
    def wrapper(
        *args, models, ratios, index, questions, fusion, k, candidates, c, new_run, repeat, kv_reuse, prompts, **kwargs
    ):
        req = planning.RunRequest(
            models=list(models),
            ratios=parse_ratios(ratios),
            index=index,
            questions=questions,
            settings=RunSettings(
                retrieval=retrieval_config(fusion, k, candidates, c), repeat=repeat, kv_reuse=kv_reuse
            ),
            new_run=new_run,
            prompts=list(prompts),
        )
        return command(*args, req=req, **kwargs)

    for option in reversed(RUN_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


@click.command()
@run_options
@click.option("--queue", help="Publish to this queue instead of each model's own (workers: `ragq worker --queue`).")
@json_option
@click.pass_obj
def enqueue(settings, req, queue, as_json) -> None:
    """Write one run per (model, ratio) with a job per question, and queue the jobs for the models' workers."""
    plan = planning.enqueue(settings, dataclasses.replace(req, queue=queue))
    if as_json:
        print_json({"runs": [asdict(r) for r in plan.runs], "published": plan.published, "changes": plan.changes})
        return
    for line in plan.changes:
        click.echo(line)
    for r in plan.runs:
        state = "created" if r.created else "exists (use --new-run for another)"
        click.echo(f"run {r.run_id}: {r.model} ratio {r.ratio:g}, {len(r.job_ids)} jobs, {state}")
    click.echo(f"{plan.published} jobs queued")


@click.command()
@click.argument("runs", nargs=-1, type=int)
@click.pass_obj
def requeue(settings, runs) -> None:
    """Queue again every job of RUNS (all runs if none) that is not done and not held by a live worker."""
    click.echo(f"{planning.requeue(settings, list(runs))} jobs queued again")


def print_holders(held: list[dict]) -> None:
    """The running jobs: who holds each, which attempt, until when (an expired lease says what frees it)."""
    if not held:
        return
    expired = " EXPIRED: its worker is gone; a live worker or `ragq requeue` frees it"
    print_table(
        "Running jobs",
        ["job", "run", "worker", "attempt", "lease until (UTC)"],
        [
            [h["job"], h["run"], h["worker"], h["attempt"], f"{h['lease_until']:%H:%M:%S}" + (expired * h["expired"])]
            for h in held
        ],
    )


@click.command()
@click.argument("runs", nargs=-1, type=int)
@click.option("--watch", is_flag=True, help="Live progress bars until every job is finished.")
@json_option
@click.pass_obj
def status(settings, runs, watch, as_json) -> None:
    """Queued / running / done / failed jobs per run (all runs if none are given)."""
    store = Store(settings)
    run_ids, counts, held, late = store.standing(list(runs))
    if as_json:
        print_json({str(k): {**v, "refused": late.get(k, 0)} for k, v in counts.items()})
    elif not watch:
        head = ["run", *standing.STATES, "refused (late results)"]
        print_table("Runs", head, [[r, *c.values(), late.get(r, 0)] for r, c in counts.items()])
        print_holders(held)
        print_failures(settings, run_ids)
    else:
        progress = run_bar()
        update = run_progress(progress)
        with live(progress):
            while True:
                counts = store.progress(run_ids)
                update(counts)
                if standing.all_finished(counts):
                    break
                time.sleep(0.5)


def _run(
    settings, req: planning.RunRequest, placement: PlacementOptions, as_json: bool, parallel: int = 1, drift=None
) -> None:
    """Run, then (drift: {base: [variant, ...]}) measure each variant's drift from its base, then print."""
    progress = run_bar()
    start = time.perf_counter()
    warn = lambda line: click.echo(f"Warning: {line}", err=True)  # noqa: E731
    say = (lambda line: None) if as_json else (lambda line: click.echo(line, err=True))
    with live(progress) if not as_json else contextlib.nullcontext():
        plan = supervisor.run(
            settings,
            req,
            run_progress(progress),
            placement=placement,
            parallel=parallel,
            warn=warn,
            say=say,
        )
    for line in plan.changes if not as_json else []:
        click.echo(line)
    for base, variants in (drift or {}).items():
        from ragq.producer.drift import drift as measure

        for ratio in req.ratios:
            measure(settings, base, variants, index=req.index, questions=req.questions, ratio=ratio, say=say)
    print_results(settings, plan.run_ids, as_json, by_question=True)
    if not as_json:
        click.echo(f"wall time {time.perf_counter() - start:.1f} s for runs {', '.join(map(str, plan.run_ids))}")


@click.command()
@run_options
@click.option(
    "--parallel",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Models answered at once. 1: each model in turn with the whole machine, so its timings do not depend on "
    "the others; more: throughput, the cores split between them.",
)
@click.option(
    "--quants",
    help="Quantization sweep, e.g. Q2_K,Q4_K_M,Q8_0: each --model and its variants (made first where missing, "
    "as `ragq models quantize` does) all run.",
)
@click.option(
    "--drift", "with_drift", is_flag=True, help="With --quants: each variant's drift from its base (`ragq drift`)."
)
@placement_options
@json_option
@click.pass_obj
def run(settings, req, parallel, quants, with_drift, placement, as_json) -> None:
    """Do the whole job on this machine: broker (embedded unless RAGQ_BROKER_URL is set), each model's worker in
    turn (--parallel N: N at once), enqueue, wait with progress, print results, stop everything started."""
    if with_drift and not quants:
        raise UsageError("--drift measures variants against their base: give --quants too, or use `ragq drift`.")
    sweep: dict[str, list[str]] = {}
    if quants:
        from ragq.producer.fetch.quantize import quantize
        from ragq.shared.hardware import default_threads

        types = [t.strip() for t in quants.split(",") if t.strip()]
        say = (lambda line: None) if as_json else (lambda line: click.echo(line, err=True))  # noqa: E731
        models = []
        for base in req.models:
            variants = quantize(settings, base, types, placement.threads or default_threads()[0], say)
            models += [base, *(v.name for v in variants)]
            sweep[base] = [v.name for v in variants]
        req = dataclasses.replace(req, models=list(dict.fromkeys(models)))
    _run(settings, req, placement, as_json, parallel, drift=sweep if with_drift else {})


@click.command()
@click.option("--new-run", is_flag=True, help="Answer the questions again instead of showing the last demo run.")
@json_option
@click.pass_obj
def demo(settings, new_run, as_json) -> None:
    """Ingest the shipped demo guide and questions, then `ragq run` both catalog models at ratios 0.3 and 0.7."""
    data = resources.files("ragq.producer.demo")
    with resources.as_file(data / "guide.pdf") as pdf, resources.as_file(data / "questions.txt") as qa:
        with progress_bar(enabled=not as_json) as progress:
            ingest(settings, "demo", [pdf], progress)
        Store(settings).import_questions("demo", "ragq demo", parse_qa_file(qa))
    req = planning.RunRequest(models=DEMO_MODELS, ratios=DEMO_RATIOS, index="demo", questions="demo", new_run=new_run)
    _run(settings, req, PlacementOptions(), as_json)


COMMANDS = [enqueue, requeue, status, run, demo]
