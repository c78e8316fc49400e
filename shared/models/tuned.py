"""Placements measured by `ragq models tune`, kept per host and model file in $RAGQ_HOME/placements.json.

Keyed by host name and the GGUF's sha256: the same file on another machine, or another file under the same name,
has not been measured. Workers and `ragq run` use a saved placement where no option overrides it.
"""

import json
import socket
from datetime import UTC, datetime
from pathlib import Path

from ragq.shared.config import Settings
from ragq.shared.models.placement import Placement, PlacementOptions, choose


def store_path(settings: Settings) -> Path:
    return settings.home / "placements.json"


def _key(host: str, file_sha256: str) -> str:
    return f"{host}|{file_sha256}"


def _load(settings: Settings) -> dict:
    try:
        return json.loads(store_path(settings).read_text())
    except (OSError, ValueError):
        return {}


def saved(settings: Settings, file_sha256: str, host: str | None = None) -> tuple[Placement, str] | None:
    """The placement measured for this file on this host, and when; None where it has not been tuned."""
    entry = _load(settings).get(_key(host or socket.gethostname(), file_sha256))
    if not entry:
        return None
    try:
        return Placement.model_validate(entry["placement"]), entry.get("tuned_at", "")
    except (KeyError, ValueError):
        return None  # written by another version: measure again


def save(settings: Settings, file_sha256: str, model: str, placement: Placement, table: list[dict]) -> Path:
    """Remember `placement` as this host's best for the file (atomically: a reader sees the old or the new)."""
    data = _load(settings)
    data[_key(socket.gethostname(), file_sha256)] = {
        "model": model,
        "placement": placement.model_dump(),
        "tuned_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "table": table,
    }
    path = store_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
    return path


def saved_for(settings: Settings, model: str) -> tuple[Placement, str] | None:
    """`saved` for a catalog model's file (its sha256 is cached by path, size and mtime)."""
    from ragq.shared.models import catalog, files

    spec = catalog.get_model(settings, model)
    return saved(settings, files.file_sha256(settings, files.model_path(settings, spec)))


def placement_for(
    settings: Settings, model: str, asked: PlacementOptions | Placement, parallel: int = 1
) -> tuple[Placement, str]:
    """The placement a worker of `model` runs with, and why (placement.choose). The saved placement is read, and the
    model's file hashed, only where it may apply: options that allow it (--tuned, not a whole placement) and a
    worker alone on the host."""
    may_apply = isinstance(asked, PlacementOptions) and asked.tuned and parallel == 1  # a whole placement: no --tuned
    return choose(asked, saved_for(settings, model) if may_apply else None, parallel)
