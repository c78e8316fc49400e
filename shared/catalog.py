"""The model catalog: TOML entries shipped in `ragq.models`, plus the user's own in $RAGQ_HOME/models/catalog.

Each file is read strictly into a `ModelSpec` (shared/spec.py): an unknown key is an error with a did-you-mean,
and `extends = "other"` inherits every setting of another entry and overrides some (`params` and `prompt`
key by key; `source` as a whole, since a variant usually names another file).
"""

import importlib
import importlib.metadata
import json
import struct
import tomllib
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ragq.shared import spec as specs
from ragq.shared.config import Settings
from ragq.shared.corpus.embedding import EMBEDDER_NAME
from ragq.shared.errors import ModelLoadError, UnknownModelError, UsageError
from ragq.shared.provenance import cached_sha256
from ragq.shared.registry import lookup, unknown_name_message
from ragq.shared.spec import ModelSpec

GGUF_MAGIC = b"GGUF"
TOP_KEYS = ("name", "description", "extends", "source", "params", "prompt")
SOURCE_KINDS = (specs.PackageSource, specs.PathSource, specs.UrlSource, specs.QuantizedSource)
SECTION_KEYS = {
    "source": sorted({key for kind in SOURCE_KINDS for key in kind.model_fields}),
    "params": list(specs.Params.model_fields),
    "prompt": list(specs.PromptSpec.model_fields),
}


def user_catalog_dir(settings: Settings) -> Path:
    return settings.models_dir / "catalog"


def _check_keys(raw: dict, origin: str) -> None:
    """Unknown keys, at the top or in a section, are refused with a did-you-mean."""
    for key, value in raw.items():
        if key not in TOP_KEYS:
            raise UsageError(f"{origin}: unknown key {unknown_name_message('key', key, TOP_KEYS)}")
        if key in SECTION_KEYS:
            if not isinstance(value, dict):
                raise UsageError(f"{origin}: `{key}` must be a table ([{key}]).")
            for sub in value:
                if sub not in SECTION_KEYS[key]:
                    raise UsageError(f"{origin}: under [{key}]: {unknown_name_message('key', sub, SECTION_KEYS[key])}")


def _read(text: str, origin: str) -> dict:
    try:
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{origin} is not valid TOML ({exc}): fix or delete it.") from exc
    if "name" not in raw:
        raise UsageError(f'{origin} has no `name`: add name = "...".')
    _check_keys(raw, origin)
    source = raw.get("source")
    if isinstance(source, dict) and "kind" not in source:  # entries written before kinds were explicit
        source["kind"] = "path" if "path" in source else "package"
    return {**raw, "origin": origin}


def _merge(parent: dict, child: dict) -> dict:
    merged = {**parent, **{k: v for k, v in child.items() if k not in ("params", "prompt")}}
    for section in ("params", "prompt"):
        merged[section] = {**parent.get(section, {}), **child.get(section, {})}
    return merged


def _resolve(name: str, raws: dict[str, dict], chain: tuple[str, ...] = ()) -> dict:
    raw = raws[name]
    parent = raw.get("extends")
    if parent is None:
        return raw
    if parent in chain or parent == name:
        raise UsageError(f"{raw['origin']}: `extends` makes a cycle ({' -> '.join((*chain, name, parent))}): break it.")
    if parent not in raws:
        raise UsageError(f"{raw['origin']}: extends {unknown_name_message('model', parent, raws)}")
    return _merge(_resolve(parent, raws, (*chain, name)), raw)


