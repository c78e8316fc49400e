"""What this machine offers a worker: the threads llama.cpp runs best on, the memory a model needs and has.

Each function takes the platform facts it reads as arguments with real defaults, so that every branch (Linux, an
Apple Silicon Mac, an Intel Mac) is unit-tested here, where only Linux runs.
"""

import os
import platform as _platform
import subprocess
import sys

# what a ragq worker holds besides the model and its KV cache: Python, Celery, llama.cpp's compute buffers, the
# ONNX embedder, the index (bench/RESULTS.md, memory: 380-430 MB measured over the GGUF for both catalog models)
WORKER_OVERHEAD_MB = 450


def sysctl_int(name: str) -> int | None:
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
        return int(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except ImportError:
        return None


def default_threads(
    system: str = sys.platform, machine: str = _platform.machine(), sysctl=sysctl_int, physical=physical_cores
) -> tuple[int, str]:
    """llama.cpp's threads when none are asked for, and why: on Apple Silicon the performance cores (efficiency
    cores slow every step down to their pace), elsewhere the physical cores (hyper-threads share one core's units)."""
    if system == "darwin" and machine == "arm64":
        performance = sysctl("hw.perflevel0.physicalcpu")
        if performance:
            return performance, "performance cores"
    cores = physical()
    if cores:
        return cores, "physical cores"
    return os.cpu_count() or 1, "logical CPUs"


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


def resolve_gpu_layers(value: int | str, supports_offload: bool) -> int:
    """ "auto": every layer where this llama.cpp build can offload (Metal, CUDA, ...), none on a CPU-only build."""
    if value == "auto":
        return -1 if supports_offload else 0
    return int(value)


def backend(system_info: str, supports_offload: bool) -> str:
    """The accelerator a llama.cpp build runs on, from llama_print_system_info()."""
    if supports_offload:
        for name in ("CUDA", "Metal", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL"):
            if f"{name} :" in system_info or f"{name}:" in system_info:
                return name
        return "GPU"
    return "CPU"


def offload(requested: int, layers: int, supports_offload: bool) -> int:
    """Layers llama.cpp puts on the accelerator: -1 means all (its repeating layers plus the output layer)."""
    if not supports_offload:
        return 0
    total = layers + 1
    return total if requested < 0 else min(requested, total)


def device_name(backend_name: str, system: str = sys.platform, nvml=None) -> str | None:
    """The accelerator's name: NVML on CUDA (nvidia-ml-py, when installed), the chip on a Mac, else the CPU."""
    if backend_name == "CUDA":
        found = (nvml or nvml_device)()
        return found["name"] if found else None
    if system == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
            return out.stdout.strip() or None
        except OSError:
            return None
    return _platform.processor() or _platform.machine()


def nvml_device(index: int = 0) -> dict | None:
    """Name and memory of an NVIDIA GPU through NVML (nvidia-ml-py), None where it cannot be read."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            return {
                "name": name.decode() if isinstance(name, bytes) else name,
                "memory_used_mb": memory.used / 2**20,
                "memory_total_mb": memory.total / 2**20,
            }
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no driver, no library, no device: no GPU figures
        return None
