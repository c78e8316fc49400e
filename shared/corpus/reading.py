"""Documents -> chunks on a thread of their own, so that the caller embeds one batch while later pages are read.

PDFium's text extraction and ONNX Runtime's inference both run in native code without the GIL, so on two cores
the reader and the embedder overlap; the splitter (Python) takes little. Chunks come out in document and page order,
as reading them one after another gives; a reader's error (a damaged, encrypted or textless document) is raised in
the caller, at the point the reader met it, and the reader stops when the caller stops taking chunks.
"""

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ragq.shared.corpus.chunking import Chunk, page_chunks, splitter
from ragq.shared.corpus.documents import read_pages

_DONE = object()
Progress = Callable[[str, int, int | None], None]  # (stage, done, total; None while unknown)


def read_chunks(sources: list[dict], reader: str, progress: Progress, ahead: int = 256) -> Iterator[Chunk]:
    """Every source's chunks; each source dict gains pages, empty_pages and chunks once it is read whole.
    `ahead`: pages the reader may run ahead of the caller."""
    pages: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def work() -> None:
        try:
            split, read = splitter(), 0
            for source in sources:
                counts = {"pages": 0, "empty_pages": 0, "chunks": 0}
                for page in read_pages(Path(source["path"]), reader):
                    chunks = page_chunks(split, page, source["sha256"])
                    counts["pages"] += 1
                    counts["empty_pages"] += not page.text.strip()
                    counts["chunks"] += len(chunks)
                    read += 1
                    if not _put(pages, (read, chunks), stop):
                        return
                source.update(counts)
            _put(pages, _DONE, stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            _put(pages, exc, stop)

    thread = threading.Thread(target=work, name="ragq-reader", daemon=True)
    thread.start()
    try:
        while (item := pages.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            read, chunks = item
            progress("pages read", read, None)
            yield from chunks
    finally:
        stop.set()
        thread.join()


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put unless the caller has stopped listening; False when it has."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
