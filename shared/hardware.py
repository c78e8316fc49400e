"""What this host has, read from the system: its cores (physical, and on Apple Silicon the performance cores), the
CPU's feature flags and name, an NVIDIA GPU through NVML, free memory. Nothing here decides anything: placement,
the int8 plan and the memory check read these facts and choose.

Each function takes the platform facts it reads as arguments with real defaults, so that every branch (Linux, an
Apple Silicon Mac, an Intel Mac, CUDA) is unit-tested where only Linux runs (tests/unit/test_machine.py).
"""

import os
import platform as _platform
import subprocess
import sys


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


def cpu_flags(system: str = sys.platform, cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags in lower case: /proc/cpuinfo on Linux, sysctl on macOS; empty where neither answers."""
    if system.startswith("linux"):
        try:
            with open(cpuinfo, encoding="utf-8", errors="replace") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key.strip() in ("flags", "Features"):
                        return set(value.lower().split())
        except OSError:
            return set()
        return set()
    if system == "darwin":
        names = ["machdep.cpu.features", "machdep.cpu.leaf7_features"]
        try:
            out = subprocess.run(["sysctl", "-n", *names], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return set()
        return set(out.stdout.lower().replace(".", "_").split())
    return set()


def device_name(backend_name: str, system: str = sys.platform, nvml=None, cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """The accelerator's name: NVML on CUDA (nvidia-ml-py, when installed), the chip on a Mac, else the CPU's model
    name (Linux's /proc/cpuinfo), else its architecture (platform.machine(): "x86_64", "arm64")."""
    if backend_name == "CUDA":
        found = (nvml or nvml_device)()
        return found["name"] if found else None
    if system == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
            return out.stdout.strip() or None
        except OSError:
            return None
    return _cpu_model(cpuinfo) or _platform.processor() or _platform.machine()


def _cpu_model(cpuinfo: str) -> str | None:
    """The first "model name" of /proc/cpuinfo (x86); None where there is none (an ARM board, another system)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        return None
    return None


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


def available_mb() -> float:
    """Memory the system can give a new process now (MiB), as psutil reads it on Linux and macOS."""
    import psutil

    return psutil.virtual_memory().available / 2**20
