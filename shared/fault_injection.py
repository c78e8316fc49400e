"""Faults the fault tests inject (tests/faults): each hook does nothing unless RAGQ_FAULT_INJECT names it.

- `kill-on-question:SUBSTRING`: the worker dies (SIGKILL) as it starts a question containing SUBSTRING, as an OOM
  kill or a segfault would end it.
- `kill-after-publish:N`: the producer dies right after publishing its Nth message.
- `slow-tokens:SECONDS`: the worker waits SECONDS after each generated token, so that a test can act while a job
  is mid-answer (a lease taken away).
"""

import os
import signal
import time


def _injected(kind: str) -> str | None:
    name, _, arg = os.environ.get("RAGQ_FAULT_INJECT", "").partition(":")
    return arg if name == kind else None


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def on_question(question: str) -> None:
    arg = _injected("kill-on-question")
    if arg and arg in question:
        _die()


def after_publish(count: int) -> None:
    arg = _injected("kill-after-publish")
    if arg and count == int(arg):
        _die()


def after_token() -> None:
    arg = _injected("slow-tokens")
    if arg:
        time.sleep(float(arg))
