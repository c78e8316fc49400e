"""How long each phase of a worker's start took (the "ready in ..." log line, bench startup)."""

import time


class StartupClock:
    """Seconds per phase of a worker's start; the first phase, `imports`, runs from the process's own start."""

    def __init__(self):
        self.seconds = {"imports": round(time.time() - process_started(), 3)}
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(now - self.last, 3)
        self.last = now


def process_started() -> float:
    import psutil

    return psutil.Process().create_time()
