"""`ragq models pull`: a GGUF file downloaded into $RAGQ_HOME/models, resumable, verified, loaded once, registered.

The download streams into NAME.gguf.part; a re-run resumes it with an HTTP Range request (a server that ignores
Range sends the whole file, and the download restarts). Only a complete file whose size and sha256 match what
is known, that is a GGUF, and that llama.cpp loads (prompt template included) is renamed into place. A file that
fails a check is kept aside as .rejected, never registered. The computed sha256 is always written beside the
file (FILE.sha256, sha256sum's format) and into the cache that provenance reads.
"""

import errno
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ragq.shared.config import Settings
from ragq.shared.errors import ModelLoadError, UsageError
from ragq.shared.hashing import cached_sha256, sha256_file
from ragq.shared.models import catalog, files
from ragq.shared.models.spec import PromptSpec

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)
BLOCK = 1 << 20


@dataclass(frozen=True)
class PullReport:
    path: Path
    size: int
    sha256: str
    verified: bool  # an expected sha256 was known and matched
    resumed_at: int  # bytes already there from an earlier, interrupted pull


@dataclass(frozen=True)
class Target:
    url: str
    file: str
    size: int | None
    sha256: str | None
    prompt: PromptSpec


def _target(settings: Settings, name: str, url: str | None, sha256: str | None, template: str | None) -> Target:
    if url is None:
        spec = catalog.get_model(settings, name)
        src = spec.source
        if src.kind != "url":
            raise UsageError(
                f"model '{name}' is not downloaded from a URL (its source is a {src.kind}): "
                "`ragq models list` says how to get its file; `ragq models pull NAME --url URL` downloads any GGUF."
            )
        return Target(src.url, src.file, src.size, sha256 or src.sha256, spec.prompt)
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url {url}: give an http:// or https:// address.")
    catalog.check_new_name(settings, name)
    file = Path(unquote(urlsplit(url).path)).name
    if not file.endswith(".gguf"):
        file = f"{name}.gguf"
    return Target(url, file, None, sha256, PromptSpec(template=template))


def _open(url: str, have: int, timeout_s: float):
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        return urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310 - http(s) only, checked
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return None  # nothing past what we have: the partial file is already whole
        raise ModelLoadError(f"{url} answered HTTP {exc.code} ({exc.reason}): check the URL.") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ModelLoadError(
            f"could not reach {url} ({getattr(exc, 'reason', exc)}): check the address and the network."
        ) from exc


def download(url: str, part: Path, timeout_s: float, progress: Progress, notice: Callable[[str], None]) -> int:
    """Stream url into part, resuming what is there; returns how many bytes were there already."""
    have = part.stat().st_size if part.exists() else 0
    response = _open(url, have, timeout_s)
    if response is None:
        return have
    with response:
        if have and response.status != 206:
            notice(f"the server does not support resuming (no HTTP Range): restarting the download of {url}")
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else None
        done = have
        try:
            with part.open("ab" if have else "wb") as out:
                for block in iter(lambda: response.read(BLOCK), b""):
                    out.write(block)
                    done += len(block)
                    progress(done, total)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ModelLoadError(
                    f"the disk is full after {done / 1e6:.1f} MB of {url}: free some space, then run the same "
                    "command again to resume."
                ) from exc
            if not isinstance(exc, TimeoutError | ConnectionError):
                raise
            raise _interrupted(done, total, exc) from exc
        except http.client.HTTPException as exc:
            raise _interrupted(done, total, exc) from exc
    if total is not None and done < total:
        raise _interrupted(done, total, "the connection closed early")
    return have


def _interrupted(done: int, total: int | None, why) -> ModelLoadError:
    of = f" of {total / 1e6:.1f}" if total else ""
    return ModelLoadError(
        f"the download was interrupted at {done / 1e6:.1f}{of} MB ({why}): run the same command again to resume."
    )


def _reject(part: Path, message: str) -> ModelLoadError:
    rejected = part.with_name(part.name.removesuffix(".part") + ".rejected")
    os.replace(part, rejected)
    return ModelLoadError(f"{message}; the file is kept at {rejected} and was not registered.")


def _verify(part: Path, target: Target) -> str:
    size = part.stat().st_size
    if target.size is not None and size != target.size:
        raise _reject(part, f"{target.file} is {size} bytes, expected {target.size}")
    sha256 = sha256_file(part)
    if target.sha256 and sha256 != target.sha256.lower():
        raise _reject(part, f"{target.file} has sha256 {sha256}, expected {target.sha256} (checksum mismatch)")
    from ragq.shared.rag.loader import probe_load

    try:
        files.check_gguf(part)
        probe_load(part, target.prompt)
    except ModelLoadError as exc:
        raise _reject(part, str(exc).rstrip(".")) from exc
    return sha256


def pull(
    settings: Settings,
    name: str,
    url: str | None,
    sha256: str | None,
    template: str | None,
    progress: Progress,
    notice: Callable[[str], None] = print,
) -> PullReport:
    target = _target(settings, name, url, sha256, template)
    folder = settings.models_dir
    folder.mkdir(parents=True, exist_ok=True)
    final, part = folder / target.file, folder / f"{target.file}.part"
    if final.exists():
        digest = cached_sha256(final, folder / "sha256-cache.json")
        return PullReport(final, final.stat().st_size, digest, digest == (target.sha256 or "").lower(), 0)
    resumed = download(target.url, part, settings.download_timeout_s, progress, notice)
    digest = _verify(part, target)
    os.replace(part, final)
    (folder / f"{target.file}.sha256").write_text(f"{digest}  {target.file}\n")
    cached_sha256(final, folder / "sha256-cache.json", known=digest)
    if url is not None:
        source = {"kind": "url", "url": url, "file": target.file, "size": final.stat().st_size, "sha256": digest}
        prompt = {"template": template} if template else {}
        catalog.write_entry(
            settings, {"name": name, "description": f"pulled from {url}", "source": source, "prompt": prompt}
        )
    return PullReport(final, final.stat().st_size, digest, bool(target.sha256), resumed)
