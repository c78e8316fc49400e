"""Whether retrieval found the evidence: a chunk on an evidence page (of the evidence document, when named)."""


def evidence_rank(chunks, pages: list[int] | None, doc: str | None) -> int | None:
    """1-based rank of the first chunk on an evidence page; 0 when none is; None when the question has no evidence."""
    if not pages:
        return None
    for rank, chunk in enumerate(chunks, start=1):
        if chunk.page in pages and (doc is None or chunk.source == doc):
            return rank
    return 0
