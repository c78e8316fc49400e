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


def split_pages(
    pages: list[Page], source_sha256: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP
) -> list[Chunk]:
    """Split each page on its own (as PyPDFLoader + split_documents did), keeping its page number."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
    chunks = []
    for page in pages:
        for position, text in enumerate(splitter.split_text(page.text)):
            chunks.append(Chunk(chunk_id(source_sha256, page.page, position, text), page.source, page.page, text))
    return chunks