def _validate(data: dict, fix: str = "fix the catalog entry") -> ModelSpec:
    try:
        return ModelSpec.model_validate(data, strict=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        where = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else loc[0] if loc else "entry"
        if loc and loc[0] == "source" and len(loc) > 1 and loc[1] in ("package", "path", "url", "quantized"):
            where = f"[source] {'.'.join(loc[2:])}"  # pydantic puts the kind in the path
        message = error["msg"].removeprefix("Value error, ")
        raise UsageError(f"{data['origin']}: {where}: {message}: {fix}.") from None


def _raw_entries(settings: Settings) -> dict[str, dict]:
    raws = {}
    for entry in sorted(resources.files("ragq.models").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            raw = _read(entry.read_text(), f"models/{entry.name}")
            raws[raw["name"]] = raw
    user_dir = user_catalog_dir(settings)
    if user_dir.exists():
        for path in sorted(user_dir.glob("*.toml")):
            raw = _read(path.read_text(errors="replace"), str(path))
            raws[raw["name"]] = raw
    return raws


def load_catalog(settings: Settings) -> dict[str, ModelSpec]:
    raws = _raw_entries(settings)
    resolved = {}
    for name in raws:
        data = _resolve(name, raws) | {"extends": raws[name].get("extends"), "origin": raws[name]["origin"]}
        resolved[name] = _validate(data)
    return resolved


def get_model(settings: Settings, name: str) -> ModelSpec:
    return lookup(
        "model",
        name,
        load_catalog(settings),
        UnknownModelError,
        "Add your own with `ragq models add NAME --path FILE.gguf` or `ragq models pull --url URL --name NAME`.",
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
        dist = importlib.metadata.distribution(src.package)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelLoadError(
            f"model '{spec.name}' comes from the package {src.package}, which is not installed: run `{src.install}`."
        ) from exc
    return Path(str(dist.locate_file(src.file)))


def pull_hint(spec: ModelSpec) -> str:
    """The command that downloads a url model, and its size where the catalog knows it."""
    size = f" ({spec.source.size / 1e9:.2f} GB)" if spec.source.size else ""
    return f"run `ragq models pull {spec.name}`{size}"


def _assembled(settings: Settings, spec: ModelSpec) -> Path:
    src = spec.source
    path = settings.models_dir / src.file
    if not path.exists():
        package_file(spec)  # a clear error when the package is missing
        module, func = src.assemble.split(":")
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
    if src.kind == "path":
        path = Path(src.path)
    elif src.kind == "package":
        path = _assembled(settings, spec) if src.assemble else package_file(spec)
        if not path.exists():
            raise ModelLoadError(f"package {src.package} has no {src.file}: reinstall it with `{src.install}`.")
    elif src.kind == "url":
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


def resolve_identity(settings: Settings, spec: ModelSpec, prompt_kind: str) -> tuple[dict, str]:
    """The spec's identity for one prompt kind, and its digest (the file's sha256 is cached by path, size, mtime)."""
    check_prompt_kind(spec, prompt_kind)
    ident = specs.identity(spec, file_sha256(settings, model_path(settings, spec)), prompt_kind, EMBEDDER_NAME)
    return ident, specs.digest(ident)


def check_prompt_kind(spec: ModelSpec, kind: str) -> None:
    lookup("prompt kind", kind, dict.fromkeys(specs.PROMPT_KINDS), UsageError)
    if kind == "study" and spec.prompt.study is None:
        raise UsageError(
            f"model '{spec.name}' has no study prompt layout (--prompt study is the study's own layout for "
            'mistral and tinyllama): use --prompt chat, or add `study = "..."` under [prompt] of its entry.'
        )


def _toml_section(name: str, values: dict) -> list[str]:
    # JSON strings, numbers, booleans and lists of strings are valid TOML values
    return ["", f"[{name}]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items() if v is not None]


def check_new_name(settings: Settings, name: str) -> None:
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise UsageError(f"'{name}' is not a usable model name: use letters, digits, '-', '_' and '.'.")
    if name in load_catalog(settings):
        raise UsageError(f"a model named '{name}' exists already: choose another name.")


def write_entry(settings: Settings, data: dict) -> Path:
    """Write a user catalog entry (validated first) atomically; returns its path."""
    name = data["name"]
    check_new_name(settings, name)
    folder = user_catalog_dir(settings)
    _validate({**data, "origin": str(folder / f"{name}.toml")})
    lines = [f"{k} = {json.dumps(data[k])}" for k in ("name", "description", "extends") if data.get(k)]
    for section in ("source", "params", "prompt"):
        if data.get(section):
            lines += _toml_section(section, data[section])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def add_model(settings: Settings, name: str, path: Path, params: dict, prompt: dict) -> ModelSpec:
    """Register a user's GGUF file under a name, once llama.cpp has loaded it and its prompt renders."""
    from ragq.shared.rag.llm import probe_load

    check_new_name(settings, name)
    path = path.expanduser().resolve()
    data = {"name": name, "description": f"user model {path.name}", "source": {"kind": "path", "path": str(path)}}
    data |= {"params": params, "prompt": prompt}
    candidate = _validate({**data, "origin": f"ragq models add {name}"}, fix="change the option")
    check_gguf(path)
    probe_load(path, candidate.prompt)
    write_entry(settings, data)
    return get_model(settings, name)


def file_status(settings: Settings, spec: ModelSpec) -> str:
    """The model's file path, or why it is missing and the command that fetches it."""
    try:
        if spec.source.kind == "package" and spec.source.assemble:
            if not (settings.models_dir / spec.source.file).exists():
                package_file(spec)
                return "installed (assembled on first use)"
        return str(model_path(settings, spec))
    except ModelLoadError as exc:
        if spec.source.kind == "url":
            return f"not downloaded: {pull_hint(spec)}"
        return f"missing: {exc}"


def as_dict(spec: BaseModel) -> dict:
    return spec.model_dump(mode="json")
