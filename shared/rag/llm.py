"""llama.cpp through llama-cpp-python: load a GGUF once, generate with exact timings.

llama.cpp's own counters sit behind private attributes; they are read here and nowhere else.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from ragq.shared.errors import ModelLoadError
from ragq.shared.rag.prompting import Prompt, PromptBuilder, chat_messages, completion_builder


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


@dataclass(frozen=True)
class GenParams:
    n_ctx: int = 2048
    max_tokens: int = 256
    temperature: float = 0.01
    top_p: float = 1.0
    seed: int = 42
    n_threads: int = 2
    n_gpu_layers: int = 0


def probe_load(path: Path) -> None:
    """Load the model for real (memory-mapped, tiny context): llama.cpp checks every tensor lies inside the file,
    which catches a truncated download that a header check cannot."""
    import llama_cpp

    try:
        llm = llama_cpp.Llama(str(path), n_ctx=16, n_batch=16, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(
            f"llama.cpp cannot load {path} ({exc}): the file is truncated or damaged; download it again."
        ) from exc
    llm.close()


class LlamaRunner:
    def __init__(self, path: Path, params: GenParams, prompt: dict | None = None):
        import llama_cpp

        self._llama_cpp = llama_cpp
        self.params = params
        try:
            self.llm = llama_cpp.Llama(
                # n_threads_batch defaults to every core: two workers would oversubscribe during prompt eval
                str(path),
                n_ctx=params.n_ctx,
                n_threads=params.n_threads,
                n_threads_batch=params.n_threads,
                n_gpu_layers=params.n_gpu_layers,
                seed=params.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load {path} ({exc}): check that it is a complete GGUF file."
            ) from exc
        self.build: PromptBuilder = self._builder(prompt or {})

    def _builder(self, prompt: dict) -> PromptBuilder:
        chat_template = self.llm.metadata.get("tokenizer.chat_template")
        stop = list(prompt.get("stop", []))
        if "template" in prompt or not chat_template:
            if "template" not in prompt:
                raise ModelLoadError("the model has no chat template and its catalog entry no `template`: add one.")
            self.template_kind, self.template = "completion", prompt["template"]
            return completion_builder(prompt["template"], stop, prompt.get("collapse_whitespace", False))
        self.template_kind, self.template = "chat (from the GGUF)", chat_template
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        special = lambda token: self.llm.detokenize([token], special=True).decode(errors="replace")  # noqa: E731
        formatter = Jinja2ChatFormatter(
            chat_template, eos_token=special(self.llm.token_eos()), bos_token=special(self.llm.token_bos())
        )

        def build(chunks: list[str], question: str) -> Prompt:
            rendered = formatter(messages=chat_messages(chunks, question))
            rendered_stop = (
                rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
            )
            return Prompt(rendered.prompt, rendered_stop + stop)

        return build

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), special=True))  # with BOS, as create_completion adds it

    def warmup(self) -> None:
        """One untimed generation: the first call pages the model in and would distort the first job's timing."""
        self.llm.reset()
        self.llm.create_completion("Hello", max_tokens=4, temperature=self.params.temperature, seed=self.params.seed)
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
        if kv_reuse:
            reused = self._reusable_prefix(prompt.text)
        else:
            self.llm.reset()
            reused = 0
        ctx = self.llm._ctx.ctx
        self._llama_cpp.llama_perf_context_reset(ctx)
        p = self.params
        start = time.perf_counter()
        first = None
        pieces = []
        for event in self.llm.create_completion(
            prompt.text,
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            seed=p.seed,
            stop=prompt.stop or None,
            stream=True,
        ):
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


CHECK_PROMPT = (
    "Context: The Relay 400 has two LAN ports and two WAN ports. Its web interface listens on port 8443. "
    "The default administrator account is admin. " * 6 + "\nQuestion: Which port does the web interface use?\nAnswer:"
)


def check_model(path: Path, params: GenParams, prompt: dict) -> dict:
    """Load a model, answer one fixed prompt, and report load time, speeds and memory."""
    from ragq.shared.usage import peak_rss_mb

    start = time.perf_counter()
    runner = LlamaRunner(path, params, prompt)
    load_s = time.perf_counter() - start
    runner.warmup()
    g = runner.generate(Prompt(CHECK_PROMPT, ["\n"]))
    return {
        "file": str(path),
        "description": runner.llm._model.desc(),
        "load_s": load_s,
        "n_threads": params.n_threads,
        "prompt_tokens": g.prompt_tokens,
        "prompt_tok_s": g.prompt_tokens / g.prompt_eval_s if g.prompt_eval_s else None,
        "gen_tokens": g.gen_tokens,
        "gen_tok_s": g.gen_tokens / g.gen_s if g.gen_s else None,
        "ttft_s": g.ttft_s,
        "answer": g.text,
        "peak_rss_mb": peak_rss_mb(),
    }
