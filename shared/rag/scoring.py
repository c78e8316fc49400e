"""Answer quality: cosine similarity of sentence embeddings (all-MiniLM-L6-v2), as the study scored it."""


def cosine(embedder, answer: str, reference: str) -> float:
    """sentence-transformers' own util.cos_sim between the two texts' embeddings."""
    from sentence_transformers import util

    vectors = embedder.model.encode([answer, reference], convert_to_tensor=True)
    return float(util.cos_sim(vectors[0], vectors[1]).item())
