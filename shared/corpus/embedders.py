"""The embedders a process holds, one per variant: an index's queries use its own variant, answers are scored with
SCORER_VARIANT (shared/corpus/embedding.py)."""

from ragq.shared.corpus.embedding import SCORER_VARIANT, Embedder, index_variant
from ragq.shared.errors import ModelLoadError


class Embedders:
    """A process's embedders, each variant loaded once when first asked for: an index's own variant embeds its
    queries, SCORER_VARIANT scores answers. `loaded`: variants already at hand (a test's embedder)."""

    def __init__(self, settings=None, threads: int | None = None, loaded: dict[str, Embedder] | None = None):
        self.settings, self.threads, self.loaded = settings, threads, dict(loaded or {})

    def get(self, variant: str) -> Embedder:
        if variant not in self.loaded:
            if self.settings is None:
                raise ModelLoadError(f"no {variant} embedder here: give settings to load one.")
            self.loaded[variant] = Embedder.from_settings(self.settings, self.threads, variant)
            self.loaded[variant].encode(["warm up"])
        return self.loaded[variant]

    def for_index(self, manifest: dict) -> Embedder:
        return self.get(index_variant(manifest))

    @property
    def scorer(self) -> Embedder:
        return self.get(SCORER_VARIANT)
