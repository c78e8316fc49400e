"""Exports: one row per result with every recorded field, as csv, jsonl, parquet, or the study's own `seed` lines.

Files are written to a temporary name beside the target and renamed, so a failed export leaves nothing half-written.
"""

import csv
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ragq.shared.errors import UsageError
from ragq.shared.registry import lookup


def _flat(value):
    """csv and parquet cells: lists and dicts as JSON text, times as ISO text."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def write_csv(records: list[dict], fh) -> None:
    writer = csv.DictWriter(fh, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows({k: _flat(v) for k, v in r.items()} for r in records)


def write_jsonl(records: list[dict], fh) -> None:
    for record in records:
        fh.write(json.dumps(record, default=_flat) + "\n")


def write_seed(records: list[dict], fh) -> None:
    """The original study's lines: model;question;cosine;resp_time (seconds), no header."""
    for r in records:
        fh.write(f"{r['model']};{r['question'].replace(';', ',')};{r['cosine']};{r['total_s']}\n")


def write_parquet(records: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{k: _flat(v) for k, v in r.items()} for r in records])
    pq.write_table(table, path)


EXPORTERS: dict[str, Callable] = {"csv": write_csv, "jsonl": write_jsonl, "seed": write_seed, "parquet": write_parquet}


def _publish(tmp: str, target: Path) -> None:
    """Give the file the permissions a plain open() would (mkstemp makes it 0600), then move it into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, target)


def _check_folder(target: Path) -> Path:
    target = target.expanduser()
    if not target.parent.is_dir():
        raise UsageError(f"folder {target.parent} does not exist: create it or choose another -o path.")
    return target


def write_text_atomic(target: Path, text: str) -> None:
    target = _check_folder(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        _publish(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export(records: list[dict], fmt: str, target: Path) -> int:
    """Write records to target atomically; returns the row count."""
    writer = lookup("export format", fmt, EXPORTERS)
    if not records:
        raise UsageError("no results to export for those runs: check `ragq status`.")
    target = _check_folder(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        if fmt == "parquet":
            os.close(fd)
            writer(records, Path(tmp))
        else:
            with os.fdopen(fd, "w", newline="" if fmt == "csv" else None) as fh:
                writer(records, fh)
        _publish(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(records)
