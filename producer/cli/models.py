"""`ragq models`: the catalog of GGUF models."""

from pathlib import Path

import click

from ragq.producer.cli.output import download_bar, json_option, print_json, print_table
from ragq.shared.cli import layer_count, measured_placement_options, placement_options
from ragq.shared.hardware import default_threads
from ragq.shared.models import catalog, files, identity
from ragq.shared.store.door import Store


@click.group()
def models() -> None:
    """The model catalog: list, show, add, pull, quantize, check, tune."""


@models.command("list")
@json_option
@click.pass_obj
def list_(settings, as_json: bool) -> None:
    """List catalog models, where their files are, and how to get a missing one."""
    specs = catalog.load_catalog(settings).values()
    data = [{**catalog.as_dict(sp), "file": files.file_status(settings, sp)} for sp in specs]
    if as_json:
        print_json(data)
        return
    print_table("Models", ["name", "description", "file"], [[d["name"], d["description"], d["file"]] for d in data])


@models.command()
@click.argument("name")
@click.option("--runs", is_flag=True, help="Also the specs this model name has run with, and what changed.")
@json_option
@click.pass_obj
def show(settings, name, runs, as_json) -> None:
    """Every resolved setting of model NAME (defaults and `extends` applied), and with --runs its spec history."""
    sp = catalog.get_model(settings, name)
    data = {**catalog.as_dict(sp), "file": files.file_status(settings, sp)}
    history = []
    if runs:
        history = Store(settings).spec_history(name)
        data["runs"] = history
    if as_json:
        print_json(data)
        return
    click.echo(f"{sp.name}: {sp.description}" + (f" (extends {sp.extends})" if sp.extends else ""))
    for key, value in identity.flatten({k: data[k] for k in ("source", "params", "prompt")}).items():
        click.echo(f"  {key} = {value!r}")
    click.echo(f"  file: {data['file']}")
    previous = None
    for spec_run in history:
        changed = (
            "" if previous is None else "; ".join(identity.changes(previous["spec"] or {}, spec_run["spec"] or {}))
        )
        click.echo(
            f"spec {spec_run['spec_id']} ({spec_run['prompt_kind']}): runs {', '.join(map(str, spec_run['runs']))}, "
            f"first {spec_run['first']:%Y-%m-%d %H:%M}" + (f"; changed: {changed}" if changed else "")
        )
        previous = spec_run


@models.command()
@click.argument("name")
@click.option("--path", "path", required=True, type=click.Path(path_type=Path), help="The .gguf file.")
@click.option(
    "--template",
    help="Completion template with {system}, {context}, {question}; default: the GGUF's chat template "
    "(required when the file has none).",
)
@click.option("--stop", multiple=True, help="Stop string (repeatable).")
@click.option("--system", help="System text (default: the study's).")
# values are checked by the model spec alone (shared/models/spec.py), which names the option in its message
@click.option("--n-ctx", type=int, help="Context size (default 2048).")
@click.option("--max-tokens", type=int, help="Answer length limit (default 256).")
@click.option(
    "--n-gpu-layers",
    callback=layer_count,
    help="Layers on the accelerator: N, -1 (all), 0 (CPU) or auto (default).",
)
@click.option("--temperature", type=float, help="Default: the study's 0.01.")
@click.option("--top-k", type=int, help="Default: the study's 40.")
@click.option("--repeat-penalty", type=float, help="Default: the study's 1.1.")
@click.pass_obj
def add(settings, name, path, template, stop, system, **params) -> None:
    """Register your own GGUF file under NAME (e.g. mistral-7b-instruct-v0.1.Q2_K.gguf); unset options take the
    study's settings."""
    given = {k: v for k, v in params.items() if v is not None}
    prompt = {k: v for k, v in {"template": template, "stop": list(stop), "system": system}.items() if v}
    from ragq.producer.loading import add_model

    sp = add_model(settings, name, path, given, prompt)
    click.echo(f"model '{sp.name}' added: {path.expanduser().resolve()}")


@models.command()
@click.argument("name")
@click.option(
    "--to", "types", multiple=True, required=True, help="Quantization type (repeatable): Q2_K, Q4_K_M, Q8_0..."
)
@click.option("--threads", type=click.IntRange(min=1), help="Quantizer threads (default: physical cores).")
@json_option
@click.pass_obj
def quantize(settings, name, types, threads, as_json) -> None:
    """Make quantized variants of NAME with llama.cpp's quantizer, each registered as NAME-TYPE (e.g.
    smollm2-135m-q8_0) with NAME's prompt and sampling; variants that exist are kept."""
    from ragq.producer.fetch import quantize as quantizing

    say = (lambda line: None) if as_json else click.echo  # noqa: E731
    variants = quantizing.quantize(settings, name, list(types), threads or default_threads()[0], say)
    if as_json:
        print_json([{**v.__dict__, "path": str(v.path)} for v in variants])


