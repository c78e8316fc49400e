"""The model catalog: TOML entries shipped in `ragq.models`, plus the user's own in $RAGQ_HOME/models/catalog.

Each file is read by the strict TOML reader and validated by `spec.validate` alone: an unknown key is an error
with a did-you-mean, a bad value names its place. `extends = "other"` inherits every setting of another entry and
overrides some (`params` and `prompt` key by key; `source` as a whole, since a variant usually names another file).
"""

import json
from importlib import resources
from pathlib import Path

from ragq.shared import strict_toml
from ragq.shared.config import Settings
from ragq.shared.errors import UnknownModelError, UsageError
from ragq.shared.models.spec import ModelSpec, validate
from ragq.shared.registry import lookup, unknown_name_message


def user_catalog_dir(settings: Settings) -> Path:
    return settings.models_dir / "catalog"


def _read(text: str, origin: str) -> dict:
    raw = strict_toml.read(text, origin)
    if "name" not in raw:  # entries are found by name before they are validated
        raise strict_toml.problem(origin, "", "no `name`", 'add name = "..."')
    for key in ("name", "extends"):  # both are looked up before the entry is validated: text, or nothing to find
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            raise strict_toml.problem(origin, key, f"{key} = {raw[key]!r} is not a model name", f'write {key} = "..."')
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


def _depth(name: str, raws: dict[str, dict]) -> int:
    """How many parents an entry has (cycles and unknown parents are refused by `_resolve`)."""
    seen, parent = 0, raws.get(name, {}).get("extends")
    while parent is not None and seen <= len(raws):
        seen, parent = seen + 1, raws.get(parent, {}).get("extends")
    return seen


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
    """Every entry, validated parents first, so that a parent's mistake is reported with the parent's file."""
    raws = _raw_entries(settings)
    resolved = {}
    for name in sorted(raws, key=lambda n: _depth(n, raws)):
        data = _resolve(name, raws) | {"extends": raws[name].get("extends"), "origin": raws[name]["origin"]}
        resolved[name] = validate(data, data["origin"])
    return {name: resolved[name] for name in raws}


def get_model(settings: Settings, name: str) -> ModelSpec:
    return lookup(
        "model",
        name,
        load_catalog(settings),
        UnknownModelError,
        "Add your own with `ragq models add NAME --path FILE.gguf` or `ragq models pull --url URL --name NAME`.",
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
    validate({**data, "origin": str(folder / f"{name}.toml")}, str(folder / f"{name}.toml"))
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


def as_dict(spec: ModelSpec) -> dict:
    return spec.model_dump(mode="json")
