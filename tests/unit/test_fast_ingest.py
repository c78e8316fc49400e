"""The faster ingest: PDFium pages, pages streamed to the embedder, the int8 embedder and its identity."""

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import DEMO_PDF

from ragq.shared import hardware
from ragq.shared.corpus import index as idx
from ragq.shared.corpus import quantize
from ragq.shared.corpus.chunking import split_pages
from ragq.shared.corpus.documents import Page, load_document, pdfium_text
from ragq.shared.corpus.embedders import Embedders
from ragq.shared.corpus.embedding import Embedder, index_variant
from ragq.shared.corpus.reading import read_chunks
from ragq.shared.errors import DocumentError, ModelLoadError
from ragq.shared.hashing import sha256_file

TEXTS = [
    "Which port does the web interface use?",
    "Net sales were $10,208.6 million, up 9.5%; 1,355 stores in 50 states.",
    "The appliance forwards packets between interfaces according to its routing table. " * 3,
    "word " * 400,
]


def test_pdfium_reads_the_guide_as_pypdf_does():
    assert load_document(DEMO_PDF, "pdfium") == load_document(DEMO_PDF, "pypdf")


def test_pdfium_text_takes_pypdf_conventions():
    assert pdfium_text("fixed\ufffeprice\r\nnext\rline") == "fixed-\nprice\nnext\nline"


def _sources(*paths: Path) -> list[dict]:
    return [{"name": p.name, "path": str(p), "sha256": sha256_file(p)} for p in paths]


