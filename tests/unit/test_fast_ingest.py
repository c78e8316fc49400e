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
    assert quantize.file_name(Path("m.onnx"), plan) == ("m.int8-r7.onnx" if reduce_range else "m.int8.onnx")


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
    assert agree.min() >= 0.97 and agree.mean() >= 0.98
    assert variants["int8"].quantization == quantize.plan(hardware.cpu_flags())


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
    assert quantize.ensure_int8(onnx_export, quantize.plan(hardware.cpu_flags())) == made
    assert made.stat().st_mtime_ns == before and made.stat().st_size < onnx_export.stat().st_size / 3


def test_variants_refused_where_they_cannot_run(tmp_path):
    with pytest.raises(ModelLoadError, match="int8, fp32"):
        Embedder("onnx", tmp_path, variant="int4")
    with pytest.raises(ModelLoadError, match='embedder = "fp32"'):
        Embedder("torch", variant="int8")


def test_embedders_give_each_index_its_own_variant_and_score_in_fp32(variants):
    embedders = Embedders(loaded=variants)
    assert embedders.for_index({"embedding": "int8"}) is variants["int8"]
    assert embedders.for_index({}) is variants["fp32"]  # an index from before the variants: fp32
    assert embedders.scorer is variants["fp32"]
    with pytest.raises(ModelLoadError, match="no int8 embedder"):
        Embedders(loaded={"fp32": variants["fp32"]}).for_index({"embedding": "int8"})


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


def test_a_build_records_how_it_read_and_embedded(variants, tmp_path):
    sources = _sources(DEMO_PDF)
    manifest, chunks, vectors = idx.build("demo", sources, variants["int8"], lambda *a: None, batch=7)
    assert (manifest["reader"], manifest["embedding"]) == ("pdfium", "int8") and manifest["quantization"]
    np.testing.assert_allclose(vectors, variants["int8"].encode([c.text for c in chunks]), atol=1e-6)
    idx.save(tmp_path / "demo", manifest, chunks, vectors)
    assert idx.is_unchanged(tmp_path / "demo", sources, "pdfium", "int8")
    assert not idx.is_unchanged(tmp_path / "demo", sources, "pdfium", "fp32")
    assert not idx.is_unchanged(tmp_path / "demo", sources, "pypdf", "int8")


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
    assert (first["embedding"], first["reader"], first["unchanged"], first["quantization"]) == (
        "fp32",
        "pdfium",
        False,
        None,
    )
    assert ingest()["unchanged"]
    monkeypatch.setenv("RAGQ_EMBEDDER", "int8")
    again = ingest()
    assert (again["embedding"], again["unchanged"]) == ("int8", False) and again["quantization"]["per_channel"]
    shown = CliRunner().invoke(main, ["config", "show"]).stdout
    line = next(x for x in shown.splitlines() if "embedder " in x or x.split()[:1] == ["embedder"])
    assert "int8" in line and "RAGQ_EMBEDDER" in line
