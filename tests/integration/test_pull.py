"""`ragq models pull` against a local HTTP server on 127.0.0.1: fetch, resume, verify, refuse; nothing leaves the
machine."""

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
from helpers import ragq
from tiny_gguf import TINYLLAMA_TEMPLATE, write_tiny_llama

pytestmark = pytest.mark.integration


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.files; honours Range when server.ranges; drops the connection after server.cut bytes once."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        header = self.headers.get("Range")
        if header and self.server.ranges:
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_error(416, "Requested Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if self.server.cut:
            body, self.server.cut = body[: self.server.cut], 0
            self.wfile.write(body)
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection drops mid-file
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def gguf(tmp_path_factory) -> bytes:
    return write_tiny_llama(tmp_path_factory.mktemp("srv") / "tiny.gguf", TINYLLAMA_TEMPLATE).read_bytes()


@pytest.fixture
def server(gguf):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.files, srv.ranges, srv.cut = {"/models/tiny-chat.gguf": gguf}, True, 0
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def one_line_error(proc) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_pull_by_url_verifies_and_registers(home, server, gguf):
    url = f"{server.base}/models/tiny-chat.gguf"
    sha = hashlib.sha256(gguf).hexdigest()
    out = ragq("models", "pull", "tiny", "--url", url, "--sha256", sha).stdout
    assert f"sha256 {sha}, verified" in out
    path = home / "models" / "tiny-chat.gguf"
    assert path.read_bytes() == gguf and (home / "models" / "tiny-chat.gguf.sha256").read_text().startswith(sha)
    listed = {m["name"]: m for m in json.loads(ragq("models", "list", "--json").stdout)}
    assert listed["tiny"]["source"] == {
        "kind": "url",
        "url": url,
        "file": "tiny-chat.gguf",
        "size": len(gguf),
        "sha256": sha,
    }
    assert listed["tiny"]["file"] == str(path)


def test_interrupted_download_resumes(home, server, gguf):
    url = f"{server.base}/models/tiny-chat.gguf"
    server.cut = 5_000_000
    first = ragq("models", "pull", "tiny", "--url", url, check=False)
    assert "interrupted at 5.0 of" in one_line_error(first) and "run the same command again to resume" in first.stderr
    assert (home / "models" / "tiny-chat.gguf.part").stat().st_size == 5_000_000
    out = ragq("models", "pull", "tiny", "--url", url).stdout
    assert "resumed at 5.0 MB" in out and (home / "models" / "tiny-chat.gguf").read_bytes() == gguf
    assert not (home / "models" / "tiny-chat.gguf.part").exists()


def test_server_without_range_restarts(home, server, gguf):
    url = f"{server.base}/models/tiny-chat.gguf"
    server.ranges, server.cut = False, 3_000_000
    ragq("models", "pull", "tiny", "--url", url, check=False)
    second = ragq("models", "pull", "tiny", "--url", url)
    assert "does not support resuming" in second.stderr and "resumed" not in second.stdout
    assert (home / "models" / "tiny-chat.gguf").read_bytes() == gguf


def test_catalog_entry_pull_and_checksum_mismatch(home, server, gguf):
    folder = home / "models" / "catalog"
    folder.mkdir(parents=True)
    entry = 'name = "study-tiny"\nextends = "tinyllama"\n\n[source]\nkind = "url"\nurl = "{url}"\nfile = "st.gguf"\n'
    (folder / "study-tiny.toml").write_text(
        entry.format(url=f"{server.base}/models/tiny-chat.gguf") + 'sha256 = "00"\n'
    )
    listed = {m["name"]: m["file"] for m in json.loads(ragq("models", "list", "--json").stdout)}
    assert listed["study-tiny"] == "not downloaded: run `ragq models pull study-tiny`"
    assert listed["mistral"] == "not downloaded: run `ragq models pull mistral`"
    refused = ragq("enqueue", "--model", "study-tiny", "--index", "x", "--questions", "y", check=False)
    assert "is not downloaded: run `ragq models pull study-tiny`" in one_line_error(refused)
    bad = ragq("models", "pull", "study-tiny", check=False)
    assert "checksum mismatch" in one_line_error(bad) and "was not registered" in bad.stderr
    assert (home / "models" / "st.gguf.rejected").exists() and not (home / "models" / "st.gguf").exists()
    (folder / "study-tiny.toml").write_text(entry.format(url=f"{server.base}/models/tiny-chat.gguf"))
    (home / "models" / "st.gguf.rejected").unlink()
    ragq("models", "pull", "study-tiny")
    assert json.loads(ragq("models", "show", "study-tiny", "--json").stdout)["file"] == str(home / "models" / "st.gguf")


def test_not_found_and_not_a_gguf(home, server):
    missing = ragq("models", "pull", "x", "--url", f"{server.base}/models/nothing.gguf", check=False)
    assert "answered HTTP 404" in one_line_error(missing)
    server.files["/notes.gguf"] = b"PK\x03\x04" + b"\0" * 5000
    wrong = ragq("models", "pull", "x", "--url", f"{server.base}/notes.gguf", check=False)
    assert "not a GGUF file" in one_line_error(wrong) and "was not registered" in wrong.stderr
    assert "x" not in {m["name"] for m in json.loads(ragq("models", "list", "--json").stdout)}


def test_disk_full_keeps_the_partial_file(home, server):
    models = home / "models"
    models.mkdir()
    (models / "tiny-chat.gguf.part").symlink_to(Path("/dev/full"))
    full = ragq("models", "pull", "tiny", "--url", f"{server.base}/models/tiny-chat.gguf", check=False)
    assert "the disk is full" in one_line_error(full) and "run the same command again to resume" in full.stderr
