"""Ratio values as users write them: `0.3`, `0.3,0.7`, or a sweep `start:stop:step` (stop included)."""

import math

from ragq.shared.errors import UsageError
from ragq.shared.rag.retrieval import check_ratio

MAX_SWEEP = 1000  # steps in one sweep (0:1:0.001); each ratio is a run of every question


def parse_ratios(texts: tuple[str, ...] | list[str]) -> list[float]:
    values: list[float] = []
    for text in texts:
        for part in str(text).split(","):
            values.extend(_parse_one(part.strip()))
    return [check_ratio(v) for v in dict.fromkeys(values)]


def _parse_one(text: str) -> list[float]:
    try:
        if ":" not in text:
            return [float(text)]
        start, stop, step = (float(p) for p in text.split(":"))
    except ValueError as exc:
        raise UsageError(
            f"'{text}' is not a ratio: write 0.3, 0.3,0.7 or a sweep start:stop:step like 0:1:0.1."
        ) from exc
    if not all(math.isfinite(v) for v in (start, stop, step)) or step <= 0 or stop < start:
        raise UsageError(f"sweep '{text}' needs start <= stop and a positive step, e.g. 0:1:0.1.")
    span = (stop - start) / step
    if not span < MAX_SWEEP:  # also catches a step so small that the division overflows
        raise UsageError(f"sweep '{text}' makes more than {MAX_SWEEP} ratios: use a larger step, e.g. 0:1:0.1.")
    count = int(round(span)) + 1
    return [round(start + i * step, 10) for i in range(count) if start + i * step <= stop + 1e-9]
