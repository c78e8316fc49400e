"""llama.cpp through llama-cpp-python: load a GGUF once, generate with exact timings, read a text teacher-forced.

llama.cpp's own counters and state sit behind private attributes; they are read here and in forced.py only.
"""

import inspect
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ragq.shared.config import Settings
from ragq.shared.errors import GenerationStopped, GrammarError, ModelLoadError
from ragq.shared.metrics.likelihood import ExpertScore
from ragq.shared.models import catalog, files
from ragq.shared.models.placement import Placement
from ragq.shared.models.spec import ModelSpec
from ragq.shared.rag import forced, loader
from ragq.shared.rag.prompting import Prompt, PromptBuilder, chat_builder, completion_builder


@dataclass(frozen=True)
class Generation:
    text: str
    ttft_s: float  # time to first token, from the streaming call
    prompt_tokens: int
    prompt_eval_s: float
    gen_tokens: int
    gen_s: float
    total_s: float
    prefix_reused_tokens: int = 0  # prompt tokens served from the KV cache of the previous job


def resolved_call(fn, passed: dict) -> dict:
    """Every keyword argument `fn` takes, with the value it got: what ragq passed, else the library's default.
    This is what provenance records, so that llama-cpp-python's defaults are visible, not only ragq's choices."""
    resolved = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = passed.get(name, param.default)
        plain = isinstance(value, str | int | float | bool | type(None))
        if plain or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            resolved[name] = value
    return resolved


@dataclass(frozen=True)
class PromptLayout:
    build: PromptBuilder
    kind: str  # chat | study
    source: str  # where the layout comes from: the GGUF's chat template, the catalog's template, the study's
    template: str


