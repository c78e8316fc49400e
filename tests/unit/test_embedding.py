"""The onnx embedder: the same vectors and cosines as sentence-transformers, exported once, no torch in a worker."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ragq.shared.corpus import onnx_export as export
from ragq.shared.corpus.embedding import Embedder, mean_pool, normalise
from ragq.shared.errors import ModelLoadError
from ragq.shared.metrics import cosine

TEXTS = [
    "",
    "Which port does the web interface use?",
    "Net sales were $10,208.6 million, up 9.5%; 1,355 stores in 50 states.",
    "Ünïcödé – “quotes”, tabs\tand\nnewlines",
    "word " * 400,  # past the model's 256 tokens: truncated on both sides
    "The appliance forwards packets between interfaces according to its routing table. " * 3,
]


@pytest.fixture(scope="module")
def onnx(onnx_export):
    return Embedder("onnx", onnx_export.parent, threads=2)


def test_onnx_vectors_match_sentence_transformers(onnx, embedder):
    diff = np.abs(onnx.encode(TEXTS, batch_size=4) - embedder.encode(TEXTS)).max()
    assert diff <= export.TOLERANCE
    assert onnx.encode(TEXTS).shape == (len(TEXTS), 384)


@pytest.mark.parametrize(
    "answer, reference",
    [
        ("It listens on HTTPS port 8443.", "The web management interface listens on HTTPS port 8443."),
        ("I do not know.", "Revenue grew 9.5% to $10.2 billion."),
        ("", "Something."),
    ],
)
def test_cosine_matches_the_study_scorer(onnx, embedder, answer, reference):
    assert abs(cosine.cosine(onnx, answer, reference) - cosine.cosine(embedder, answer, reference)) <= 1e-5


def test_pooling_and_normalising_by_hand():
    hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])  # the padding token must not count
    np.testing.assert_allclose(mean_pool(hidden, mask), [[2.0, 3.0]])
    np.testing.assert_allclose(normalise(np.array([[3.0, 4.0], [0.0, 0.0]])), [[0.6, 0.8], [0.0, 0.0]])


def test_export_is_checked_and_made_once(onnx_export):
    check = json.loads((onnx_export.parent / (onnx_export.name + ".check.json")).read_text())
    assert check["max_abs_diff"] <= export.TOLERANCE and check["texts"] == len(export.CHECK_TEXTS)
    before = onnx_export.stat().st_mtime_ns
    assert export.ensure_onnx(onnx_export.parent) == onnx_export
    assert onnx_export.stat().st_mtime_ns == before


def test_an_export_that_differs_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "export_onnx", lambda model, path: path.write_bytes(b"onnx"))
    monkeypatch.setattr(export, "check_export", lambda model, path: {"max_abs_diff": 0.01})
    with pytest.raises(ModelLoadError, match="embedder_runtime"):
        export.ensure_onnx(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_runtime_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="onnx, torch"):
        Embedder("tensorflow", tmp_path)


def test_onnx_embedding_never_imports_torch(onnx_export):
    code = (
        "import sys; from pathlib import Path; from ragq.shared.corpus.embedding import Embedder; "
        "from ragq.shared.metrics.cosine import cosine; "
        f"e = Embedder('onnx', Path({str(onnx_export.parent)!r})); e.encode(['a question']); cosine(e, 'a', 'b'); "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
