"""Where and how a model runs on this host: llama.cpp's threads and the layers it offloads to an accelerator.

A placement changes how fast an answer comes, never what it says, so it stays out of the spec digest
(conventions 15) and is recorded on every result instead. Its values are checked here, by `Placement`, whichever
command they come from, and "auto" is resolved in `resolve_gpu_layers` alone, which the worker and the bench call.

Each function takes the platform facts it reads as arguments with real defaults, so that every branch (Linux, an
Apple Silicon Mac, an Intel Mac, CUDA) is unit-tested here, where only Linux runs.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragq.shared.errors import UsageError
from ragq.shared.hardware import default_threads

# layers on the accelerator: N, -1 (all) or "auto" (all where the llama.cpp build offloads, else 0)
GpuLayers = Annotated[int, Field(ge=-1)] | Literal["auto"]


class Placement(BaseModel):
    """One worker's placement: generation threads, prompt-evaluation (batch) threads, layers on the accelerator
    (None: the catalog entry's `n_gpu_layers`) and flash attention."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_threads: int = Field(ge=1)
    n_threads_batch: int | None = Field(None, ge=1)  # not given: as many as n_threads
    n_gpu_layers: GpuLayers | None = None
    flash_attn: bool = False

    @model_validator(mode="before")
    @classmethod
    def _batch_threads_given(cls, data):
        """One placement, one value: 2 generation threads and "as many for prompts" equal 2 and 2."""
        if isinstance(data, dict) and data.get("n_threads_batch") is None and "n_threads" in data:
            data = {**data, "n_threads_batch": data["n_threads"]}
        return data

    @property
    def batch_threads(self) -> int:
        return self.n_threads_batch or self.n_threads

    def as_options(self) -> "PlacementOptions":
        """This placement, whole, as options that fix every value (a placement saved by `ragq models tune` on the
        worker's host does not apply: the caller has chosen)."""
        return PlacementOptions(
            threads=self.n_threads,
            threads_batch=self.batch_threads,
            gpu_layers=self.n_gpu_layers,
            flash_attn=self.flash_attn,
            tuned=False,
        )

    def load_args(self, catalog_gpu_layers: int | str, supports_offload: bool) -> dict:
        """Llama()'s placement arguments, "auto" resolved for this build."""
        return {
            "n_threads": self.n_threads,
            "n_threads_batch": self.batch_threads,
            "n_gpu_layers": resolve_gpu_layers(self.requested_gpu_layers(catalog_gpu_layers), supports_offload),
            "flash_attn": self.flash_attn,
        }

    def requested_gpu_layers(self, catalog_gpu_layers: int | str) -> int | str:
        return catalog_gpu_layers if self.n_gpu_layers is None else self.n_gpu_layers

    def label(self) -> str:
        """Short and stable, for tables and run labels: 't1/b2', 't4/b8 gpu-1 fa'."""
        gpu = f" gpu{self.n_gpu_layers}" if self.n_gpu_layers is not None else ""
        return f"t{self.n_threads}/b{self.batch_threads}{gpu}" + (" fa" if self.flash_attn else "")

    def threads_label(self) -> str:
        """The label without GPU layers (results show the layers offloaded beside it): 't1/b2', 't4/b8 fa'."""
        return f"t{self.n_threads}/b{self.batch_threads}" + (" fa" if self.flash_attn else "")


class PlacementOptions(BaseModel):
    """What a command line asked for (None: not given), checked when it is made: `placement_options`
    (shared/cli.py) makes it from the options of every command that starts or loads a model, once per process.
    `argv` writes it back as those options, for a worker started as a process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int | None = Field(None, ge=1)
    threads_batch: int | None = Field(None, ge=1)
    gpu_layers: GpuLayers | None = None
    flash_attn: bool | None = None
    tuned: bool = True  # start from the placement `ragq models tune` saved on this host

    @classmethod
    def parse(cls, **typed) -> "PlacementOptions":
        """Options as typed (`gpu_layers` as text), or one line naming the option that is wrong."""
        checked = {**typed}
        if isinstance(typed.get("gpu_layers"), str):
            checked["gpu_layers"] = layers_from_text(typed["gpu_layers"])
        try:
            return cls(**checked)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0])
            if field == "gpu_layers":
                raise UsageError(
                    f"--gpu-layers {str(typed[field])!r}: give a number of layers (-1 for all, 0 for the CPU) or 'auto'."
                ) from None
            raise UsageError(f"--{field.replace('_', '-')} {typed[field]}: give 1 or more threads.") from None

    def whole(self) -> "Placement | None":
        """The placement these options fix completely, or None: every thread count and flash attention given, and
        nothing to take from a saved placement (--no-tuned): what `Placement.as_options` writes for a worker process
        whose placement the caller chose."""
        threads, batch, flash = self.threads, self.threads_batch, self.flash_attn
        if self.tuned or threads is None or batch is None or flash is None:
            return None
        return Placement(n_threads=threads, n_threads_batch=batch, n_gpu_layers=self.gpu_layers, flash_attn=flash)

    def given(self) -> bool:
        return any(v is not None for v in (self.threads, self.threads_batch, self.gpu_layers, self.flash_attn))

    def over(self, base: Placement) -> Placement:
        """`base` with what was asked for instead (already checked). `--threads` alone sets both thread counts."""
        changes: dict = {}
        if self.threads is not None:
            changes |= {"n_threads": self.threads, "n_threads_batch": self.threads_batch or self.threads}
        elif self.threads_batch is not None:
            changes["n_threads_batch"] = self.threads_batch
        if self.gpu_layers is not None:
            changes["n_gpu_layers"] = self.gpu_layers
        if self.flash_attn is not None:
            changes["flash_attn"] = self.flash_attn
        return base.model_copy(update=changes)

    def argv(self) -> list[str]:
        """These options as a command line (`python -m ragq.worker`, `ragq worker`): what was given, nothing else."""
        args = [
            a
            for name in ("threads", "threads_batch", "gpu_layers")
            if (v := getattr(self, name)) is not None
            for a in (f"--{name.replace('_', '-')}", str(v))
        ]
        args += [] if self.flash_attn is None else ["--flash-attn" if self.flash_attn else "--no-flash-attn"]
        return args + ([] if self.tuned else ["--no-tuned"])


def choose(
    asked: PlacementOptions | Placement, saved: tuple[Placement, str] | None, parallel: int = 1
) -> tuple[Placement, str]:
    """The placement a worker runs with, and why: a whole placement as given (`ragq models tune` measuring one), or
    what the command asked for over the one measured on this host (`ragq models tune`, used when the worker has the
    machine to itself and the options allow it) over this machine's default."""
    if isinstance(asked, Placement):
        return asked, "as given"
    if (whole := asked.whole()) is not None:  # chosen by the caller (`ragq run`), passed whole: not chosen again
        return whole, "as given"
    if saved is not None and parallel == 1 and asked.tuned:
        base, why = saved[0], f"tuned {saved[1][:10]}".strip()
    else:
        base, why = default_placement(parallel)
    return asked.over(base), ("options over " + why if asked.given() else why)


def default_placement(parallel: int = 1, cores: tuple[int, str] | None = None) -> tuple[Placement, str]:
    """This machine's placement when none was measured (`ragq models tune`), and why: this worker's share of the
    cores (all of them when it runs alone) for prompt evaluation and for generation alike.

    Prompt evaluation is compute-bound and uses every core it is given. Generation is bound by memory bandwidth
    and by a barrier its threads meet once per token, so a thread that waits for a core stalls every token; on
    some machines one thread fewer generates faster. Measured on this project's 2-core machines (bench/RESULTS.md,
    tune): both cores for both was the fastest for SmolLM2 and Gemma 3 270M, one generation thread 1.08x and 1.01x
    slower per typical answer. On many-core x86 the same rule holds until memory bandwidth saturates; on Apple
    Silicon the cores are the performance cores (efficiency cores slow every barrier to their pace); with every
    layer on a GPU the threads matter little. `ragq models tune` measures the split for a model on its host.
    """
    count, why = cores or default_threads()
    each = max(1, count // max(1, parallel))
    reason = f"{why} / {parallel} workers" if parallel > 1 else why
    return Placement(n_threads=each, n_threads_batch=each), reason


def layers_from_text(value: str | int) -> int | str:
    """A layer count as typed ("12", "-1", "auto") in the type it is checked as; the check is the model's."""
    return int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else value


def resolve_gpu_layers(value: int | str, supports_offload: bool) -> int:
    """ "auto": every layer where this llama.cpp build can offload (Metal, CUDA, ...), none on a CPU-only build."""
    if value == "auto":
        return -1 if supports_offload else 0
    return int(value)


def backend(system_info: str, supports_offload: bool) -> str:
    """The accelerator a llama.cpp build runs on, from llama_print_system_info()."""
    if supports_offload:
        for name in ("CUDA", "Metal", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL"):
            if f"{name} :" in system_info or f"{name}:" in system_info:
                return name
        return "GPU"
    return "CPU"


def offload(requested: int, layers: int, supports_offload: bool) -> int:
    """Layers llama.cpp puts on the accelerator: -1 means all (its repeating layers plus the output layer)."""
    if not supports_offload:
        return 0
    total = layers + 1
    return total if requested < 0 else min(requested, total)
