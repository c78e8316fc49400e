"""Models the producer opens itself (`ragq models add`, `ragq models check`, `ragq drift`, `ragq rescore`): through
the worker's own loader (shared/rag/llm.py `opened`: the catalog's load settings, the placement, load errors in the
error family, freed when done), placed as a worker on this host would be (the options given, over the placement
`ragq models tune` saved here, over the machine's default)."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragq.shared.config import Settings
from ragq.shared.models import catalog, files, tuned
from ragq.shared.models.placement import PlacementOptions
from ragq.shared.models.spec import ModelSpec, validate
from ragq.shared.rag import llm, loader
from ragq.shared.rag.llm import LlamaRunner
from ragq.shared.rag.prompting import Prompt


@contextmanager
def opened(settings: Settings, name: str, options: PlacementOptions | None = None) -> Iterator[LlamaRunner]:
    placement, _ = tuned.placement_for(settings, name, options or PlacementOptions())
    with llm.opened(settings, name, placement) as runner:
        yield runner


def _option(loc: tuple) -> str:
    """`ragq models add`'s option for a spec field: ('params', 'n_ctx') -> '--n-ctx'."""
    return "--" + str(loc[-1]).replace("_", "-") if len(loc) > 1 else ""


def add_model(settings: Settings, name: str, path: Path, params: dict, prompt: dict) -> ModelSpec:
    """Register a user's GGUF file under a name, once llama.cpp has loaded it and its prompt renders."""
    catalog.check_new_name(settings, name)
    path = path.expanduser().resolve()
    data = {"name": name, "description": f"user model {path.name}", "source": {"kind": "path", "path": str(path)}}
    data |= {"params": params, "prompt": prompt}
    origin = f"ragq models add {name}"
    candidate = validate({**data, "origin": origin}, origin, "change the option", _option)
    files.check_gguf(path)
    loader.probe_load(path, candidate.prompt)
    catalog.write_entry(settings, data)
    return catalog.get_model(settings, name)


CHECK_PROMPT = (
    "Context: The Relay 400 has two LAN ports and two WAN ports. Its web interface listens on port 8443. "
    "The default administrator account is admin. " * 6 + "\nQuestion: Which port does the web interface use?\nAnswer:"
)


def check_model(settings: Settings, name: str, options: PlacementOptions) -> dict:
    """Load a model, answer one fixed prompt, and report load time, speeds and memory."""
    from ragq.shared.usage import peak_rss_mb

    start = time.perf_counter()
    with opened(settings, name, options) as runner:
        load_s = time.perf_counter() - start
        runner.warmup()
        answer = runner.generate(Prompt(CHECK_PROMPT, ["\n"]))
        return {
            "file": str(runner.path),
            "description": runner.description,
            "load_s": load_s,
            "n_threads": runner.placement.n_threads,
            "prompt_tokens": answer.prompt_tokens,
            "prompt_tok_s": answer.prompt_tokens / answer.prompt_eval_s if answer.prompt_eval_s else None,
            "gen_tokens": answer.gen_tokens,
            "gen_tok_s": answer.gen_tokens / answer.gen_s if answer.gen_s else None,
            "ttft_s": answer.ttft_s,
            "answer": answer.text,
            "peak_rss_mb": peak_rss_mb(),
            "offload": runner.offload,
        }
