"""Documents at http(s) URLs: downloaded once into $RAGQ_HOME/downloads, with a size limit and a timeout."""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ragq.shared.errors import DocumentError

SUFFIX_BY_TYPE = {"application/pdf": ".pdf", "text/html": ".html", "text/plain": ".txt", "text/markdown": ".md"}


def is_url(item: str) -> bool:
    return item.startswith(("http://", "https://"))


def download(url: str, folder: Path, max_bytes: int, timeout_s: float) -> Path:
    """The local copy of url; an earlier download of the same URL is reused."""
    name = Path(unquote(urlsplit(url).path)).name or "download"
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    existing = sorted(folder.glob(f"{key}-*")) if folder.exists() else []
    if existing:
        return existing[0]
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - http(s) only, checked above
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise _too_big(url, max_bytes)
            kind = response.headers.get_content_type()
            if not Path(name).suffix and kind in SUFFIX_BY_TYPE:
                name += SUFFIX_BY_TYPE[kind]
            folder.mkdir(parents=True, exist_ok=True)
            return _save(response, folder / f"{key}-{name}", url, max_bytes)
    except urllib.error.HTTPError as exc:
        raise DocumentError(f"{url} answered HTTP {exc.code} ({exc.reason}): check the address.") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DocumentError(
            f"could not download {url} ({reason}): check the address and the network, "
            "or download it yourself and ingest the file."
        ) from exc


def _too_big(url: str, max_bytes: int) -> DocumentError:
    return DocumentError(
        f"{url} is larger than the download limit of {max_bytes // 2**20} MB: raise "
        "RAGQ_DOWNLOAD_MAX_MB or download it yourself and ingest the file."
    )


def _save(response, target: Path, url: str, max_bytes: int) -> Path:
    """Stream to a temporary file, counting bytes (a server may not declare its size); rename when complete."""
    fd, tmp = tempfile.mkstemp(prefix=".download-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            total = 0
            for block in iter(lambda: response.read(1 << 16), b""):
                total += len(block)
                if total > max_bytes:
                    raise _too_big(url, max_bytes)
                out.write(block)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
