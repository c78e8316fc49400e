"""What this process has used so far: peak memory and CPU time (the worker and `models check` report them).

Peak memory is this process's own, not what it inherited: on Linux, `ru_maxrss` survives fork and exec (the
kernel keeps the parent's high-water mark in the new image's signal struct), so a worker started by a process
holding 800 MB reports 800 MB before it does anything. The high-water mark of the process's own address space,
`VmHWM` in /proc/self/status, starts anew at exec. On macOS `ru_maxrss` (bytes there) is read from the task's
own physical map, which exec replaces, so it is already the image's own peak.
"""

import resource
import sys
from pathlib import Path

# ru_maxrss is in KiB on Linux and in bytes on macOS (getrusage(2) on each)
MAXRSS_BYTES = {"darwin": 1}
PROC_STATUS = Path("/proc/self/status")


def peak_rss_mb(platform: str = sys.platform, status: Path = PROC_STATUS) -> float:
    """Peak resident memory of this process image in MiB, right on Linux and on macOS."""
    if platform.startswith("linux"):
        hwm = _vm_hwm_kib(status)
        if hwm is not None:
            return hwm / 1024
    unit = MAXRSS_BYTES.get(platform, 1024)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20


def _vm_hwm_kib(status: Path) -> int | None:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])  # "VmHWM:   123456 kB"
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def return_free_memory(platform: str = sys.platform, libc_name: str = "libc.so.6") -> bool:
    """Hand the C heap's free pages back to the system (glibc's `malloc_trim`): loading a model and an ONNX session
    frees buffers into the heap, where glibc keeps them resident. Linux with glibc only; elsewhere there is nothing
    to call (macOS's allocator returns large blocks itself; musl has no malloc_trim). True when memory was returned."""
    if not platform.startswith("linux"):
        return False
    import ctypes

    try:
        trim = ctypes.CDLL(libc_name).malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(trim(0))
