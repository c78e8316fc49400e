"""One strict reader for what users write in TOML (catalog entries, config.toml), and one error format for it.

Every problem reads "ORIGIN: WHERE: WHAT: FIX." in one line, whether the file is not TOML, a key is unknown (with a
did-you-mean) or a value has the wrong type or range: the typed model (pydantic, `extra="forbid"`) is the only
validator; this module only turns its first error into that line.
"""

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, get_args

from pydantic import BaseModel, ValidationError

from ragq.shared.errors import UsageError
from ragq.shared.registry import unknown_name_message

M = TypeVar("M", bound=BaseModel)


def problem(origin: str, where: str, what: str, fix: str) -> UsageError:
    """The one format: 'ORIGIN: WHERE: WHAT: FIX.'"""
    parts = [origin, where, what.rstrip("."), fix.rstrip(".")]
    return UsageError(": ".join(p for p in parts if p) + ".")


def read(text: str, origin: str) -> dict:
    """Parse TOML text; a file that is not TOML is one line naming it."""
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise problem(origin, "", f"not valid TOML ({exc})", "fix or delete it") from exc


def read_file(path: Path) -> dict:
    return read(path.read_text(errors="replace"), str(path))


def validate(
    model: type[M],
    data: dict,
    origin: str,
    fix: str,
    where: Callable[[tuple], str],
    noun: str = "key",
    strict: bool = True,
) -> M:
    """`model.model_validate(data)`, its first error as one line: an unknown key with a did-you-mean among the
    keys allowed at that place, any other error with pydantic's message. `where(loc)` names a place ('' the top)."""
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        # an unknown key first: a misspelt key is usually why another one is missing
        error = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":  # the place is the table that holds the unknown key
            container = where(loc[:-1])
            place = f"under {container}" if container else "unknown key"
            message = unknown_name_message(noun, str(loc[-1]), _fields_at(model, loc[:-1]))
        else:
            place, message = where(loc), error["msg"].removeprefix("Value error, ")
        raise problem(origin, place, message, fix) from None


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a model accepts at `loc` (a path of field names, through nested models and tagged unions)."""
    current: object = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields and part in fields:
            current = fields[part].annotation
            continue
        # a tagged union puts its tag in the path: pick the member whose literal tag matches
        for member in _members(current):
            tag = member.model_fields.get("kind")
            if tag is not None and part in getattr(tag.annotation, "__args__", ()):
                current = member
                break
    return list(getattr(current, "model_fields", {}))


def _members(annotation) -> list[type[BaseModel]]:
    found = []
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found.append(arg)
        else:
            found += _members(arg)
    return found
