"""The one place ragq constructs a llama.cpp model (`open_llama`): every caller, the worker's runner, a probe, a
metadata read and the bench's bare process, gets llama.cpp's refusal as one `ModelLoadError` that says what to do,
and frees the model with `close()`. `load_arguments` is what a catalog entry and a placement pass to it."""

from pathlib import Path

from ragq.shared import hardware
from ragq.shared.errors import ModelLoadError
from ragq.shared.models import placement as placing
from ragq.shared.models.placement import Placement
from ragq.shared.models.spec import ModelSpec, PromptSpec
from ragq.shared.rag.prompting import chat_builder


def load_arguments(spec: ModelSpec, placement: Placement, supports_offload: bool) -> dict:
    """Llama()'s keyword arguments: the catalog entry's load settings, the placement's ("auto" resolved for this
    build), quiet."""
    return {**spec.params.load(), **placement.load_args(spec.params.n_gpu_layers, supports_offload), "verbose": False}


def open_llama(path: Path, arguments: dict, fix: str = "check that it is a complete GGUF file"):
    """llama_cpp.Llama(path, **arguments), or one ModelLoadError naming the file, llama.cpp's reason and `fix`."""
    import llama_cpp

    try:
        return llama_cpp.Llama(str(path), **arguments)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(f"llama.cpp could not load {path} ({exc}): {fix}.") from exc


def gguf_metadata(path: Path) -> dict:
    """The file's metadata (architecture, layers, heads, context length...), read with its vocabulary only."""
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # llama.cpp warns about the vocabulary-only context on stderr
        llm = open_llama(path, {"vocab_only": True, "verbose": False})
    try:
        return dict(llm.metadata)
    finally:
        llm.close()


def offload_report(llm, requested, resolved: int, supports: bool) -> dict:
    """Where the model runs: backend, device, layers offloaded of the total, GPU memory where NVML reads it."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    name = placing.backend(info, supports)
    layers = int(llama_cpp.llama_model_n_layer(llm.model))
    report = {
        "backend": name,
        "device": hardware.device_name(name),
        "n_gpu_layers": requested,
        "layers_offloaded": placing.offload(resolved, layers, supports),
        "layers_total": layers + 1,
    }
    if name == "CUDA":
        report["gpu"] = hardware.nvml_device()
    return report


def probe_load(path: Path, prompt: PromptSpec | None = None) -> None:
    """Load the model for real (memory-mapped, tiny context): llama.cpp checks every tensor lies inside the file,
    which catches a truncated download that a header check cannot. With `prompt`, its chat prompt must render."""
    llm = open_llama(
        path, {"n_ctx": 16, "n_batch": 16, "verbose": False}, "the file is truncated or damaged; download it again"
    )
    try:
        if prompt is not None and prompt.template is None:
            chat_builder(llm, prompt.system, prompt.stop)
    finally:
        llm.close()
