"""An index's pages as text, rebuilt from its chunks, and the order generation visits them in: stratified across
documents and across each document's pages, so that a set of any size spreads over the whole collection."""

import random
from collections import defaultdict

MIN_PAGE_CHARS = 200  # shorter pages (covers, blank and title pages) carry no question worth asking
STRATA = 10  # each document's pages fall into this many consecutive bands, visited in turn


def _join(a: str, b: str, longest: int = 200) -> str:
    """Two consecutive chunks of one page: the overlap the splitter repeated is kept once."""
    for size in range(min(longest, len(a), len(b)), 0, -1):
        if a.endswith(b[:size]):
            return a + b[size:]
    return a + " " + b


def page_texts(chunks) -> dict[tuple[str, int], str]:
    """(document, 0-based page) -> the page's text, from the chunks in index order."""
    pages: dict[tuple[str, int], str] = {}
    for chunk in chunks:
        key = (chunk.source, chunk.page)
        pages[key] = _join(pages[key], chunk.text) if key in pages else chunk.text
    return pages


def _stratified(pages: list[int], rng: random.Random) -> list[int]:
    """One document's pages: consecutive bands, one page of each band in turn (bands in random order, a random
    page of each), until every page has come."""
    size = max(1, -(-len(pages) // STRATA))
    bands = [rng.sample(pages[i : i + size], len(pages[i : i + size])) for i in range(0, len(pages), size)]
    rng.shuffle(bands)
    out: list[int] = []
    while any(bands):
        out.extend(band.pop() for band in bands if band)
    return out


def visiting_order(pages: dict[tuple[str, int], str], rng: random.Random) -> list[tuple[str, int]]:
    """Every page with text enough, documents taken in turn, each document's pages stratified."""
    by_doc: dict[str, list[int]] = defaultdict(list)
    for (doc, page), text in sorted(pages.items()):
        if len(text.strip()) >= MIN_PAGE_CHARS:
            by_doc[doc].append(page)
    orders = [[(doc, p) for p in _stratified(ps, rng)] for doc, ps in sorted(by_doc.items())]
    out: list[tuple[str, int]] = []
    while any(orders):
        out.extend(order.pop(0) for order in orders if order)
    return out
