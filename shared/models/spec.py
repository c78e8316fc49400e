"""A model's settings, typed: where its file comes from, how it is loaded and sampled, how its prompt is laid out.

Defaults live here and nowhere else. They are the study's: LangChain's `LlamaCpp` as the study called it
(temperature 0.01, top_p 1) on top of LangChain's own defaults (top_k 40, repeat_penalty 1.1 over the last 64
tokens) and llama-cpp-python's (min_p 0.05, typical_p 1, no presence/frequency penalty, no mirostat).
Named departures, each selectable in a catalog entry: n_batch 512 (LangChain's default was 8: same tokens,
faster prompt evaluation), a fixed seed 42 (LangChain's -1 draws a new one per call), and n_gpu_layers "auto"
(the study passed none, so llama.cpp's 0 ran it on the CPU even on its Metal build; `n_gpu_layers = 0` in a
catalog entry, or `--gpu-layers 0`, selects the study's).

Every value of a spec is checked here and only here, whether it comes from a catalog file, `ragq models add` or
a variant `ragq models quantize` writes (`validate`). Identity (digest, run key) is in identity.py beside this.
"""

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ragq.shared import strict_toml
from ragq.shared.models.placement import GpuLayers

SYSTEM_TEXT = (
    "You are a friendly chatbot who always responds in a precise manner. If answer is unknown to you, "
    "you will politely say so. Use the following context to answer the question below:"
)
PROMPT_KINDS = ("chat", "study")
SCORER_NAME = "sentence-transformers/all-MiniLM-L6-v2 cos_sim"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PackageSource(Strict):
    """A GGUF shipped inside a PyPI package (optionally in parts that `assemble` joins into $RAGQ_HOME/models)."""

    kind: Literal["package"]
    package: str
    file: str
    install: str
    assemble: str | None = None


class PathSource(Strict):
    """A GGUF the user already has."""

    kind: Literal["path"]
    path: str


class UrlSource(Strict):
    """A GGUF that `ragq models pull` downloads into $RAGQ_HOME/models; size and sha256 verified when known."""

    kind: Literal["url"]
    url: str
    file: str
    size: int | None = None
    sha256: str | None = None


class QuantizedSource(Strict):
    """A variant quantized from another catalog entry's file into $RAGQ_HOME/models."""

    kind: Literal["quantized"]
    base: str
    type: str
    file: str
    base_sha256: str | None = None  # the base file it was made from
    requantized: bool = False  # the base was already quantized: both roundings' errors add up


Source = Annotated[PackageSource | PathSource | UrlSource | QuantizedSource, Field(discriminator="kind")]


class Params(Strict):
    """Everything passed to llama.cpp: load settings, then sampling (create_completion's arguments)."""

    n_ctx: int = Field(2048, ge=128)
    n_batch: int = Field(512, ge=1)
    # layers on the accelerator; "auto": all of them where the llama.cpp build offloads (Metal, CUDA), else 0
    n_gpu_layers: GpuLayers = "auto"
    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.01, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(40, ge=0)
    min_p: float = Field(0.05, ge=0, le=1)
    typical_p: float = Field(1.0, gt=0, le=1)
    repeat_penalty: float = Field(1.1, gt=0)
    penalty_last_n: int = Field(64, ge=0)  # llama-cpp-python's last_n_tokens_size, a load setting there
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    mirostat_mode: Literal[0, 1, 2] = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    seed: int = 42

    @model_validator(mode="after")
    def _room_for_a_prompt(self):
        if self.max_tokens >= self.n_ctx:
            raise ValueError(
                f"max_tokens {self.max_tokens} leaves no room for a prompt in n_ctx {self.n_ctx}: "
                "lower max_tokens or raise n_ctx"
            )
        return self

    def sampling(self) -> dict:
        """create_completion's keyword arguments."""
        keys: tuple[str, ...] = ("max_tokens", "temperature", "top_p", "top_k", "min_p", "typical_p", "repeat_penalty")
        keys += ("presence_penalty", "frequency_penalty", "mirostat_mode", "mirostat_tau", "mirostat_eta", "seed")
        return {k: getattr(self, k) for k in keys}

    def load(self) -> dict:
        """Llama()'s keyword arguments (threads are the worker's, added there)."""
        return {
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "n_gpu_layers": self.n_gpu_layers,
            "last_n_tokens_size": self.penalty_last_n,
            "seed": self.seed,
        }


class PromptSpec(Strict):
    """How a prompt is laid out. `--prompt chat`: `template` when set, else the GGUF's chat template.
    `--prompt study`: `study`, the study's hand-written layout. Templates take {system}, {context}, {question}."""

    system: str = SYSTEM_TEXT
    template: str | None = None
    study: str | None = None
    stop: list[str] = []
    collapse_whitespace: bool = False


class ModelSpec(Strict):
    name: str
    description: str = ""
    extends: str | None = None  # the parent entry, already merged in
    source: Source
    params: Params = Params()
    prompt: PromptSpec = PromptSpec()
    origin: str = Field("builtin", exclude=True)  # the file it was read from


SOURCE_KINDS = ("package", "path", "url", "quantized")


def catalog_place(loc: tuple) -> str:
    """Where in a catalog entry a value sits: '[params] top_k', '[source] path' (pydantic puts a source's kind in
    its path), 'name'; '' for the entry itself."""
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] == "source" and parts[1] in SOURCE_KINDS:
        del parts[1]
    if parts and parts[0] in ("source", "params", "prompt"):
        return f"[{parts[0]}] {'.'.join(parts[1:])}".strip()
    return ".".join(parts)


def validate(data: dict, origin: str, fix: str = "fix the catalog entry", place: Callable = catalog_place) -> ModelSpec:
    """The one validator of a model's settings: the first problem as one line naming where it is and the fix."""
    return strict_toml.validate(ModelSpec, data, origin, fix, place)
