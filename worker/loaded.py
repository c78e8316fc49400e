"""What a worker loads once, before its first job: the model at its placement, the indexes it was asked for, the
embedders (each preloaded index's own, for its queries and, most often, its scores); how long each took, and the provenance
every result repeats."""

import json
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

from ragq.shared import provenance
from ragq.shared.config import Settings
from ragq.shared.corpus.embedders import Embedders
from ragq.shared.corpus.embedding import Embedder
from ragq.shared.corpus.index import HybridIndex, content_id, load_index
from ragq.shared.errors import CorpusIndexError
from ragq.shared.models import catalog, files
from ragq.shared.models.placement import Placement
from ragq.shared.rag.llm import LlamaRunner, open_runner
from ragq.shared.usage import return_free_memory
from ragq.worker.startup import StartupClock

log = logging.getLogger("ragq.worker")


@dataclass
class Indexes:
    """The indexes a worker has used, each loaded on first use and checked against the run's content."""

    folder: Path  # settings.indexes_dir
    loaded: dict[str, HybridIndex] = field(default_factory=dict)

    def get(self, name: str, manifest: dict | None = None) -> HybridIndex:
        """The index, loaded once; with `manifest` (the run's, from the database), checked to hold the same content,
        read again from disk if it was re-ingested since, refused if this host's copy differs."""
        if name not in self.loaded:
            self.loaded[name] = load_index(self.folder, name)
        if manifest is not None and content_id(self.loaded[name].manifest) != content_id(manifest):
            self.loaded[name] = load_index(self.folder, name)
            held, wanted = content_id(self.loaded[name].manifest), content_id(manifest)
            if held != wanted:
                raise CorpusIndexError(
                    f"index '{name}' on {socket.gethostname()} holds other documents than the run's (content "
                    f"{held[:8]} against {wanted[:8]}): ingest the same files on this host (`ragq ingest ... --index "
                    f"{name}`) or share $RAGQ_HOME/indexes."
                )
        return self.loaded[name]


@dataclass
class Loaded:
    runner: LlamaRunner
    sha256: str  # the model file's
    embedders: Embedders
    indexes: Indexes
    startup: dict[str, float]  # seconds per start-up phase
    provenance: dict  # the model's part of every result's provenance

    def close(self) -> None:
        """Free the model now: llama-cpp-python's own finaliser fails at interpreter teardown."""
        self.runner.close()


def load(settings: Settings, model: str, placement: Placement, preload: list[str], worker: str) -> Loaded:
    """Everything a worker answers with, timed per phase ("ready in ..."). A model that cannot load, or whose chat
    template cannot render, stops the worker here, not every job."""
    phases = StartupClock()
    spec = catalog.get_model(settings, model)
    sha256 = files.file_sha256(settings, files.model_path(settings, spec))
    phases.lap("catalog")
    runner = open_runner(settings, spec, placement)
    runner.layout("chat")
    phases.lap("model")
    runner.warmup()
    phases.lap("warmup")
    indexes = Indexes(settings.indexes_dir)
    for name in preload:
        indexes.get(name)
    phases.lap("index")
    embedders = Embedders(settings, placement.n_threads)
    # loaded now, not inside the first job's timing: each preloaded index's query embedder and scorer (most often one
    # and the same), or, with none preloaded, the one new indexes are built with
    for index in indexes.loaded.values():
        embedders.for_index(index.manifest)
        embedders.scorer_for(index.manifest)
    if not embedders.loaded:
        built = Embedder.from_settings(settings)
        embedders.get(built.variant, built.quantization)
    embedder = next(iter(embedders.loaded.values()))
    return_free_memory()  # the loaders' freed buffers, resident in glibc's heap otherwise: 40 MB (bench: memory)
    phases.lap("embedder")
    log.info("ready in %.2f s: %s", sum(phases.seconds.values()), json.dumps(phases.seconds))
    model_provenance = {
        **provenance.model_provenance(runner.path, runner, sha256),
        "embedder": embedder.name,
        "embedder_runtime": embedder.runtime,
        "worker": worker,
    }
    return Loaded(runner, sha256, embedders, indexes, phases.seconds, model_provenance)
