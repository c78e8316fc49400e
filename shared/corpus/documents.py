"""Documents -> pages of text. PDF (pypdf), plain text, Markdown and HTML."""

import html.parser
import logging
import os
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


def load_document(path: Path) -> list[Page]:
    """Read one file into pages with text; refuse files with no text at all."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(
            f"{path.name}: unsupported file type '{path.suffix}': give a .pdf, .txt, .md or .html file."
        )
    pages = {"pdf": _load_pdf, "text": _load_text, "html": _load_html}[kind](path)
    if not any(p.text.strip() for p in pages):
        hint = " (a scanned PDF needs OCR first)" if kind == "pdf" else ""
        raise DocumentError(f"{path.name} has no extractable text{hint}: give a document with text.")
    return pages


def _load_pdf(path: Path) -> list[Page]:
    import pypdf
    from pypdf.errors import LimitReachedError, PdfReadError

    if path.read_bytes()[:1024].find(b"%PDF-") < 0:
        raise DocumentError(f"{path.name} is not a PDF (no %PDF header): give a real PDF file.")
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
