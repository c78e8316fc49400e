"""Models the producer opens itself (`ragq models check`, `ragq drift`, `ragq rescore`): through the worker's own
loader (LlamaRunner: the catalog's load settings, the placement, load errors in the error family), placed as a
worker on this host would be (the options given, over the placement `ragq models tune` saved here, over the
machine's default), and freed when done."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from ragq.shared.config import Settings
from ragq.shared.models import catalog, files, tuned
from ragq.shared.models.placement import PlacementOptions, choose
from ragq.shared.rag.llm import LlamaRunner
from ragq.shared.rag.prompting import Prompt


@contextmanager
def opened(settings: Settings, name: str, options: PlacementOptions | None = None) -> Iterator[LlamaRunner]:
    spec = catalog.get_model(settings, name)
    placement, _ = choose(options or PlacementOptions(), tuned.saved_for(settings, name))
    runner = LlamaRunner(files.model_path(settings, spec), spec, placement)
    try:
        yield runner
    finally:
        runner.close()


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
        g = runner.generate(Prompt(CHECK_PROMPT, ["\n"]))
        return {
            "file": str(runner.path),
            "description": runner.description,
            "load_s": load_s,
            "n_threads": runner.placement.n_threads,
            "prompt_tokens": g.prompt_tokens,
            "prompt_tok_s": g.prompt_tokens / g.prompt_eval_s if g.prompt_eval_s else None,
            "gen_tokens": g.gen_tokens,
            "gen_tok_s": g.gen_tokens / g.gen_s if g.gen_s else None,
            "ttft_s": g.ttft_s,
            "answer": g.text,
            "peak_rss_mb": peak_rss_mb(),
            "offload": runner.offload,
        }
