"""Whether a model fits on this machine before `ragq run` starts its worker: what a worker needs, what is free."""

# what a ragq worker holds besides the model and its KV cache: Python, Celery, llama.cpp's compute buffers, the
# ONNX embedder, the index (bench/RESULTS.md, memory: 380-430 MB measured over the GGUF for both catalog models)
WORKER_OVERHEAD_MB = 450


def available_mb() -> float:
    import psutil

    return psutil.virtual_memory().available / 2**20


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
