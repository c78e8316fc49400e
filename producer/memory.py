"""Whether a model fits on this machine before `ragq run` starts its worker: what a worker needs, what is free."""

from ragq.shared.config import Settings
from ragq.shared.errors import ResourceError
from ragq.shared.hardware import available_mb
from ragq.shared.models import catalog, files

# what a ragq worker holds besides the model and its KV cache: Python, Celery, llama.cpp's compute buffers, the
# ONNX embedder, the index (bench/RESULTS.md, memory: 380-430 MB measured over the GGUF for both catalog models)
WORKER_OVERHEAD_MB = 450


def kv_cache_mb(metadata: dict, n_ctx: int, bytes_per_value: int = 2) -> float:
    """llama.cpp's KV cache for n_ctx tokens (f16 keys and values), from the GGUF's own metadata."""
    arch = metadata.get("general.architecture", "llama")

    def value(key: str, default=None):
        raw = metadata.get(f"{arch}.{key}", default)
        return int(raw) if raw is not None else None

    layers, width = value("block_count", 0), value("embedding_length", 0)
    heads = value("attention.head_count", 1) or 1
    kv_heads = value("attention.head_count_kv", heads) or heads
    key_dim = value("attention.key_length", width // heads)
    value_dim = value("attention.value_length", width // heads)
    return n_ctx * layers * kv_heads * (key_dim + value_dim) * bytes_per_value / 2**20


def need_mb(gguf_bytes: int, kv_mb: float) -> float:
    """What a worker for this model needs at its peak: the file (mapped), the KV cache, the worker itself."""
    return gguf_bytes / 2**20 + kv_mb + WORKER_OVERHEAD_MB


def estimate_need_mb(settings: Settings, model: str) -> float:
    """A model's worker at its peak: GGUF size + KV cache for its n_ctx + the worker's own."""
    from ragq.shared.rag.loader import gguf_metadata

    spec = catalog.get_model(settings, model)
    path = files.model_path(settings, spec)
    return need_mb(path.stat().st_size, kv_cache_mb(gguf_metadata(path), spec.params.n_ctx))


def memory_budget_mb(settings: Settings) -> tuple[float, str]:
    if settings.memory_limit_mb:
        return float(settings.memory_limit_mb), "memory_limit_mb"
    return available_mb(), "available memory"


def check_fits_alone(needs: dict[str, float], budget: tuple[float, str]) -> None:
    """Before anything runs: a model that cannot fit even with the machine to itself is refused, in one line."""
    limit, source = budget
    for model, need in needs.items():
        if need > limit:
            raise ResourceError(
                f"model '{model}' needs about {need:,.0f} MB (file, KV cache, worker) and the {source} is "
                f"{limit:,.0f} MB: free memory, choose a smaller quantization, or lower its n_ctx."
            )
