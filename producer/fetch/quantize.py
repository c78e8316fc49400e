"""`ragq models quantize NAME --to Q2_K --to Q8_0`: variants of a catalog model made by llama.cpp's own quantizer
(`llama_model_quantize`), each registered as a catalog entry `NAME-q2_k` that inherits NAME's prompt and sampling.

A variant's provenance lives in its entry's [source]: the base entry, the type, the base file's sha256, and whether
the base was already quantized (then llama.cpp must `allow_requantize`, and the errors of both roundings add up: the
entry says so). The file is written to `.part` and renamed into $RAGQ_HOME/models only once llama.cpp succeeded.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ragq.shared.config import Settings
from ragq.shared.errors import ModelLoadError, UsageError
from ragq.shared.models import catalog, files
from ragq.shared.registry import unknown_name_message

# the types llama.cpp quantizes to without an importance matrix (the IQ types need one)
TYPES = (
    "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M",
    "Q5_0", "Q5_1", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "F16", "BF16",
)  # fmt: skip
UNQUANTIZED_FILE_TYPES = {0, 1, 32}  # general.file_type: all F32, mostly F16, mostly BF16


@dataclass(frozen=True)
class Variant:
    name: str
    type: str
    path: Path
    size: int
    seconds: float
    requantized: bool
    created: bool  # False: the variant existed already


def check_types(types: list[str]) -> list[str]:
    """Type names, upper-cased and checked: an unknown one gets the list of valid ones."""
    wanted = [t.upper() for t in types]
    for t in wanted:
        if t not in TYPES:
            raise UsageError(f"{unknown_name_message('quantization type', t, dict.fromkeys(TYPES))}")
    if not wanted:
        raise UsageError(f"give at least one --to TYPE: one of {', '.join(TYPES)}.")
    return list(dict.fromkeys(wanted))


def variant_name(base: str, qtype: str) -> str:
    return f"{base}-{qtype.lower()}"


def is_quantized(metadata: dict) -> bool:
    return int(metadata.get("general.file_type", 0)) not in UNQUANTIZED_FILE_TYPES


def quantize_file(source: Path, target: Path, qtype: str, requantize: bool, threads: int) -> None:
    """llama.cpp's quantizer, into `target.part`, renamed into place on success."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype}")
    params.allow_requantize = requantize
    params.nthread = threads
    part = target.with_name(target.name + ".part")
    with suppress_stdout_stderr(disable=False):  # llama.cpp prints a line per tensor
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(part).encode(), params)
    if status != 0 or not part.exists():
        part.unlink(missing_ok=True)
        raise ModelLoadError(f"llama.cpp could not quantize {source} to {qtype} (status {status}).")
    os.replace(part, target)


def quantize(
    settings: Settings, base: str, types: list[str], threads: int, progress: Callable[[str], None] = lambda line: None
) -> list[Variant]:
    from ragq.shared.rag.loader import gguf_metadata

    wanted = check_types(types)
    spec = catalog.get_model(settings, base)
    source = files.model_path(settings, spec)
    requantize = is_quantized(gguf_metadata(source))
    source_sha = files.file_sha256(settings, source)
    existing = catalog.load_catalog(settings)
    variants = []
    for qtype in wanted:
        name = variant_name(base, qtype)
        target = settings.models_dir / f"{name}.gguf"
        if name in existing and target.exists():
            variants.append(Variant(name, qtype, target, target.stat().st_size, 0.0, requantize, False))
            progress(f"{name}: exists ({target.stat().st_size / 1e6:.1f} MB)")
            continue
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        quantize_file(source, target, qtype, requantize, threads)
        seconds = time.perf_counter() - start
        if name not in existing:
            catalog.write_entry(settings, entry(base, name, qtype, target, source_sha, requantize))
        variants.append(Variant(name, qtype, target, target.stat().st_size, seconds, requantize, True))
        note = ", requantized from an already quantized file" if requantize else ""
        progress(f"{name}: {qtype}, {target.stat().st_size / 1e6:.1f} MB in {seconds:.1f} s{note}")
    return variants


def entry(base: str, name: str, qtype: str, target: Path, source_sha: str, requantize: bool) -> dict:
    why = " (requantized from an already quantized file: the rounding errors of both add up)" if requantize else ""
    return {
        "name": name,
        "description": f"{base} quantized to {qtype} by llama.cpp{why}",
        "extends": base,
        "source": {
            "kind": "quantized",
            "base": base,
            "type": qtype,
            "file": target.name,
            "base_sha256": source_sha,
            "requantized": requantize,
        },
    }
