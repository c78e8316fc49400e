"""The int8 embedder: ragq's own fp32 ONNX export of all-MiniLM-L6-v2 with its weight MatMuls in int8, made once per
home beside the fp32 file.

Two recipes; an index records the one it was built with (manifest "quantization") and its queries use the same.
- "smoothed" (new indexes): SmoothQuant (Xiao et al., 2023) then two kinds of int8 MatMul. Each MatMul input X gets
  per-channel scales s (s_j = max|X_j|^ALPHA / max|W_j|^(1-ALPHA), the activations' maxima measured on
  calibration.json), X W = (X / s)(s W): the same product in fp32, with BERT's outlier channels moved into the weights,
  where per-channel int8 holds them. Those MatMuls then run ONNX Runtime's dynamic quantization (u8 activations per
  call, s8 weights per output channel: MatMulInteger). The feed-forward's second MatMul (its input, after GELU, is
  1,536 wide) runs MatMulNBits instead: 8-bit weights in blocks of BLOCK, activations quantized per block at
  run time (accuracy level 4). Measured (bench/RESULTS.md, int8, recipes side by side): the plain dynamic recipe gave another
  top 4 for 20 of 88 question-ratio pairs; this one for 7, at 0.93x its speed and 2.1x fp32's.
- "dynamic" (indexes built before): plain dynamic quantization of every MatMul and Gather.

On x86 without VNNI the AVX2 kernels multiply u8 by s8 with an instruction (VPMADDUBSW) whose 16-bit sums can
saturate, so the dynamic MatMuls' weights are cut to 7 bits (`reduce_range`), as ONNX Runtime's quantization guide
says; with VNNI (AVX512_VNNI, AVX_VNNI) and on ARM64 (sdot/udot) the full 8 bits are kept.
"""

import json
import logging
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

VARIANTS = ("int8", "fp32")
VNNI_FLAGS = {"avx512_vnni", "avx_vnni", "avx512vnni", "avxvnni"}
RECIPE = "smoothed"
# measured side by side (bench/RESULTS.md, int8, recipes): alpha 0.5 or 0.7, blocks of 32 or 128, all at 92-97 %
# the same top 4; 0.7 with 128 the fastest of them, and the one that moves stored scores least (0.006 at most)
ALPHA = 0.7
BLOCK = 128
CALIBRATION = Path(__file__).with_name("calibration.json")


def plan(flags: set[str], machine: str = platform.machine()) -> dict:
    """How new indexes quantize on this CPU: full 8-bit weights where the int8 kernels cannot saturate, 7-bit
    elsewhere."""
    arm = machine.lower() in ("arm64", "aarch64")
    vnni = bool(flags & VNNI_FLAGS)
    reduce_range = not (arm or vnni)
    why = "ARM64 (sdot)" if arm else "VNNI" if vnni else "x86 without VNNI (7-bit weights against saturation)"
    return {"weights": "s8", "activations": "u8", "per_channel": True, "reduce_range": reduce_range, "cpu": why,
            "recipe": RECIPE, "alpha": ALPHA, "block": BLOCK}  # fmt: skip


def recipe(quant: dict) -> str:
    """The recipe a plan names; plans written before recipes existed were "dynamic"."""
    return quant.get("recipe", "dynamic")


def file_name(fp32_path: Path, quant: dict) -> str:
    tag = "" if recipe(quant) == "dynamic" else f"-{recipe(quant)}-a{quant['alpha']}-b{quant['block']}"
    return f"{fp32_path.stem}.int8{tag}{'-r7' if quant['reduce_range'] else ''}.onnx"


def ensure_int8(fp32_path: Path, quant: dict, feeds: Callable[[str], dict]) -> Path:
    """The quantized model beside the fp32 export, made once (a temporary file renamed into place, as the export).
    `feeds`: one text -> the model's inputs (the calibration's)."""
    target = fp32_path.parent / file_name(fp32_path, quant)
    if target.exists():
        return target
    fd, tmp = tempfile.mkstemp(dir=fp32_path.parent, prefix=".int8-", suffix=".onnx")
    os.close(fd)
    try:
        with quiet_quantizers():
            if recipe(quant) == "dynamic":
                dynamic(str(fp32_path), tmp, quant, None)  # every op it knows, as before
            else:
                smoothed(fp32_path, Path(tmp), quant, feeds)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def dynamic(source: str, target: str, quant: dict, op_types: list[str] | None) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(source, target, op_types_to_quantize=op_types, weight_type=QuantType.QInt8,
                     per_channel=quant["per_channel"], reduce_range=quant["reduce_range"])  # fmt: skip


