"""What makes two runs the same work: a spec's identity, its digest, and a run's key, each computed here only.

The identity holds everything that can change an answer: the file's sha256, every llama.cpp parameter, the prompt
layout and kind, the embedder and the scorer. Not the name, the description or the source (the same file reached
another way is the same model; its chat template is inside the file, covered by the sha256), and not the
placement (placement.py: threads and GPU layers change the seconds, not the words).
"""

import hashlib
import json
from dataclasses import dataclass

from ragq.shared.config import Settings
from ragq.shared.corpus.embedding import EMBEDDER_NAME
from ragq.shared.errors import UsageError
from ragq.shared.models import files
from ragq.shared.models.spec import PROMPT_KINDS, SCORER_NAME, ModelSpec
from ragq.shared.records import RunSettings
from ragq.shared.registry import lookup


@dataclass(frozen=True)
class SpecIdentity:
    """The model side of a run: its spec's identity, the digest of it, and the prompt kind it was made for."""

    identity: dict
    digest: str
    prompt_kind: str


def identity(spec: ModelSpec, file_sha256: str, prompt_kind: str) -> SpecIdentity:
    """The one function that says which settings a model answers with (producer and worker both call it)."""
    ident = {
        "file_sha256": file_sha256,
        "params": spec.params.model_dump(),
        "prompt": spec.prompt.model_dump(),
        "prompt_kind": prompt_kind,
        "embedder": EMBEDDER_NAME,
        "scorer": SCORER_NAME,
    }
    return SpecIdentity(ident, digest(ident), prompt_kind)


def digest(ident: dict) -> str:
    """A stable hash: the same settings in any key order give the same digest."""
    return hashlib.sha256(json.dumps(ident, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def resolve(settings: Settings, spec: ModelSpec, prompt_kind: str) -> SpecIdentity:
    """The spec's identity for one prompt kind, its file found and hashed (the sha256 is cached by path, size,
    mtime)."""
    check_prompt_kind(spec, prompt_kind)
    return identity(spec, files.file_sha256(settings, files.model_path(settings, spec)), prompt_kind)


def check_prompt_kind(spec: ModelSpec, kind: str) -> None:
    lookup("prompt kind", kind, dict.fromkeys(PROMPT_KINDS), UsageError)
    if kind == "study" and spec.prompt.study is None:
        raise UsageError(
            f"model '{spec.name}' has no study prompt layout (--prompt study is the study's own layout for "
            'mistral and tinyllama): use --prompt chat, or add `study = "..."` under [prompt] of its entry.'
        )


@dataclass(frozen=True, kw_only=True)
class RunWork:
    """Everything that makes a run one piece of work: which model with which settings (the spec, its prompt kind),
    over what (index, questions) at which ratio, and the run's settings (shared/records.py `RunSettings`), whole."""

    model: str
    spec: SpecIdentity
    index: str
    questions: str
    ratio: float
    settings: RunSettings = RunSettings()

    def key(self) -> str:
        """The run's key. The spec digest covers every setting of the model that can change an answer; the key's
        form is the one every stored run was planned under, so the same work still finds its run."""
        cfg, settings = self.settings.retrieval, self.settings
        fusion = cfg.fusion if cfg.fusion == "seed" else f"{cfg.fusion}/k{cfg.k}/n{cfg.candidates}/c{cfg.c}"
        kv = "kv-reuse" if settings.kv_reuse else "kv-reset"
        parts = [f"{self.model}#{self.spec.digest[:16]}", self.index, self.questions, fusion, f"{self.ratio:g}"]
        return "|".join([*parts, f"x{settings.repeat}", kv, self.spec.prompt_kind])


def flatten(data: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _show(value) -> str:
    if value is None:
        return "unset"
    text = json.dumps(value) if not isinstance(value, int | float) else f"{value:g}"
    return text if len(text) <= 24 else text[:12] + "..."


def changes(old: dict, new: dict) -> list[str]:
    """'params.top_k unset -> 40' for every identity field that differs (old may be an older, shorter spec)."""
    before, after = flatten(old), flatten(new)
    lines = []
    for key in sorted(after):
        if before.get(key) != after[key]:
            lines.append(f"{key.removeprefix('params.')} {_show(before.get(key))} -> {_show(after[key])}")
    return lines
