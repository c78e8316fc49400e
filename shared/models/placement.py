"""Where and how a model runs on this host: llama.cpp's threads and the layers it offloads to an accelerator.

A placement changes how fast an answer comes, never what it says, so it stays out of the spec digest
(conventions 15) and is recorded on every result instead. Its values are checked here, by `Placement`, whichever
command they come from, and "auto" is resolved in `resolve_gpu_layers` alone, which the worker and the bench call.

Each function takes the platform facts it reads as arguments with real defaults, so that every branch (Linux, an
Apple Silicon Mac, an Intel Mac, CUDA) is unit-tested here, where only Linux runs.
"""

import os
import platform as _platform
import subprocess
import sys
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragq.shared.errors import UsageError

# layers on the accelerator: N, -1 (all) or "auto" (all where the llama.cpp build offloads, else 0)
GpuLayers = Annotated[int, Field(ge=-1)] | Literal["auto"]


class Placement(BaseModel):
    """One worker's placement. `n_gpu_layers` None: the catalog entry's (`Params.n_gpu_layers`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_threads: int = Field(ge=1)
    n_gpu_layers: GpuLayers | None = None

    @classmethod
    def from_options(cls, threads: int | None, gpu_layers: str | int | None) -> "Placement":
        """A placement from command-line values (`--threads`, `--gpu-layers` as typed), checked here once; the
        default threads where none are given."""
        layers = None if gpu_layers is None else layers_from_text(gpu_layers)
        try:
            return cls(n_threads=default_threads()[0] if threads is None else threads, n_gpu_layers=layers)
        except ValidationError as exc:
            if exc.errors()[0]["loc"][0] == "n_threads":
                raise UsageError(f"--threads {threads}: give 1 or more threads.") from None
            raise UsageError(
                f"--gpu-layers {gpu_layers!r}: give a number of layers (-1 for all, 0 for the CPU) or 'auto'."
            ) from None

    def worker_args(self) -> list[str]:
        """The same placement as `python -m ragq.worker` options."""
        args = ["--threads", str(self.n_threads)]
        return args + (["--gpu-layers", str(self.n_gpu_layers)] if self.n_gpu_layers is not None else [])

    def load_args(self, catalog_gpu_layers: int | str, supports_offload: bool) -> dict:
        """Llama()'s placement arguments. Prompt evaluation gets the same threads as generation: its default, every
        core, would oversubscribe two workers sharing a host."""
        requested = catalog_gpu_layers if self.n_gpu_layers is None else self.n_gpu_layers
        return {
            "n_threads": self.n_threads,
            "n_threads_batch": self.n_threads,
            "n_gpu_layers": resolve_gpu_layers(requested, supports_offload),
        }

    def requested_gpu_layers(self, catalog_gpu_layers: int | str) -> int | str:
        return catalog_gpu_layers if self.n_gpu_layers is None else self.n_gpu_layers


def layers_from_text(value: str | int) -> int | str:
    """A layer count as typed ("12", "-1", "auto") in the type it is checked as; the check is the model's."""
    return int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else value


def resolve_gpu_layers(value: int | str, supports_offload: bool) -> int:
    """ "auto": every layer where this llama.cpp build can offload (Metal, CUDA, ...), none on a CPU-only build."""
    if value == "auto":
        return -1 if supports_offload else 0
    return int(value)


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
