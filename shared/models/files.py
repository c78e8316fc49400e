"""Where a model's GGUF file is: inside a PyPI package, at a path the user gave, downloaded or quantized into
$RAGQ_HOME/models. Checked to look like a GGUF; hashed once (cached by path, size and mtime)."""

import importlib
import importlib.metadata
import struct
from pathlib import Path

from ragq.shared.config import Settings
from ragq.shared.errors import ModelLoadError
from ragq.shared.hashing import cached_sha256
from ragq.shared.models.spec import ModelSpec, PackageSource, PathSource, UrlSource

GGUF_MAGIC = b"GGUF"


def check_gguf(path: Path) -> None:
    """Refuse what is not a complete-looking GGUF file: missing, empty, wrong magic, unknown version."""
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist: check the path.")
    with path.open("rb") as fh:
        head = fh.read(24)
    if len(head) < 24:
        raise ModelLoadError(
            f"{path} is {path.stat().st_size} bytes, too short for a GGUF model: the file is truncated."
        )
    if head[:4] != GGUF_MAGIC:
        raise ModelLoadError(
            f"{path} is not a GGUF file (it starts with {head[:4]!r}): convert it with llama.cpp's "
            "convert_hf_to_gguf.py or download a .gguf file."
        )
    (version,) = struct.unpack("<I", head[4:8])
    if version not in (1, 2, 3):
        raise ModelLoadError(f"{path} has GGUF version {version}, which llama.cpp does not read.")


def package_file(spec: ModelSpec, src: PackageSource) -> Path:
    try:
        dist = importlib.metadata.distribution(src.package)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelLoadError(
            f"model '{spec.name}' comes from the package {src.package}, which is not installed: run `{src.install}`."
        ) from exc
    return Path(str(dist.locate_file(src.file)))


def pull_hint(spec: ModelSpec) -> str:
    """The command that downloads a url model, and its size where the catalog knows it."""
    known = spec.source.size if isinstance(spec.source, UrlSource) else None
    size = f" ({known / 1e9:.2f} GB)" if known else ""
    return f"run `ragq models pull {spec.name}`{size}"


def _assembled(settings: Settings, spec: ModelSpec, src: PackageSource, assemble: str) -> Path:
    path = settings.models_dir / src.file
    if not path.exists():
        package_file(spec, src)  # a clear error when the package is missing
        module, func = assemble.split(":")
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        try:
            getattr(importlib.import_module(module), func)(output_path=path)
        except (FileNotFoundError, ValueError, ImportError) as exc:
            path.unlink(missing_ok=True)
            raise ModelLoadError(f"could not assemble model '{spec.name}' ({exc}): run `{src.install}`.") from exc
    return path


def model_path(settings: Settings, spec: ModelSpec) -> Path:
    """Where the GGUF file is (assembling it into $RAGQ_HOME/models first if its package ships it in parts)."""
    src = spec.source
    if isinstance(src, PathSource):
        path = Path(src.path)
    elif isinstance(src, PackageSource):
        path = _assembled(settings, spec, src, src.assemble) if src.assemble else package_file(spec, src)
        if not path.exists():
            raise ModelLoadError(f"package {src.package} has no {src.file}: reinstall it with `{src.install}`.")
    elif isinstance(src, UrlSource):
        path = settings.models_dir / src.file
        if not path.exists():
            raise ModelLoadError(f"model '{spec.name}' is not downloaded: {pull_hint(spec)}.")
    else:
        path = settings.models_dir / src.file
        if not path.exists():
            raise ModelLoadError(
                f"model '{spec.name}' is a {src.type} variant of '{src.base}' and its file {path} is missing: "
                f"quantize '{src.base}' into it again."
            )
    check_gguf(path)
    return path


def file_sha256(settings: Settings, path: Path) -> str:
    return cached_sha256(path, settings.models_dir / "sha256-cache.json")


def file_status(settings: Settings, spec: ModelSpec) -> str:
    """The model's file path, or why it is missing and the command that fetches it."""
    src = spec.source
    try:
        if isinstance(src, PackageSource) and src.assemble and not (settings.models_dir / src.file).exists():
            package_file(spec, src)
            return "installed (assembled on first use)"
        return str(model_path(settings, spec))
    except ModelLoadError as exc:
        if spec.source.kind == "url":
            return f"not downloaded: {pull_hint(spec)}"
        return f"missing: {exc}"
