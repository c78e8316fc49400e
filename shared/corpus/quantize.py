"""The int8 embedder: ragq's own fp32 ONNX export of all-MiniLM-L6-v2, its weights quantized to int8 by ONNX Runtime's
dynamic quantization (activations quantized per batch at run time), made once per home beside the fp32 file.

The plan depends on the CPU, as ONNX Runtime's quantization guide says: on x86 without VNNI the AVX2 kernels multiply
u8 activations by s8 weights with an instruction (VPMADDUBSW) whose 16-bit sums can saturate, so weights are cut to
7 bits (`reduce_range`); with VNNI (AVX512_VNNI, AVX_VNNI) and on ARM64 (sdot/udot) nothing saturates and the full
8 bits are kept. Both are int8; the variant's name is "int8" wherever the CPU built it, and the plan is recorded in
the index's manifest. How close the vectors come to fp32 is measured (bench/int8.py), not assumed.
"""

import logging
import os
import platform
import tempfile
from pathlib import Path

VARIANTS = ("int8", "fp32")
VNNI_FLAGS = {"avx512_vnni", "avx_vnni", "avx512vnni", "avxvnni"}


def plan(flags: set[str], machine: str = platform.machine()) -> dict:
    """How to quantize on this CPU: full 8-bit weights where the int8 kernels cannot saturate, 7-bit elsewhere."""
    arm = machine.lower() in ("arm64", "aarch64")
    vnni = bool(flags & VNNI_FLAGS)
    reduce_range = not (arm or vnni)
    why = "ARM64 (sdot)" if arm else "VNNI" if vnni else "x86 without VNNI (7-bit weights against saturation)"
    return {"weights": "s8", "activations": "u8", "per_channel": True, "reduce_range": reduce_range, "cpu": why}


def file_name(fp32_path: Path, quant: dict) -> str:
    return f"{fp32_path.stem}.int8{'-r7' if quant['reduce_range'] else ''}.onnx"


def ensure_int8(fp32_path: Path, quant: dict) -> Path:
    """The quantized model beside the fp32 export, made once (a temporary file renamed into place, as the export)."""
    target = fp32_path.parent / file_name(fp32_path, quant)
    if target.exists():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp = tempfile.mkstemp(dir=fp32_path.parent, prefix=".int8-", suffix=".onnx")
    os.close(fd)
    root = logging.getLogger()  # where it advises pre-processing (measured here: no faster), quieted for the call
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(fp32_path),
            tmp,
            weight_type=QuantType.QInt8,
            per_channel=quant["per_channel"],
            reduce_range=quant["reduce_range"],
        )
        os.replace(tmp, target)
    finally:
        root.setLevel(level)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
