"""llama.cpp through llama-cpp-python: load a GGUF once, generate with exact timings, read a text teacher-forced.

llama.cpp's own counters and state sit behind private attributes; they are read here and in forced.py only.
"""

import inspect
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ragq.shared.errors import ModelLoadError
from ragq.shared.metrics.likelihood import ExpertScore
from ragq.shared.models import placement as placing
from ragq.shared.models.placement import Placement
from ragq.shared.models.spec import ModelSpec, PromptSpec
from ragq.shared.rag import forced
from ragq.shared.rag.prompting import Prompt, PromptBuilder, chat_messages, completion_builder, folded_messages


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


def _special(llm, token: int) -> str:
    return llm.detokenize([token], special=True).decode(errors="replace") if token >= 0 else ""


def chat_builder(llm, system: str, stop: list[str]) -> tuple[PromptBuilder, str, str]:
    """The GGUF's chat template as a prompt builder: (builder, how the system text is placed, the template).

    The template is rendered once here: one that refuses a system turn (Mistral Instruct v0.1: "Conversation roles
    must alternate") gets the system text and context folded into the first user turn; one that fails otherwise is
    refused with its own message."""
    import jinja2
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelLoadError(
            "the GGUF file carries no chat template: give a completion template with --template "
            "(or `template` under [prompt]), e.g. '{system}\\n\\n{context}\\n\\nQuestion: {question}\\nAnswer:'."
        )
    bos, eos = _special(llm, llm.token_bos()), _special(llm, llm.token_eos())
    formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
    adds_bos = llm._model.add_bos_token()

    def render(messages: list[dict]) -> str:
        text = formatter(messages=cast(Any, messages)).prompt
        # create_completion puts the BOS token in front itself: a template's own would make two
        return text[len(bos) :] if adds_bos and bos and text.startswith(bos) else text

    failures = (ValueError, TypeError, jinja2.TemplateError)
    try:
        render(chat_messages(system, ["context"], "question"))
        placement, messages = "in the system turn", chat_messages
    except failures:
        try:
            render(folded_messages(system, ["context"], "question"))
            placement, messages = (
                "folded into the first user turn (the template refuses a system turn)",
                folded_messages,
            )
        except failures as exc:
            raise ModelLoadError(
                f"the GGUF's chat template fails to render ({exc}): give a completion template with --template."
            ) from exc

    def build(chunks: list[str], question: str) -> Prompt:
        return Prompt(render(messages(system, chunks, question)), [eos, *stop] if eos else list(stop))

    return build, placement, template


def probe_load(path: Path, prompt: PromptSpec | None = None) -> None:
    """Load the model for real (memory-mapped, tiny context): llama.cpp checks every tensor lies inside the file,
    which catches a truncated download that a header check cannot. With `prompt`, its chat prompt must render."""
    import llama_cpp

    try:
        llm = llama_cpp.Llama(str(path), n_ctx=16, n_batch=16, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(
            f"llama.cpp cannot load {path} ({exc}): the file is truncated or damaged; download it again."
        ) from exc
    try:
        if prompt is not None and prompt.template is None:
            chat_builder(llm, prompt.system, prompt.stop)
    finally:
        llm.close()


def offload_report(llama_cpp, llm, requested, resolved: int, supports: bool) -> dict:
    """Where the model runs: backend, device, layers offloaded of the total, GPU memory where NVML reads it."""
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    name = placing.backend(info, supports)
    layers = int(llama_cpp.llama_model_n_layer(llm.model))
    report = {
        "backend": name,
        "device": placing.device_name(name),
        "n_gpu_layers": requested,
        "layers_offloaded": placing.offload(resolved, layers, supports),
        "layers_total": layers + 1,
    }
    if name == "CUDA":
        report["gpu"] = placing.nvml_device()
    return report


def gguf_metadata(path: Path) -> dict:
    """The file's metadata (architecture, layers, heads, context length...), read with its vocabulary only."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    try:
        with suppress_stdout_stderr(disable=False):  # llama.cpp warns about the vocabulary-only context on stderr
            llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(f"llama.cpp cannot read {path} ({exc}): check that it is a complete GGUF file.") from exc
    try:
        return dict(llm.metadata)
    finally:
        llm.close()


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
        self._llama_cpp = llama_cpp
        self.spec = spec
        self.path = path
        self.params = spec.params
        self.placement = placement
        supports = bool(llama_cpp.llama_supports_gpu_offload())
        requested = placement.requested_gpu_layers(spec.params.n_gpu_layers)
        load = {**spec.params.load(), **placement.load_args(spec.params.n_gpu_layers, supports), "verbose": False}
        try:
            self.llm = self._on_compute_thread(llama_cpp.Llama, str(path), **load)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load {path} ({exc}): check that it is a complete GGUF file."
            ) from exc
        self.sampling = spec.params.sampling()
        self.offload = offload_report(llama_cpp, self.llm, requested, load["n_gpu_layers"], supports)
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
        p = self.spec.prompt
        if kind == "study":
            if p.study is None:
                raise ModelLoadError(f"model '{self.spec.name}' has no study prompt layout: use --prompt chat.")
            build = completion_builder(p.study, p.system, p.stop, p.collapse_whitespace)
            return PromptLayout(build, kind, "the study's layout (catalog `study`)", p.study)
        if p.template is not None:
            build = completion_builder(p.template, p.system, p.stop, p.collapse_whitespace)
            return PromptLayout(build, kind, "completion template (catalog `template`)", p.template)
        build, placement, template = chat_builder(self.llm, p.system, p.stop)
        return PromptLayout(build, kind, f"the GGUF's chat template, system text {placement}", template)

    @property
    def description(self) -> str:
        return self.llm._model.desc()

    def close(self) -> None:
        """Free the model and its context now (llama-cpp-python's own finaliser fails at interpreter teardown)."""
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

    def generate(self, prompt: Prompt, kv_reuse: bool = False) -> Generation:
        """One timed completion. By default the KV cache is emptied first, so no job rides on the previous
        job's prompt prefix; with kv_reuse the shared prefix is kept and how much of it is recorded."""
        return self._on_compute_thread(self._generate, prompt, kv_reuse)

    def _generate(self, prompt: Prompt, kv_reuse: bool) -> Generation:
        if kv_reuse:
            reused = self._reusable_prefix(prompt.text)
        else:
            self.llm.reset()
            reused = 0
        ctx = self.llm._ctx.ctx
        self._llama_cpp.llama_perf_context_reset(ctx)
        start = time.perf_counter()
        first = None
        pieces = []
        stream = self.llm.create_completion(prompt.text, **self.sampling, stop=prompt.stop or None, stream=True)
        for event in cast(Iterator[dict], stream):
            if first is None:
                first = time.perf_counter() - start
            pieces.append(event["choices"][0]["text"])
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