@models.command()
@click.argument("name")
@click.option("--url", help="Download this URL instead of a catalog entry's, and register it as NAME.")
@click.option("--sha256", "sha256", help="With --url: the expected sha256 (checked; recorded either way).")
@click.option("--template", help="With --url: completion template, for a GGUF without a chat template.")
@click.pass_obj
def pull(settings, name, url, sha256, template) -> None:
    """Download a model: a catalog entry of kind url (`ragq models pull mistral`) or any GGUF URL with --url.
    Resumes a partial download, verifies size and sha256 where known, loads the file once before registering."""
    from ragq.producer.fetch import pull as pulling

    notice = lambda line: click.echo(line, err=True)  # noqa: E731
    with download_bar(f"pull {name}") as progress:
        report = pulling.pull(settings, name, url, sha256, template, progress, notice)
    click.echo(
        f"model '{name}' ready: {report.path} ({report.size / 1e6:.1f} MB, sha256 {report.sha256}"
        + (", verified" if report.verified else ", recorded; no expected value to check against")
        + (f"; resumed at {report.resumed_at / 1e6:.1f} MB" if report.resumed_at else "")
        + ")"
    )


@models.command()
@click.argument("name")
@placement_options
@json_option
@click.pass_obj
def check(settings, name, placement, as_json) -> None:
    """Load a model, answer one prompt, print load time, tokens/s (prompt and generation) and memory."""
    from ragq.producer.loading import check_model

    report = check_model(settings, name, placement)
    if as_json:
        print_json({"model": name, **report})
        return
    click.echo(
        f"{name}: {report['description']}, loaded in {report['load_s']:.2f} s with {report['n_threads']} threads; "
        f"prompt {report['prompt_tokens']} tokens at {report['prompt_tok_s']:.0f} tok/s, "
        f"generation {report['gen_tokens']} tokens at {report['gen_tok_s']:.1f} tok/s, "
        f"first token after {report['ttft_s']:.2f} s, peak RSS {report['peak_rss_mb']:.0f} MB; "
        f"answer: {report['answer']!r}"
    )
    off = report["offload"]
    gpu = off.get("gpu") or {}
    click.echo(
        f"offload: {off['backend']} ({off['device'] or 'unknown device'}), {off['layers_offloaded']} of "
        f"{off['layers_total']} layers (n_gpu_layers {off['n_gpu_layers']})"
        + (f", GPU memory used {gpu['memory_used_mb']:,.0f} of {gpu['memory_total_mb']:,.0f} MB" if gpu else "")
    )


@models.command()
@click.argument("name")
@click.option("--index", help="Tune on this index's prompts (with --questions); default: the shipped demo guide.")
@click.option("--questions", help="Question set whose first questions are asked (with --index).")
@click.option(
    "--repeat", default=2, show_default=True, type=click.IntRange(min=1), help="Times each question is asked."
)
@click.option("--quick", is_flag=True, help="Two placements, two questions, once each (for CI).")
@click.option("--no-save", is_flag=True, help="Measure and print only; keep the saved placement as it is.")
@measured_placement_options
@json_option
@click.pass_obj
def tune(settings, name, index, questions, repeat, quick, no_save, placement, as_json) -> None:
    """Measure model NAME's placements on this host (generation and prompt threads, GPU layers and flash attention
    where the build offloads) in a real worker on real prompts, and save the fastest for this host and file:
    workers and `ragq run` then use it unless an option says otherwise. A placement option holds its value in
    every candidate (--gpu-layers 20: the threads are measured with 20 layers on the accelerator)."""
    from ragq.producer.tune import tune as measure

    say = (lambda line: None) if as_json else (lambda line: click.echo(line, err=True))  # noqa: E731
    report = measure(
        settings,
        name,
        index=index,
        questions=questions,
        repeat=repeat,
        quick=quick,
        save=not no_save,
        fixed=placement,
        say=say,
    )
    rows = report.rows()
    if as_json:
        print_json({"model": name, "rows": rows, "saved_to": report.saved_to})
        return
    print_tune_table(name, report)
    where = f"saved to {report.saved_to}" if report.saved_to else "not saved (--no-save)"
    click.echo(f"{name}: {report.best.label()} is fastest on this host; {where}.")


TUNE_COLUMNS = ["placement", "threads", "batch threads", "gpu layers", "fa", "pp tok/s", "tg tok/s", "answer s"]


def print_tune_table(name: str, report) -> None:
    def spread(d: dict, digits: int) -> str:
        return f"{d['median']:.{digits}f} ({d['min']:.{digits}f}-{d['max']:.{digits}f})"

    print_table(
        f"{name}: typical answer = {report.prompt_tokens:.0f} prompt + {report.gen_tokens:.0f} generated tokens",
        [*TUNE_COLUMNS, "typical s", ""],
        [
            [r["placement"], r["n_threads"], r["n_threads_batch"], r["n_gpu_layers"], r["flash_attn"]]
            + [spread(r["prompt_tok_s"], 0), spread(r["gen_tok_s"], 1), spread(r["answer_s"], 2), r["typical_s"]]
            + [" ".join(m for m, on in (("winner", r["winner"]), ("default", r["default"])) if on)]
            for r in report.rows()
        ],
    )


COMMANDS = [models]
