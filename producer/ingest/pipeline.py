"""`ragq ingest`: documents -> a persisted hybrid index, recorded in the database."""

from dataclasses import dataclass
from pathlib import Path

from ragq.producer.ingest.download import download, is_url
from ragq.shared.config import Settings
from ragq.shared.corpus import index as idx
from ragq.shared.corpus.embedding import Embedder
from ragq.shared.store.door import Store


@dataclass(frozen=True)
class IngestReport:
    name: str
    unchanged: bool
    manifest: dict


def local_paths(settings: Settings, items: list[str | Path]) -> list[Path]:
    """Paths as given; http(s) URLs downloaded (once) into $RAGQ_HOME/downloads."""
    return [
        download(str(item), settings.downloads_dir, settings.download_max_mb * 2**20, settings.download_timeout_s)
        if is_url(str(item))
        else Path(item)
        for item in items
    ]


def ingest_streams() -> int:
    """Embedding calls run at once during an ingest: one per physical core (bench/ingest.py, grid)."""
    import os

    from ragq.shared.hardware import physical_cores

    return physical_cores() or os.cpu_count() or 1


def ingest(
    settings: Settings, name: str, items: list[str | Path], progress: idx.Progress, embedder=None
) -> IngestReport:
    folder = idx.index_folder(settings.indexes_dir, name)
    sources = idx.describe_sources(local_paths(settings, items))
    store = Store(settings)  # an out-of-date database is refused here, before the build
    embedder = embedder or Embedder.from_settings(settings, streams=ingest_streams())  # loads nothing until it embeds
    if idx.is_unchanged(folder, sources, settings.pdf_reader, embedder.variant, embedder.quantization):
        manifest = idx.load_index(settings.indexes_dir, name).manifest
        unchanged = True
    else:
        manifest, chunks, vectors = idx.build(name, sources, embedder, progress, settings.pdf_reader)
        idx.save(folder, manifest, chunks, vectors)
        unchanged = False
    store.record_index(manifest, str(folder))
    return IngestReport(name, unchanged, manifest)
