"""Bad input, tried at scale (Hypothesis): every parser of what users hand ragq (question files in the study's
Q:/A: lines, CSV and JSONL, config.toml, catalog TOML, the ratio grammar, PDFs) either accepts an input or refuses it
with ragq's one error family, which the CLI prints as one line; never another exception (a traceback). Through the
CLI, a refused file leaves the store as it was. The number of inputs tried is printed at the end (`-s`)."""

import json
import math
import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import DEMO_PDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragq.producer.questions import parse_qa_file
from ragq.producer.ratios import parse_ratios
from ragq.shared.config import KEYS, load_settings
from ragq.shared.corpus.documents import load_document
from ragq.shared.errors import RagqError
from ragq.shared.models import catalog

TRIED: Counter = Counter()
SCALE = int(os.environ.get("RAGQ_FUZZ_SCALE", "1"))  # more inputs on request: RAGQ_FUZZ_SCALE=20 pytest this file
FAST = settings(max_examples=150 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\n[bad-input figures] inputs tried: {dict(TRIED)}, total {sum(TRIED.values())}")


def accepted_or_refused(kind: str, parse, *args):
    """The parser's result, or None where it refused with a RagqError; anything else fails the test."""
    TRIED[kind] += 1
    try:
        return parse(*args)
    except RagqError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip() and "Traceback" not in message, message
        return None


# question files: lines that look like the formats, mixed with noise, so that deep paths are reached
TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)
QA_LINE = st.one_of(
    TEXT.map(lambda t: f"Q: {t}"), TEXT.map(lambda t: f"A: {t}"), TEXT, st.just(""), st.just("Q:"), st.just("A:")
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
JSON_ROW = st.dictionaries(st.sampled_from(["question", "answer", "evidence_pages", "doc", "x"]), JSON_VALUE)


def _write(suffix: str, data: bytes) -> Path:
    path = Path(tempfile.mkdtemp(prefix="rq-prop-")) / f"qa{suffix}"
    path.write_bytes(data)
    return path


def _check_pairs(pairs) -> None:
    if pairs is not None:
        assert pairs and all(isinstance(p.question, str) and isinstance(p.answer, str) for p in pairs)


@FAST
@given(st.lists(QA_LINE, max_size=12))
def test_study_qa_lines(lines):
    _check_pairs(accepted_or_refused("Q:/A: text", parse_qa_file, _write(".txt", "\n".join(lines).encode())))


@FAST
@given(st.binary(max_size=300), st.sampled_from([".txt", ".csv", ".jsonl", ".json"]))
def test_question_files_of_random_bytes(data, suffix):
    _check_pairs(accepted_or_refused(f"random bytes as {suffix}", parse_qa_file, _write(suffix, data)))


@FAST
@given(
    st.lists(st.sampled_from(["question", "answer", "evidence_pages", "doc", "x", ""]), min_size=1, max_size=5),
    st.lists(st.lists(st.one_of(TEXT, st.just("3;4"), st.just("-1"), st.just("a;b")), max_size=5), max_size=5),
)
def test_csv_question_files(header, rows):
    text = "\n".join([",".join(header), *(",".join(json.dumps(c) for c in row) for row in rows)])
    _check_pairs(accepted_or_refused("CSV", parse_qa_file, _write(".csv", text.encode())))


@FAST
@given(st.lists(st.one_of(JSON_ROW, JSON_VALUE), max_size=6))
def test_jsonl_question_files(rows):
    text = "\n".join(json.dumps(r) for r in rows)
    _check_pairs(accepted_or_refused("JSONL", parse_qa_file, _write(".jsonl", text.encode())))


# the ratio grammar: numbers, sweeps, and anything else a user can type
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.sampled_from(["1e-300", "0"]))
RATIO = st.one_of(
    NUMBER.map(str),
    st.tuples(NUMBER, NUMBER, NUMBER).map(lambda t: ":".join(map(str, t))),
    st.text(alphabet="0123456789.:,-e+ naif", max_size=16),
)


@settings(max_examples=400 * SCALE, deadline=None)
@given(st.lists(RATIO, min_size=1, max_size=3))
def test_ratio_grammar(texts):
    values = accepted_or_refused("ratio", parse_ratios, texts)
    if values is not None:
        assert 0 < len(values) <= 1001 * len(texts) and all(math.isfinite(v) and 0 <= v <= 1 for v in values)


# config.toml: known keys with values of any type, unknown keys, and text that is not TOML
TOML_VALUE = st.one_of(
    st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.booleans(), TEXT, st.lists(st.integers(), max_size=3)
)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _toml(data: dict) -> str:
    """Well-formed TOML for generated values (their types, not their meaning, are what varies)."""
    return "".join(f"{key} = {_toml_value(value)}\n" for key, value in data.items())


