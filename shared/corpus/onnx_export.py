"""ragq's own ONNX export of all-MiniLM-L6-v2, made once per home with torch and checked against
sentence-transformers (max |difference| <= TOLERANCE on CHECK_TEXTS) before it is used: the fp32 file every onnx
embedder runs, and the int8 one is made from (quantize.py)."""

import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ragq.shared.errors import ModelLoadError

EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
TOLERANCE = 1e-5
# exported with eager attention: the same vectors as sentence-transformers' own SDPA attention (1.6e-7), a graph
# without SDPA's mask nodes (Where, IsNaN: 18 % of an int8 run's time): fp32 1.1x, int8 1.3x as fast on 2 cores
ONNX_FILE = "all-MiniLM-L6-v2-eager.onnx"
# what the export is checked on: short, unicode, and one that runs past MAX_TOKENS
CHECK_TEXTS = [
    "warm up",
    "What was the company's total revenue in fiscal 2023?",
    "Net sales increased 9.5% to $10.2 billion; comparable sales rose 5.7% — stores: 1,355.",
    " ".join(["The appliance forwards packets between interfaces according to its routing table."] * 30),
]


def ensure_onnx(cache_dir: Path) -> Path:
    """The exported model, made once: exported with torch, checked against sentence-transformers, then renamed
    into place (two workers starting together each export to a temporary file; the last rename wins, same bytes)."""
    target = cache_dir / ONNX_FILE
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".export-", suffix=".onnx")
    os.close(fd)
    try:
        from ragq.shared.corpus.embedding import load_sentence_transformer

        model = load_sentence_transformer()
        export_onnx(model, Path(tmp))
        check = check_export(model, Path(tmp))
        if check["max_abs_diff"] > TOLERANCE:
            raise ModelLoadError(
                f"the ONNX export of {EMBEDDER_NAME} differs from sentence-transformers by {check['max_abs_diff']:.1e} "
                f'(more than {TOLERANCE:g}): set embedder_runtime = "torch" in config.toml, or RAGQ_EMBEDDER_RUNTIME=torch.'
            )
        (cache_dir / (ONNX_FILE + ".check.json")).write_text(json.dumps(check, indent=1))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def export_onnx(model, path: Path) -> None:
    import torch

    class Encoder(torch.nn.Module):  # keyword arguments: BertModel.forward's positional order varies by release
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    bert = model[0].auto_model
    if hasattr(bert, "set_attn_implementation"):
        bert.set_attn_implementation("eager")  # see ONNX_FILE
    else:
        bert.config._attn_implementation = "eager"
    sample = model.tokenizer(CHECK_TEXTS[:2], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes: the check below is what counts
        torch.onnx.export(
            Encoder(bert.eval()),
            tuple(sample[name] for name in names),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def check_export(model, path: Path) -> dict:
    """The exported model's vectors against sentence-transformers' own, on CHECK_TEXTS."""
    import onnxruntime
    import torch

    from ragq.shared.corpus.embedding import Embedder, onnx_session

    onnx_side = Embedder("onnx", path.parent)
    onnx_side.__dict__["session"] = onnx_session(path, None)
    reference = model.encode(CHECK_TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    diff = float(np.abs(onnx_side.encode(CHECK_TEXTS) - reference).max())
    return {
        "embedder": EMBEDDER_NAME,
        "texts": len(CHECK_TEXTS),
        "max_abs_diff": diff,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
