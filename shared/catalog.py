"""The model catalog: TOML entries shipped in `ragq.models`, plus the user's own in $RAGQ_HOME/models/catalog.

An entry names a GGUF file (a path, or a file inside an installed PyPI package), generation parameters,
and a completion template when the GGUF has no chat template.
"""

import importlib
import importlib.metadata
import json
import struct
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ragq.shared.config import Settings
from ragq.shared.errors import ModelLoadError, UnknownModelError, UsageError
from ragq.shared.rag.llm import GenParams, probe_load
from ragq.shared.registry import lookup

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    source: dict
    params: dict = field(default_factory=dict)
    prompt: dict = field(default_factory=dict)
    origin: str = "builtin"

    def gen_params(self, n_threads: int) -> GenParams:
        known = set(GenParams.__dataclass_fields__)
        return GenParams(**{k: v for k, v in self.params.items() if k in known}, n_threads=n_threads)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "params": self.params,
            "prompt": self.prompt,
            "origin": self.origin,
        }


def _parse(text: str, origin: str) -> ModelSpec:
    data = tomllib.loads(text)
    return ModelSpec(
        data["name"],
        data.get("description", ""),
        data["source"],
        data.get("params", {}),
        data.get("prompt", {}),
        origin,
    )


def user_catalog_dir(settings: Settings) -> Path:
    return settings.models_dir / "catalog"


def load_catalog(settings: Settings) -> dict[str, ModelSpec]:
    specs = {}
    for entry in sorted(resources.files("ragq.models").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            spec = _parse(entry.read_text(), "builtin")
            specs[spec.name] = spec
    user_dir = user_catalog_dir(settings)
    if user_dir.exists():
        for path in sorted(user_dir.glob("*.toml")):
            try:
                spec = _parse(path.read_text(), str(path))
            except (tomllib.TOMLDecodeError, KeyError) as exc:
                raise UsageError(f"{path} is not a valid catalog entry ({exc}): fix or delete it.") from exc
            specs[spec.name] = spec
    return specs


def get_model(settings: Settings, name: str) -> ModelSpec:
    return lookup(
        "model",
        name,
        load_catalog(settings),
        UnknownModelError,
        "Add your own with `ragq models add NAME --path FILE.gguf`.",
    )


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


def package_file(spec: ModelSpec) -> Path:
    src = spec.source
    try:
        dist = importlib.metadata.distribution(src["package"])
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelLoadError(
            f"model '{spec.name}' comes from the package {src['package']}, which is not "
            f"installed: run `{src['install']}`."
        ) from exc
    return Path(str(dist.locate_file(src["file"])))


def model_path(settings: Settings, spec: ModelSpec) -> Path:
    """Where the GGUF file is, assembling it into $RAGQ_HOME/models first if its package ships it in parts."""
    src = spec.source
    if "path" in src:
        path = Path(src["path"])
    elif "assemble" in src:
        path = settings.models_dir / src["file"]
        if not path.exists():
            package_file(spec)  # a clear error when the package is missing
            module, func = src["assemble"].split(":")
            settings.models_dir.mkdir(parents=True, exist_ok=True)
            try:
                getattr(importlib.import_module(module), func)(output_path=path)
            except (FileNotFoundError, ValueError, ImportError) as exc:
                path.unlink(missing_ok=True)
                raise ModelLoadError(
                    f"could not assemble model '{spec.name}' ({exc}): run `{src['install']}`."
                ) from exc
    else:
        path = package_file(spec)
        if not path.exists():
            raise ModelLoadError(
                f"package {src['package']} has no {src['file']}: reinstall it with `{src['install']}`."
            )
    check_gguf(path)
    return path


def add_model(settings: Settings, name: str, path: Path, params: dict, prompt: dict) -> ModelSpec:
    """Register a user's GGUF file under a name (written as a TOML entry; strings via JSON are valid TOML)."""
    if name in load_catalog(settings):
        raise UsageError(f"a model named '{name}' exists already: choose another name.")
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise UsageError(f"'{name}' is not a usable model name: use letters, digits, '-', '_' and '.'.")
    if params.get("max_tokens", 0) >= params.get("n_ctx", 2048):
        raise UsageError(
            f"max_tokens {params['max_tokens']} leaves no room for a prompt in n_ctx {params['n_ctx']}: "
            "lower --max-tokens or raise --n-ctx."
        )
    path = path.expanduser().resolve()
    check_gguf(path)
    probe_load(path)
    spec = ModelSpec(name, f"user model {path.name}", {"path": str(path)}, params, prompt, "user")
    lines = [
        f"name = {json.dumps(name)}",
        f"description = {json.dumps(spec.description)}",
        "",
        "[source]",
        f"path = {json.dumps(str(path))}",
        "",
        "[params]",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in params.items()]
    if prompt:
        lines += ["", "[prompt]"] + [f"{k} = {json.dumps(v)}" for k, v in prompt.items()]
    folder = user_catalog_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text("\n".join(lines) + "\n")
    return spec


def file_status(settings: Settings, spec: ModelSpec) -> str:
    """The model's file path, or why it is missing and the command that fetches it."""
    try:
        if "assemble" in spec.source and not (settings.models_dir / spec.source["file"]).exists():
            package_file(spec)
            return "installed (assembled on first use)"
        return str(model_path(settings, spec))
    except ModelLoadError as exc:
        return f"missing: {exc}"