def smoothed(fp32_path: Path, target: Path, quant: dict, feeds: Callable[[str], dict]) -> None:
    import onnx

    model = onnx.load(str(fp32_path))
    groups = weight_matmuls(model)
    wide = [n.name for nodes in groups.values() for n in nodes if is_wide(model, n)]
    narrow = {x: nodes for x, nodes in groups.items() if not any(n.name in wide for n in nodes)}
    texts = json.loads(CALIBRATION.read_text())["texts"]
    smooth(model, narrow, activation_maxima(fp32_path, list(narrow), [feeds(t) for t in texts]), quant["alpha"])
    blockwise(model, wide, quant["block"])
    mid = target.with_suffix(".smoothed.onnx")
    try:
        onnx.save(model, str(mid))
        dynamic(str(mid), str(target), quant, ["MatMul"])  # the blockwise MatMuls are another op: left as they are
    finally:
        mid.unlink(missing_ok=True)


def weight_matmuls(model) -> dict[str, list]:
    """The MatMuls whose second input is a weight (an initializer), grouped by the activation they multiply."""
    weights = {i.name for i in model.graph.initializer}
    groups: dict[str, list] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            groups.setdefault(node.input[0], []).append(node)
    return groups


def weight(model, node) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == node.input[1]))


def is_wide(model, node) -> bool:
    """The feed-forward's second MatMul: more inputs than outputs (1,536 -> 384)."""
    rows, cols = weight(model, node).shape
    return rows > cols


def activation_maxima(fp32_path: Path, names: list[str], feeds: list[dict]) -> dict[str, np.ndarray]:
    """max |x| per channel of each named activation, over the calibration texts (each run alone, as an int8 ingest
    embeds)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.load(str(fp32_path))
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                              for n in names if n not in present)  # fmt: skip
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    maxima = {n: np.zeros(0, dtype=np.float32) for n in names}
    for feed in feeds:
        for name, value in zip(names, session.run(names, feed), strict=True):
            found = np.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
            maxima[name] = found if maxima[name].size == 0 else np.maximum(maxima[name], found)
    return maxima


def smoothing_scales(x_max: np.ndarray, w_max: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's per-channel scales: s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)."""
    scales = np.power(np.maximum(x_max, 1e-5), alpha) / np.power(np.maximum(w_max, 1e-5), 1 - alpha)
    return np.clip(scales, 1e-5, None).astype(np.float32)


def smooth(model, groups: dict[str, list], maxima: dict[str, np.ndarray], alpha: float) -> None:
    """X W -> (X * 1/s)(s W) for each group of MatMuls sharing an input: one Mul node, the weights' rows scaled."""
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    muls = {}
    for k, (x, nodes) in enumerate(groups.items()):
        weights = [weight(model, n) for n in nodes]
        s = smoothing_scales(maxima[x], np.max([np.abs(w).max(axis=1) for w in weights], axis=0), alpha)
        inverse = numpy_helper.from_array((1.0 / s).astype(np.float32), f"ragq_smooth_{k}")
        graph.initializer.append(inverse)
        muls[x] = helper.make_node("Mul", [x, inverse.name], [f"{x}_smoothed"], name=f"ragq_smooth_{k}")
        for node, w in zip(nodes, weights, strict=True):
            initializers[node.input[1]].CopyFrom(numpy_helper.from_array(w * s[:, None], node.input[1]))
            node.input[0] = f"{x}_smoothed"
    ordered = [muls.pop(i.name) for i in graph.input if i.name in muls]  # a MatMul on a graph input
    for node in graph.node:
        ordered.append(node)
        ordered += [muls.pop(o) for o in node.output if o in muls]
    graph.ClearField("node")
    graph.node.extend(ordered)


def blockwise(model, names: list[str], block: int) -> None:
    """The named MatMuls to MatMulNBits: 8-bit symmetric weights in blocks, activations per block (accuracy level 4)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    others = [n.name for nodes in weight_matmuls(model).values() for n in nodes if n.name not in names]
    quantizer = MatMulNBitsQuantizer(model, bits=8, block_size=block, is_symmetric=True, accuracy_level=4,
                                     nodes_to_exclude=others)  # fmt: skip
    quantizer.process()
    model.CopyFrom(quantizer.model.model)


class quiet_quantizers:
    """ONNX Runtime's quantizers log a line per node (one configures the root logger when imported) and advise
    pre-processing (measured here: no faster): quieted for the call, and any handler they add taken away."""

    def __enter__(self):
        self.root = logging.getLogger()
        self.level, self.handlers = self.root.level, list(self.root.handlers)
        import onnxruntime.quantization.matmul_nbits_quantizer  # noqa: F401 - its import configures logging: first

        self.root.setLevel(logging.ERROR)
        logging.getLogger("onnxruntime").setLevel(logging.ERROR)

    def __exit__(self, *exc):
        for handler in self.root.handlers[:]:
            if handler not in self.handlers:
                self.root.removeHandler(handler)
        self.root.setLevel(self.level)
