"""`ragq models`: the catalog of GGUF models."""

from pathlib import Path

import click

from ragq.producer.cli.output import json_option, print_json, print_table
from ragq.shared import catalog


@click.group()
def models() -> None:
    """The model catalog: list, add."""


@models.command("list")
@json_option
@click.pass_obj
def list_(settings, as_json: bool) -> None:
    """List catalog models, where their files are, and how to install a missing one."""
    specs = catalog.load_catalog(settings).values()
    data = [{**spec.as_dict(), "file": catalog.file_status(settings, spec)} for spec in specs]
    if as_json:
        print_json(data)
        return
    print_table("Models", ["name", "description", "file"], [[d["name"], d["description"], d["file"]] for d in data])


@models.command()
@click.argument("name")
@click.option("--path", "path", required=True, type=click.Path(path_type=Path), help="The .gguf file.")
@click.option(
    "--template", help="Completion template with {system}, {context}, {question}; default: the GGUF's chat template."
)
@click.option("--stop", multiple=True, help="Stop string (repeatable).")
@click.option("--n-ctx", default=2048, show_default=True, type=click.IntRange(min=128))
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--n-gpu-layers", default=0, show_default=True, type=int, help="-1 offloads every layer.")
@click.pass_obj
def add(settings, name, path, template, stop, n_ctx, max_tokens, n_gpu_layers) -> None:
    """Register your own GGUF file under NAME (e.g. mistral-7b-instruct-v0.1.Q2_K.gguf)."""
    params = {
        "n_ctx": n_ctx,
        "max_tokens": max_tokens,
        "temperature": 0.01,
        "top_p": 1.0,
        "seed": 42,
        "n_gpu_layers": n_gpu_layers,
    }
    prompt = {k: v for k, v in {"template": template, "stop": list(stop)}.items() if v}
    spec = catalog.add_model(settings, name, path, params, prompt)
    click.echo(f"model '{spec.name}' added: {spec.source['path']}")


@models.command()
@click.argument("name")
@click.option("--threads", type=click.IntRange(min=1), help="llama.cpp threads (default: all cores).")
@json_option
@click.pass_obj
def check(settings, name, threads, as_json) -> None:
    """Load a model, answer one prompt, print load time, tokens/s (prompt and generation) and memory."""
    import os

    from ragq.shared.rag.llm import check_model

    spec = catalog.get_model(settings, name)
    report = check_model(
        catalog.model_path(settings, spec), spec.gen_params(threads or os.cpu_count() or 1), spec.prompt
    )
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


COMMANDS = [models]
