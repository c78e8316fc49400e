"""Pages -> chunks, with LangChain's RecursiveCharacterTextSplitter (the study's splitter)."""

import hashlib
from dataclasses import dataclass

from ragq.shared.corpus.documents import Page

CHUNK_SIZE = 500
CHUNK_OVERLAP = 100


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    page: int
    text: str


def chunk_id(source_sha256: str, page: int, position: int, text: str) -> str:
    """Stable across re-ingests of the same file: derived from the file, the place and the text."""
    key = f"{source_sha256}:{page}:{position}:{text}".encode()
    return hashlib.sha1(key).hexdigest()[:16]


def splitter(size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)


def page_chunks(split, page: Page, source_sha256: str) -> list[Chunk]:
    """One page's chunks, each keeping the page's number (the page is split on its own, as the study's
    PyPDFLoader + split_documents did)."""
    return [
        Chunk(chunk_id(source_sha256, page.page, position, text), page.source, page.page, text)
        for position, text in enumerate(split.split_text(page.text))
    ]


def split_pages(
    pages: list[Page], source_sha256: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP
) -> list[Chunk]:
    split = splitter(size, overlap)
    return [chunk for page in pages for chunk in page_chunks(split, page, source_sha256)]
