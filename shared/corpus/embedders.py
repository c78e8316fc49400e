"""The embedders a process holds, each loaded once: an index's queries use its own variant (and int8 recipe), its
answers are scored with the same embedder or with fp32 (embedding.scores_with_index)."""

import json

from ragq.shared.corpus.embedding import Embedder, index_variant, scores_with_index
from ragq.shared.errors import ModelLoadError


class Embedders:
    """A process's embedders, each variant and int8 plan loaded once when first asked for. `loaded`: variants
    already at hand (a test's embedder), by variant name."""

    def __init__(self, settings=None, threads: int | None = None, loaded: dict[str, Embedder] | None = None):
        self.settings, self.threads, self.loaded = settings, threads, dict(loaded or {})

    def get(self, variant: str, quantization: dict | None = None) -> Embedder:
        key = variant if quantization is None else f"{variant} {json.dumps(quantization, sort_keys=True)}"
        if key in self.loaded:
            return self.loaded[key]
        if self.settings is None:
            if variant in self.loaded:  # a test's embedder stands for any plan of its variant
                return self.loaded[variant]
            raise ModelLoadError(f"no {variant} embedder here: give settings to load one.")
        self.loaded[key] = Embedder.from_settings(self.settings, self.threads, variant, quantization=quantization)
        self.loaded[key].encode(["warm up"])
        return self.loaded[key]

    def for_index(self, manifest: dict) -> Embedder:
        return self.get(index_variant(manifest), manifest.get("quantization"))

    def scorer_for(self, manifest: dict) -> Embedder:
        """What scores an index's answers: its own embedder, or fp32 where its int8 recipe was not checked."""
        return self.for_index(manifest) if scores_with_index(manifest) else self.get("fp32")