def test_streamed_chunks_equal_the_serial_ones_and_count_each_source(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("The relay's admin console listens on port 8443.\n\n" * 30)
    sources = _sources(DEMO_PDF, notes)
    seen: list[tuple] = []
    streamed = list(read_chunks(sources, "pdfium", lambda *a: seen.append(a), ahead=1))
    serial = split_pages(load_document(DEMO_PDF), sources[0]["sha256"]) + split_pages(
        load_document(notes), sources[1]["sha256"]
    )
    assert streamed == serial
    assert [s["pages"] for s in sources] == [4, 1] and sum(s["chunks"] for s in sources) == len(serial)
    assert seen[-1] == ("pages read", 5, None)


def test_a_reader_error_reaches_the_caller_after_the_chunks_before_it(tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_text("<html><script>x()</script></html>")
    got = []
    with pytest.raises(DocumentError, match="no extractable text"):
        for chunk in read_chunks(_sources(DEMO_PDF, empty), "pdfium", lambda *a: None):
            got.append(chunk)
    assert len(got) == len(split_pages(load_document(DEMO_PDF), "x"))  # the guide's chunks came first


def test_a_caller_that_stops_stops_the_reader():
    before = threading.active_count()
    stream = read_chunks(_sources(DEMO_PDF), "pdfium", lambda *a: None, ahead=1)
    next(stream)
    stream.close()  # the reader is blocked on a full queue: it must see the stop and end
    assert threading.active_count() == before


@pytest.mark.parametrize(
    "flags, machine, reduce_range, why",
    [
        ({"avx2", "avx512_vnni"}, "x86_64", False, "VNNI"),
        ({"avx2", "avx_vnni"}, "x86_64", False, "VNNI"),
        ({"avx2", "fma"}, "x86_64", True, "without VNNI"),
        (set(), "arm64", False, "ARM64"),
        ({"asimd", "asimddp"}, "aarch64", False, "ARM64"),
        (set(), "AMD64", True, "without VNNI"),  # Windows names x86-64 so; no flags read there
    ],
)
def test_the_quantization_plan_follows_the_cpu(flags, machine, reduce_range, why):
    plan = quantize.plan(flags, machine)
    assert plan["reduce_range"] is reduce_range and why in plan["cpu"] and plan["per_channel"]
    assert quantize.recipe(plan) == "smoothed" and (plan["alpha"], plan["block"]) == (0.7, 128)
    tag = "m.int8-smoothed-a0.7-b128"
    assert quantize.file_name(Path("m.onnx"), plan) == (f"{tag}-r7.onnx" if reduce_range else f"{tag}.onnx")


def test_a_plan_from_before_recipes_names_the_dynamic_recipe_and_its_old_file():
    old = {"weights": "s8", "activations": "u8", "per_channel": True, "reduce_range": False, "cpu": "VNNI"}
    assert quantize.recipe(old) == "dynamic" and quantize.file_name(Path("m.onnx"), old) == "m.int8.onnx"
    assert quantize.file_name(Path("m.onnx"), {**old, "reduce_range": True}) == "m.int8-r7.onnx"


def _one_matmul_model(weights: np.ndarray):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, weights.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, weights.shape[1]])],
        [numpy_helper.from_array(weights.astype(np.float32), "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


def test_smoothing_leaves_the_fp32_product_as_it_was():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    x[:, 3] *= 40  # an outlier channel, as BERT's hidden states have
    model = _one_matmul_model(rng.normal(size=(4, 8)))
    before = _run(model, x)
    groups = quantize.weight_matmuls(model)
    assert list(groups) == ["x"] and not quantize.is_wide(model, groups["x"][0])
    quantize.smooth(model, groups, {"x": np.abs(x).max(axis=0)}, 0.7)
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-5, atol=1e-4)
    assert [n.op_type for n in model.graph.node] == ["Mul", "MatMul"]  # the scale runs before the product
    assert quantize.is_wide(_one_matmul_model(np.ones((16, 4))), _one_matmul_model(np.ones((16, 4))).graph.node[0])


def test_smoothing_scales_move_an_outlier_channel_into_the_weights():
    scales = quantize.smoothing_scales(np.array([1.0, 100.0]), np.array([1.0, 1.0]), 0.5)
    np.testing.assert_allclose(scales, [1.0, 10.0], rtol=1e-6)  # s_j = max|X_j|^0.5 / max|W_j|^0.5
    assert quantize.smoothing_scales(np.zeros(2), np.zeros(2), 0.7).min() > 0  # a silent channel: no division by 0


def test_cpu_flags_from_linux_macos_and_elsewhere(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags\t\t: fpu AVX2 avx512_vnni\n")
    assert hardware.cpu_flags("linux", str(cpuinfo)) == {"fpu", "avx2", "avx512_vnni"}
    assert hardware.cpu_flags("linux", str(tmp_path / "none")) == set()

    class Done:
        stdout = "FPU SSE4.2 AVX2\nAVX512VNNI\n"

    monkeypatch.setattr(hardware.subprocess, "run", lambda *a, **k: Done())
    assert "avx512vnni" in hardware.cpu_flags("darwin") and "sse4_2" in hardware.cpu_flags("darwin")
    assert hardware.cpu_flags("win32") == set()


@pytest.fixture(scope="module")
def variants(onnx_export):
    return {v: Embedder("onnx", onnx_export.parent, threads=2, variant=v) for v in ("fp32", "int8")}


def test_int8_vectors_stay_close_to_fp32(variants):
    agree = (variants["int8"].encode(TEXTS) * variants["fp32"].encode(TEXTS)).sum(axis=1)
    assert agree.min() >= 0.995 and agree.mean() >= 0.998  # bench (13,268 chunks): mean 0.9993, min 0.997
    assert variants["int8"].quantization == quantize.plan(hardware.cpu_flags())
    assert variants["int8"].label == "int8 smoothed" and variants["fp32"].label == "fp32"


def test_an_index_of_the_dynamic_recipe_is_queried_with_it(onnx_export, variants):
    old_plan = {k: v for k, v in quantize.plan(hardware.cpu_flags()).items() if k not in ("recipe", "alpha", "block")}
    old = Embedder("onnx", onnx_export.parent, variant="int8", quantization=old_plan)
    vectors = old.encode(TEXTS)
    assert old.label == "int8 dynamic" and (onnx_export.parent / quantize.file_name(onnx_export, old_plan)).exists()
    assert not np.allclose(vectors, variants["int8"].encode(TEXTS), atol=1e-4)  # another model: its own vectors
    assert (vectors * variants["fp32"].encode(TEXTS)).sum(axis=1).min() >= 0.97


def test_an_int8_vector_does_not_depend_on_the_texts_beside_it(variants):
    alone = np.concatenate([variants["int8"].encode([t]) for t in TEXTS])
    np.testing.assert_array_equal(variants["int8"].encode(TEXTS), alone)  # one text per call: no shared scale


def test_calls_at_once_give_the_vectors_one_call_after_another_gives(onnx_export, variants):
    for variant in ("int8", "fp32"):
        streamed = Embedder("onnx", onnx_export.parent, variant=variant, streams=2)
        assert streamed.threads == 1  # each call on one thread: the streams are the parallelism
        np.testing.assert_allclose(streamed.encode(TEXTS * 3), variants[variant].encode(TEXTS * 3), atol=1e-6)


def test_the_int8_model_is_made_once_beside_the_export(onnx_export, variants):
    variants["int8"].encode(["x"])
    made = onnx_export.parent / quantize.file_name(onnx_export, quantize.plan(hardware.cpu_flags()))
    before = made.stat().st_mtime_ns
    assert quantize.ensure_int8(onnx_export, quantize.plan(hardware.cpu_flags()), variants["int8"].feeds) == made
    assert made.stat().st_mtime_ns == before and made.stat().st_size < onnx_export.stat().st_size * 0.7


def test_quantizing_leaves_the_root_logger_as_it_was(onnx_export, tmp_path, variants):
    import logging
    import os

    os.link(onnx_export, tmp_path / onnx_export.name)
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    plan = {**quantize.plan(hardware.cpu_flags()), "alpha": 0.5, "block": 32}  # another recipe: made here
    made = quantize.ensure_int8(tmp_path / onnx_export.name, plan, variants["int8"].feeds)
    assert made.name.endswith("-a0.5-b32.onnx" if not plan["reduce_range"] else "-a0.5-b32-r7.onnx")
    assert (root.level, list(root.handlers)) == before  # ONNX Runtime's quantizers log a line per node otherwise


def test_variants_refused_where_they_cannot_run(tmp_path):
    with pytest.raises(ModelLoadError, match="int8, fp32"):
        Embedder("onnx", tmp_path, variant="int4")
    with pytest.raises(ModelLoadError, match='embedder = "fp32"'):
        Embedder("torch", variant="int8")


def test_embedders_give_each_index_its_own_variant_and_its_scorer(variants):
    embedders = Embedders(loaded=variants)
    plan = variants["int8"].quantization
    assert embedders.for_index({"embedding": "int8", "quantization": plan}) is variants["int8"]
    assert embedders.for_index({}) is variants["fp32"]  # an index from before the variants: fp32
    assert embedders.scorer_for({"embedding": "int8", "quantization": plan}) is variants["int8"]  # checked: its own
    assert embedders.scorer_for({"embedding": "int8"}) is variants["fp32"]  # the dynamic recipe's scores: fp32's
    assert embedders.scorer_for({}) is variants["fp32"]
    with pytest.raises(ModelLoadError, match="no int8 embedder"):
        Embedders(loaded={"fp32": variants["fp32"]}).for_index({"embedding": "int8"})


def test_an_int8_index_is_queried_and_scored_by_one_embedder(settings, variants):
    embedders = Embedders(settings, 2)
    manifest = {"embedding": "int8", "quantization": variants["int8"].quantization}
    assert embedders.scorer_for(manifest) is embedders.for_index(manifest) and len(embedders.loaded) == 1
    older = {"embedding": "int8", "quantization": {"per_channel": True, "reduce_range": False, "cpu": "VNNI"}}
    assert embedders.scorer_for(older) is embedders.get("fp32") is not embedders.for_index(older)
    assert embedders.for_index(older).label == "int8 dynamic" and len(embedders.loaded) == 3


def _old_content_id(manifest: dict) -> str:
    """content_id as it was before readers and variants: an index built then must keep its id."""
    key = {k: manifest.get(k) for k in ("format", "chunker", "embedder")}
    key["sources"] = sorted((s["name"], s["sha256"]) for s in manifest.get("sources", []))
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def test_reader_and_variant_are_part_of_an_index_identity():
    old = {"format": 1, "chunker": idx.CHUNKER, "embedder": "e", "sources": [{"name": "a.pdf", "sha256": "1"}]}
    assert idx.content_id(old) == _old_content_id(old)
    assert idx.content_id({**old, "reader": "pypdf", "embedding": "fp32"}) == idx.content_id(old)
    ids = {idx.content_id({**old, "reader": r, "embedding": v}) for r in ("pypdf", "pdfium") for v in ("fp32", "int8")}
    assert len(ids) == 4 and index_variant(old) == "fp32"
    dynamic = {**old, "embedding": "int8", "quantization": {"per_channel": True, "reduce_range": False, "cpu": "VNNI"}}
    assert idx.content_id(dynamic) == idx.content_id({**old, "embedding": "int8"})  # an int8 index of before: its id
    smoothed = {"recipe": "smoothed", "alpha": 0.7, "block": 128}
    one = idx.content_id({**dynamic, "quantization": {**dynamic["quantization"], **smoothed}})
    assert one != idx.content_id(dynamic)  # another model, another index
    assert one == idx.content_id({**dynamic, "quantization": {**smoothed, "reduce_range": True, "cpu": "x86"}})


def test_a_build_records_how_it_read_and_embedded(variants, tmp_path):
    sources = _sources(DEMO_PDF)
    manifest, chunks, vectors = idx.build("demo", sources, variants["int8"], lambda *a: None, batch=7)
    assert (manifest["reader"], manifest["embedding"]) == ("pdfium", "int8") and manifest["quantization"]
    np.testing.assert_allclose(vectors, variants["int8"].encode([c.text for c in chunks]), atol=1e-6)
    idx.save(tmp_path / "demo", manifest, chunks, vectors)
    plan = variants["int8"].quantization
    assert idx.is_unchanged(tmp_path / "demo", sources, "pdfium", "int8", plan)
    assert not idx.is_unchanged(tmp_path / "demo", sources, "pdfium", "fp32", None)
    assert not idx.is_unchanged(tmp_path / "demo", sources, "pypdf", "int8", plan)
    older = {k: v for k, v in plan.items() if k not in ("recipe", "alpha", "block")}  # the dynamic recipe's plan
    assert not idx.is_unchanged(tmp_path / "demo", sources, "pdfium", "int8", older)  # built again, the new way


def test_pages_keep_pypdf_numbers_on_a_generated_pdf(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for number in range(3):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Page {number}: port {8000 + number} serves the console.")
    pdf.add_page()  # a page with no text keeps its place
    path = tmp_path / "gen.pdf"
    pdf.output(str(path))
    ours, theirs = load_document(path, "pdfium"), load_document(path, "pypdf")
    assert [p.page for p in ours] == [p.page for p in theirs] == [0, 1, 2, 3]
    assert [p.text.strip() for p in ours] == [p.text.strip() for p in theirs]
    assert ours[3] == Page("gen.pdf", 3, "")


def test_the_embedder_setting_rebuilds_an_index_and_shows_its_origin(home, monkeypatch):
    from click.testing import CliRunner

    from ragq.producer.cli import main

    def ingest() -> dict:
        result = CliRunner().invoke(main, ["ingest", str(DEMO_PDF), "--index", "demo", "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    first = ingest()
    assert (first["embedding"], first["reader"], first["unchanged"]) == ("int8", "pdfium", False)
    assert first["quantization"]["recipe"] == "smoothed"
    assert ingest()["unchanged"]
    monkeypatch.setenv("RAGQ_EMBEDDER", "fp32")
    again = ingest()
    assert (again["embedding"], again["unchanged"], again["quantization"]) == ("fp32", False, None)
    shown = CliRunner().invoke(main, ["config", "show"]).stdout
    line = next(x for x in shown.splitlines() if "embedder " in x or x.split()[:1] == ["embedder"])
    assert "fp32" in line and "RAGQ_EMBEDDER" in line
