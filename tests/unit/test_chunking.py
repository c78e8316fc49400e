"""Chunks and pages against the study's LangChain pipeline (PyPDFLoader + RecursiveCharacterTextSplitter)."""

from helpers import DEMO_PDF
from langchain_community.document_loaders import PyPDFLoader
from langchain_text_splitters import RecursiveCharacterTextSplitter

from ragq.shared.corpus.chunking import split_pages
from ragq.shared.corpus.documents import load_document
from ragq.shared.hashing import sha256_file


def test_chunks_and_pages_match_langchain():
    ours = split_pages(load_document(DEMO_PDF), sha256_file(DEMO_PDF))
    docs = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=100).split_documents(
        PyPDFLoader(str(DEMO_PDF)).load()
    )
    assert [(c.page, c.text) for c in ours] == [(d.metadata["page"], d.page_content) for d in docs]
    assert all(len(c.text) <= 500 for c in ours)
    assert len({c.id for c in ours}) == len(ours)


def test_overlap_is_kept():
    from ragq.shared.corpus.documents import Page

    text = " ".join(f"word{i:03d}" for i in range(300))  # 2,399 characters
    chunks = split_pages([Page("t.txt", 0, text)], "sha")
    assert len(chunks) > 4
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.text[-50:].split()[-1] in b.text[:120]  # the next chunk starts inside the previous one


def test_chunk_ids_are_stable():
    a = split_pages(load_document(DEMO_PDF), "x")
    b = split_pages(load_document(DEMO_PDF), "x")
    assert [c.id for c in a] == [c.id for c in b]


def test_a_long_pdf_read_in_parallel_gives_the_same_pages(tmp_path, monkeypatch):
    """Ranges of pages read by processes of their own give each page's text exactly as one reader does."""
    from fpdf import FPDF

    from ragq.shared.corpus import documents

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for number in range(31):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Page {number}: the relay's port {8000 + number} serves the admin console. " * 5)
    path = tmp_path / "long.pdf"
    pdf.output(str(path))
    monkeypatch.setattr(documents.os, "cpu_count", lambda: 4)
    parallel = load_document(path)
    monkeypatch.setattr(documents.os, "cpu_count", lambda: 1)
    serial = load_document(path)
    assert len(serial) == 31 and parallel == serial and "port 8030" in serial[30].text
