"""Answer quality: cosine similarity of sentence embeddings (all-MiniLM-L6-v2), as the study scored it."""

import numpy as np


def cosine(embedder, answer: str, reference: str) -> float:
    """The torch runtime: sentence-transformers' own util.cos_sim, the study's call. The onnx runtime: the same
    formula over the same vectors (they agree within 1e-5, checked when the model was exported)."""
    if embedder.runtime == "torch":
        from sentence_transformers import util

        vectors = embedder.model.encode([answer, reference], convert_to_tensor=True)
        return float(util.cos_sim(vectors[0], vectors[1]).item())
    a, b = embedder.encode([answer, reference]).astype(np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-8))
