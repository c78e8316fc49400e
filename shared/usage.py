"""What this process has used so far: peak memory and CPU time (the worker and `models check` report them)."""

import resource
import sys

# ru_maxrss is in KiB on Linux and in bytes on macOS (getrusage(2) on each)
MAXRSS_BYTES = {"darwin": 1}


def peak_rss_mb(platform: str = sys.platform) -> float:
    """Peak resident memory of this process in MiB, right on Linux and on macOS."""
    unit = MAXRSS_BYTES.get(platform, 1024)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
