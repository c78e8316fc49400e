"""Fault injection for the fault tests (tests/faults): a process kills itself at a named point.

Off unless RAGQ_FAULT_INJECT is set, e.g. `kill-on-question:SUBSTRING` (the worker dies with SIGKILL
when it starts generating for a question containing SUBSTRING) or `kill-after-publish:N` (the
producer dies after publishing N messages). Real failures (OOM kills, segfaults) look the same.
"""

import os
import signal


def _spec(kind: str) -> str | None:
    name, _, arg = os.environ.get("RAGQ_FAULT_INJECT", "").partition(":")
    return arg if name == kind else None


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def on_question(question: str) -> None:
    arg = _spec("kill-on-question")
    if arg and arg in question:
        _die()


def after_publish(count: int) -> None:
    arg = _spec("kill-after-publish")
    if arg and count == int(arg):
        _die()
