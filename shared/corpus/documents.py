"""Documents -> pages of text. PDF (PDFium by default, or pypdf as the study read it), plain text, Markdown, HTML.

PDF readers (settings.pdf_reader, recorded in the index's manifest and part of its identity):
- `pdfium` (the default): pypdfium2, PDFium's own text extraction in native code: BOEING's 190 pages in about 1 s
  where pypdf takes 10. Its text is normalised to pypdf's conventions (line breaks "\\n"; the hyphen PDFium marks
  at a line's end, U+FFFE, written "-\\n" as pypdf writes it): per page 0.997 of pypdf's characters on BOEING
  (difflib ratio; bench/int8.py), tables written a row per line where pypdf writes a cell per line. Pages are
  yielded one at a time, so chunks embed while later pages are still being read (PDFium's calls release the GIL).
- `pypdf`: what the study's PyPDFLoader read, page for page.
"""

import html.parser
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ragq.shared.errors import DocumentError

SUFFIXES = {".pdf": "pdf", ".txt": "text", ".md": "text", ".markdown": "text", ".html": "html", ".htm": "html"}


@dataclass(frozen=True)
class Page:
    source: str  # the file's name, as chunks and results cite it
    page: int  # 0-based, equal to pypdf's page index; 0 for formats without pages
    text: str


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given, and the supported files inside any directory, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
            if not found:
                raise DocumentError(f"{path} holds no PDF, text, Markdown or HTML file: point to such files.")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise DocumentError(f"{path} does not exist: check the path.")
    return out


def load_document(path: Path, reader: str = "pdfium") -> list[Page]:
    """Read one file into pages with text; refuse files with no text at all."""
    return list(read_pages(path, reader))


def read_pages(path: Path, reader: str = "pdfium") -> Iterator[Page]:
    """One file's pages as they are read; a file with no text at all is refused once its last page is read."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(
            f"{path.name}: unsupported file type '{path.suffix}': give a .pdf, .txt, .md or .html file."
        )
    if kind == "pdf":
        _check_header(path)
        pages = _read_pdfium(path) if reader == "pdfium" else iter(_load_pdf(path))
    else:
        pages = iter({"text": _load_text, "html": _load_html}[kind](path))
    has_text = False
    for page in pages:
        has_text = has_text or bool(page.text.strip())
        yield page
    if not has_text:
        hint = " (a scanned PDF needs OCR first)" if kind == "pdf" else ""
        raise DocumentError(f"{path.name} has no extractable text{hint}: give a document with text.")


def _check_header(path: Path) -> None:
    with path.open("rb") as fh:
        if fh.read(1024).find(b"%PDF-") < 0:
            raise DocumentError(f"{path.name} is not a PDF (no %PDF header): give a real PDF file.")


def pdfium_text(raw: str) -> str:
    """PDFium's page text in pypdf's conventions: "\\n" line breaks, a line-end hyphen (U+FFFE) as "-\\n"."""
    return raw.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "-\n")


def _read_pdfium(path: Path) -> Iterator[Page]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium.raw.FPDF_ERR_PASSWORD:
            raise DocumentError(
                f"{path.name} is encrypted with a password: decrypt it first (qpdf --decrypt)."
            ) from exc
        raise DocumentError(f"{path.name} is a damaged PDF ({exc}): repair or re-export it.") from exc
    try:
        for number in range(len(pdf)):
            try:
                page = pdf[number]
                textpage = page.get_textpage()
                text = pdfium_text(textpage.get_text_range())
            except pdfium.PdfiumError as exc:
                raise DocumentError(
                    f"{path.name} is a damaged PDF (page {number + 1}: {exc}): repair or re-export it."
                ) from exc
            textpage.close()
            page.close()
            yield Page(path.name, number, text)
    finally:
        pdf.close()


def _load_pdf(path: Path) -> list[Page]:
    import pypdf
    from pypdf.errors import LimitReachedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(f"{path.name} is encrypted with a password: decrypt it first (qpdf --decrypt).")
        texts = _page_texts(path, reader)
        return [Page(path.name, i, text) for i, text in enumerate(texts)]
    except DocumentError:
        raise
    except LimitReachedError as exc:
        raise DocumentError(
            f"{path.name} goes past pypdf's safety limit ({exc}): re-save it (e.g. "
            "`qpdf in.pdf out.pdf`) and ingest the copy."
        ) from exc
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"{path.name} is a damaged PDF ({exc}): repair or re-export it.") from exc
    except Exception as exc:  # noqa: BLE001 - pypdf on damaged input raises what its parser met (generated PDFs
        # found NotImplementedError, IndexError, zlib.error, RecursionError): still a damaged file, one line
        raise DocumentError(
            f"{path.name} is a damaged PDF ({type(exc).__name__}: {exc}): repair or re-export it."
        ) from exc


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path.name} is not UTF-8 text: convert it to UTF-8.") from exc


def _load_text(path: Path) -> list[Page]:
    return [Page(path.name, 0, _read_text(path))]


class _TextOnly(html.parser.HTMLParser):
    SKIP = {"script", "style", "head", "noscript"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in {"p", "br", "div", "li", "h1", "h2", "h3", "h4", "tr"}:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextOnly()
    parser.feed(markup)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _load_html(path: Path) -> list[Page]:
    return [Page(path.name, 0, html_to_text(_read_text(path)))]


# below this many pages, starting processes costs more than it saves
PARALLEL_MIN_PAGES = 24


def _page_texts(path: Path, reader) -> list[str]:
    """Each page's text, the same as reading them one by one. On several cores the pages are cut into ranges and
    every range but the first is read by a process of its own (pypdf is pure Python: one process reads on one
    core); a plain interpreter per range, not multiprocessing, which would re-run a caller's unguarded script."""
    count, cores = len(reader.pages), os.cpu_count() or 1
    parts = min(cores, count // PARALLEL_MIN_PAGES + 1)
    if parts < 2:
        return [page.extract_text() or "" for page in reader.pages]
    import json
    import subprocess
    import sys

    bounds = [round(count * k / parts) for k in range(parts + 1)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _READ_RANGE, str(path), str(start), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for start, stop in zip(bounds[1:-1], bounds[2:], strict=True)
    ]
    texts = [reader.pages[i].extract_text() or "" for i in range(bounds[0], bounds[1])]
    for child, start, stop in zip(children, bounds[1:-1], bounds[2:], strict=True):
        out, _ = child.communicate()
        texts += (
            json.loads(out)
            if child.returncode == 0
            else [reader.pages[i].extract_text() or "" for i in range(start, stop)]
        )
    return texts


_READ_RANGE = """
import json, logging, sys
import pypdf
logging.getLogger("pypdf").setLevel(logging.ERROR)
reader = pypdf.PdfReader(sys.argv[1])
if reader.is_encrypted:
    reader.decrypt("")
print(json.dumps([reader.pages[i].extract_text() or "" for i in range(int(sys.argv[2]), int(sys.argv[3]))]))
"""