class LlamaRunner:
    """One loaded model, its sampling settings, and its prompt layouts (built on first use, then kept).

    Every llama.cpp evaluation runs on one thread the runner owns: llama.cpp's CPU backend runs each as an OpenMP
    region, and libgomp keeps a thread team per starting thread. Warm-up on the main thread and jobs on Celery's
    pool thread made two teams, more threads than cores, and libgomp then stops spinning between regions: each
    token waited for its team to wake (SmolLM2, 2 cores: 61-67 tok/s against 91-98 on one thread)."""

    def __init__(self, path: Path, spec: ModelSpec, placement: Placement):
        """The placement (threads, GPU layers overriding the catalog's n_gpu_layers) is not part of the spec's
        digest; what it resolved to is recorded in `offload` and `llama_settings`."""
        import llama_cpp

        self._compute = ThreadPoolExecutor(1, thread_name_prefix="llama")
        self._closed = False
        self._abort = llama_cpp.ggml_abort_callback(lambda _data: True)  # kept: llama.cpp holds the pointer
        self._no_abort = llama_cpp.ggml_abort_callback()
        self._llama_cpp = llama_cpp
        self.spec = spec
        self.path = path
        self.params = spec.params
        self.placement = placement
        supports = bool(llama_cpp.llama_supports_gpu_offload())
        load = loader.load_arguments(spec, placement, supports)
        self.llm = self._on_compute_thread(loader.open_llama, path, load)
        self.sampling = spec.params.sampling()
        requested = placement.requested_gpu_layers(spec.params.n_gpu_layers)
        self.offload = loader.offload_report(self.llm, requested, load["n_gpu_layers"], supports)
        # what reached llama.cpp, the library's defaults included
        self.llama_settings = {
            "load": resolved_call(llama_cpp.Llama.__init__, {"model_path": str(path), **load}),
            "sampling": resolved_call(llama_cpp.Llama.create_completion, {**self.sampling, "stream": True}),
        }
        self._layouts: dict[str, PromptLayout] = {}

    def layout(self, kind: str) -> PromptLayout:
        if kind not in self._layouts:
            self._layouts[kind] = self._make_layout(kind)
        return self._layouts[kind]

    def _make_layout(self, kind: str) -> PromptLayout:
        prompt = self.spec.prompt
        if kind == "study":
            if prompt.study is None:
                raise ModelLoadError(f"model '{self.spec.name}' has no study prompt layout: use --prompt chat.")
            build = completion_builder(prompt.study, prompt.system, prompt.stop, prompt.collapse_whitespace)
            return PromptLayout(build, kind, "the study's layout (catalog `study`)", prompt.study)
        if prompt.template is not None:
            build = completion_builder(prompt.template, prompt.system, prompt.stop, prompt.collapse_whitespace)
            return PromptLayout(build, kind, "completion template (catalog `template`)", prompt.template)
        build, placement, template = chat_builder(self.llm, prompt.system, prompt.stop)
        return PromptLayout(build, kind, f"the GGUF's chat template, system text {placement}", template)

    @property
    def description(self) -> str:
        return self.llm._model.desc()

    def close(self) -> None:
        """Free the model and its context now (llama-cpp-python's own finaliser fails at interpreter teardown);
        once: a second call does nothing."""
        if not self._closed:
            self._closed = True
            self._on_compute_thread(self.llm.close)
            self._compute.shutdown()

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), special=True))  # with BOS, as create_completion adds it

    def _on_compute_thread(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) on the runner's own thread (see the class), its result or its exception here."""
        return self._compute.submit(fn, *args, **kwargs).result()

    def warmup(self) -> None:
        """One untimed generation: the first call pages the model in and would distort the first job's timing."""
        self._on_compute_thread(self._warmup)

    def _warmup(self) -> None:
        self.llm.reset()
        self.llm.create_completion("Hello", **{**self.sampling, "max_tokens": 4})
        self.llm.reset()

    def _reusable_prefix(self, text: str) -> int:
        """How many leading prompt tokens llama-cpp-python will take from the KV cache (it matches all but the last)."""
        tokens = self.llm.tokenize(text.encode(), special=True)
        cached = self.llm.input_ids[: self.llm.n_tokens]
        shared = 0
        for a, b in zip(cached, tokens[:-1], strict=False):
            if a != b:
                break
            shared += 1
        return shared

    def generate(
        self, prompt: Prompt, kv_reuse: bool = False, keep_going: Callable[[], bool] | None = None
    ) -> Generation:
        """One timed completion. By default the KV cache is emptied first, so no job rides on the previous
        job's prompt prefix; with kv_reuse the shared prefix is kept and how much of it is recorded. `keep_going`
        is asked before the first token and after each: False ends the generation (GenerationStopped); a caller
        that wants it ended sooner, within a prompt's evaluation, calls `interrupt` too."""
        return self._on_compute_thread(self._generate, prompt, kv_reuse, keep_going or (lambda: True))

    def interrupt(self) -> None:
        """From any thread: llama.cpp's evaluation under way ends at its next batch (its abort callback), so a
        generation whose `keep_going` turned False stops within a prompt's evaluation too."""
        self._llama_cpp.llama_set_abort_callback(self.llm._ctx.ctx, self._abort, None)

    def _generate(self, prompt: Prompt, kv_reuse: bool, keep_going: Callable[[], bool]) -> Generation:
        self._llama_cpp.llama_set_abort_callback(self.llm._ctx.ctx, self._no_abort, None)  # an earlier interrupt
        if not keep_going():
            raise GenerationStopped("stopped before its prompt was read: its caller no longer wants the answer")
        if kv_reuse:
            reused = self._reusable_prefix(prompt.text)
        else:
            self.llm.reset()
            reused = 0
        ctx = self.llm._ctx.ctx
        self._llama_cpp.llama_perf_context_reset(ctx)
        start = time.perf_counter()
        first = None
        pieces: list[str] = []
        stream = self.llm.create_completion(prompt.text, **self.sampling, stop=prompt.stop or None, stream=True)
        try:
            for event in cast(Iterator[dict], stream):
                if first is None:
                    first = time.perf_counter() - start
                pieces.append(event["choices"][0]["text"])
                if not keep_going():
                    cast(Generator, stream).close()
                    break
        except RuntimeError:  # "llama_decode returned 2": aborted by `interrupt`
            if keep_going():
                raise
        if not keep_going():
            raise GenerationStopped(f"stopped after {len(pieces)} tokens: its caller no longer wants the answer")
        total = time.perf_counter() - start
        perf = self._llama_cpp.llama_perf_context(ctx)
        return Generation(
            text="".join(pieces).strip(),
            ttft_s=first if first is not None else total,
            prompt_tokens=int(perf.n_p_eval),
            prompt_eval_s=perf.t_p_eval_ms / 1000,
            gen_tokens=int(perf.n_eval),
            gen_s=perf.t_eval_ms / 1000,
            total_s=total,
            prefix_reused_tokens=reused,
        )

    def prompt_for(self, system: str, context: str, request: str) -> Prompt:
        """A prompt in this model's own layout (its completion template, else the GGUF's chat template) with a
        system text of the caller's: for work other than answering (`ragq questions generate`)."""
        layout = self.spec.prompt
        if layout.template is not None:
            build = completion_builder(layout.template, system, layout.stop, layout.collapse_whitespace)
        else:
            build, _, _ = chat_builder(self.llm, system, layout.stop)
        return build([context], request)

    def constrained(self, prompt: Prompt, grammar: str, max_tokens: int, seed: int) -> tuple[str, bool]:
        """One completion under a GBNF grammar, from an empty KV cache, with the catalog's sampling and `seed`:
        (text, whether it ended by itself rather than at max_tokens). The grammar is compiled by llama.cpp first
        (`check_grammar`), so one that does not parse is an error here, never a completion left unconstrained."""
        return self._on_compute_thread(self._constrained, prompt, grammar, max_tokens, seed)

    def _constrained(self, prompt: Prompt, grammar: str, max_tokens: int, seed: int) -> tuple[str, bool]:
        from llama_cpp import LlamaGrammar

        check_grammar(self.llm, grammar)
        self.llm.reset()
        sampling = {**self.sampling, "max_tokens": max_tokens, "seed": seed}
        out = cast(dict, self.llm.create_completion(prompt.text, **sampling, stop=prompt.stop or None,
                                                    grammar=LlamaGrammar.from_string(grammar, verbose=False)))  # fmt: skip
        choice = out["choices"][0]
        return choice["text"], choice["finish_reason"] == "stop"

    def score_expert(self, prompt: Prompt, expert: str) -> tuple[ExpertScore | None, dict]:
        """How likely the model finds the expert's answer after `prompt` (shared/metrics/likelihood.py), reusing
        the prompt's evaluation when the KV cache holds it (right after `generate`); with what was done, for
        provenance. None where there is no expert answer or it does not fit n_ctx after the prompt."""
        return self._on_compute_thread(forced.score_expert, self.llm, prompt.text, expert, self.params.n_ctx)

    def answer_logprobs(self, prompt_text: str, answer: list[int]):
        """Log-probabilities over the vocabulary at each answer position (row i predicts answer[i]), float32."""
        return self._on_compute_thread(forced.logprobs, self.llm, prompt_text, answer)

    def tokens(self, prompt_text: str, answer: str) -> tuple[list[int], list[int]]:
        """The prompt's tokens as create_completion sends them, and the answer's text tokenized on its own."""
        prompt = forced.completion_tokens(self.llm, prompt_text)
        return prompt, self.llm.tokenize(answer.encode(), add_bos=False, special=False)


def check_grammar(llm, grammar: str) -> None:
    """llama.cpp compiles the grammar as llama-cpp-python would at sampling time. llama-cpp-python 0.3.36's
    `LlamaGrammar.from_string` keeps the text without parsing it, and llama.cpp answers a grammar it cannot parse
    with no sampler at all, which the library adds to its chain unchecked: the completion would run unconstrained."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode(), b"root")
    if not sampler:
        raise GrammarError("llama.cpp could not parse the question grammar (GBNF): nothing was generated.")
    llama_cpp.llama_sampler_free(sampler)


def open_runner(settings: Settings, spec: ModelSpec, placement: Placement) -> LlamaRunner:
    """A catalog model's file loaded at `placement`: the one way ragq opens a model to answer or read with it (the
    worker, `ragq drift`, `ragq rescore`, `ragq models check`). Free it with `close()`, or use `opened`."""
    return LlamaRunner(files.model_path(settings, spec), spec, placement)


@contextmanager
def opened(settings: Settings, name: str, placement: Placement) -> Iterator[LlamaRunner]:
    """Catalog model `name` at `placement`, freed when the block ends."""
    runner = open_runner(settings, catalog.get_model(settings, name), placement)
    try:
        yield runner
    finally:
        runner.close()
