"""Lookup by name with did-you-mean errors, shared by every registry (models, fusion modes...)."""

import difflib
from collections.abc import Iterable

from ragq.shared.errors import RagqError, UnknownNameError


def unknown_name_message(kind: str, name: str, known: Iterable[str], fix: str = "") -> str:
    """ "'mistrel' is not a known model. Did you mean 'mistral'? Known: a, b." plus an optional fix."""
    known = sorted(known)
    message = f"'{name}' is not a known {kind}."
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        message += f" Did you mean '{close[0]}'?"
    message += f" Known: {', '.join(known)}." if known else " There are none yet."
    return f"{message} {fix}".rstrip()


def lookup(kind: str, name: str, table: dict, error: type[RagqError] = UnknownNameError, fix: str = ""):
    """Return table[name] or raise `error` with a did-you-mean message."""
    if name in table:
        return table[name]
    raise error(unknown_name_message(kind, name, table, fix))