def _home_with(name: str, text: str) -> Path:
    home = Path(tempfile.mkdtemp(prefix="rq-prop-home-"))
    (home / name).parent.mkdir(parents=True, exist_ok=True)
    (home / name).write_text(text)
    return home


@FAST
@given(
    text=st.one_of(st.dictionaries(st.sampled_from([*KEYS, "lease", "home"]), TOML_VALUE, max_size=4).map(_toml), TEXT)
)
def test_config_files(text, monkeypatch):
    for key in KEYS:
        monkeypatch.delenv(f"RAGQ_{key.upper()}", raising=False)
    home = _home_with("config.toml", text)
    accepted_or_refused("config.toml", lambda: load_settings(home=home))


CATALOG_KEYS = ["name", "extends", "source", "params", "prompt", "n_ctx", "file", "x"]
CATALOG_VALUE = st.one_of(
    TOML_VALUE,
    st.dictionaries(st.sampled_from(["kind", "package", "path", "temperature", "max_tokens", "system"]), TOML_VALUE),
)


@FAST
@given(
    text=st.one_of(
        st.dictionaries(st.sampled_from(CATALOG_KEYS), CATALOG_VALUE, max_size=5).map(_toml),
        st.just('name = "mine"\nextends = "smollm2-135m"\n').flatmap(lambda base: TEXT.map(lambda t: base + t)),
        TEXT,
    )
)
def test_catalog_entries(text, monkeypatch):
    home = _home_with("models/catalog/mine.toml", text)
    monkeypatch.setenv("RAGQ_HOME", str(home))
    accepted_or_refused("catalog TOML", lambda: catalog.load_catalog(load_settings(home=home)))


# PDFs: a real guide cut anywhere, its bytes flipped, random bytes behind a header, and hand-made bombs
GUIDE = DEMO_PDF.read_bytes()


def _pdf(data: bytes) -> Path:
    path = Path(tempfile.mkdtemp(prefix="rq-prop-pdf-")) / "doc.pdf"
    path.write_bytes(data)
    return path


@settings(max_examples=60 * SCALE, deadline=None)
@given(
    st.one_of(
        st.integers(0, len(GUIDE)).map(lambda n: GUIDE[:n]),
        st.tuples(st.integers(0, len(GUIDE) - 1), st.binary(min_size=1, max_size=64)).map(
            lambda t: GUIDE[: t[0]] + t[1] + GUIDE[t[0] + len(t[1]) :]
        ),
        st.binary(max_size=2000).map(lambda b: b"%PDF-1.7\n" + b),
    )
)
def test_pdfs_cut_flipped_or_random(data):
    pages = accepted_or_refused("PDF", load_document, _pdf(data))
    if pages is not None:
        assert any(p.text.strip() for p in pages)


def page_tree_bomb(kind: str) -> bytes:
    """A PDF whose page tree claims a billion pages, or whose Kids point back at themselves."""
    kids = "3 0 R" if kind == "cycle" else "4 0 R"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [3 0 R] /Count {10**9 if kind == 'count' else 1} >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {10**9 if kind == 'count' else 1} /Parent 2 0 R >>",
        "<< /Type /Page /Parent 3 0 R /MediaBox [0 0 10 10] >>",
    ]
    out, offsets = b"%PDF-1.7\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


@pytest.mark.parametrize("kind", ["count", "cycle"])
def test_page_bombs_are_refused(kind):
    assert accepted_or_refused(f"PDF bomb ({kind})", load_document, _pdf(page_tree_bomb(kind))) is None


# through the CLI: one line, a non-zero exit, and the store as it was
@settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=200), st.lists(QA_LINE, max_size=6).map(lambda ls: "\n".join(ls).encode())))
def test_a_refused_question_file_prints_one_line_and_writes_nothing(home, data):
    TRIED["CLI questions import"] += 1
    before = _question_rows(home)
    result = CliRunner().invoke(_main(), ["questions", "import", str(_write(".txt", data)), "--set", "prop"])
    if result.exit_code == 0:
        return
    assert isinstance(result.exception, SystemExit), result.exception  # refused, not crashed
    assert "Traceback" not in result.output + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert _question_rows(home) == before


def _question_rows(home: Path) -> tuple:
    """The question sets and questions stored (examples share one home, so a refused file must change nothing)."""
    import sqlite3

    if not (home / "ragq.db").exists():
        return (0, 0)
    with sqlite3.connect(home / "ragq.db") as conn:
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("question_sets", "questions"))


def _main():
    from ragq.producer.cli import main

    return main


def test_a_refused_pdf_leaves_no_index(home, tmp_path):
    bad = tmp_path / "bomb.pdf"
    bad.write_bytes(page_tree_bomb("cycle"))
    result = CliRunner().invoke(_main(), ["ingest", str(bad), "--index", "bomb"])
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert not (home / "indexes" / "bomb").exists()
