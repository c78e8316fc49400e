"""Documents as users have them: URLs (downloaded once, with limits), encrypted PDFs, folders of several."""

import http.server
import json
import threading

import pytest
from helpers import DEMO_PDF, ragq

pytestmark = pytest.mark.integration


class Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - the http.server API
        Handler.requests.append(self.path)
        if self.path == "/guide.pdf":
            body, length = DEMO_PDF.read_bytes(), True
        elif self.path == "/big.pdf":
            body, length = b"%PDF-1.4\n" + b"0" * (3 * 2**20), True
        elif self.path == "/big-undeclared.pdf":
            body, length = b"%PDF-1.4\n" + b"0" * (3 * 2**20), False
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.requests.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_url_is_downloaded_once_and_ingested(home, server):
    out = json.loads(ragq("ingest", f"{server}/guide.pdf", "--index", "web", "--json").stdout)
    assert out["chunk_count"] == 8 and out["sources"][0]["name"].endswith("-guide.pdf")
    again = json.loads(ragq("ingest", f"{server}/guide.pdf", "--index", "web", "--json").stdout)
    assert again["unchanged"] and Handler.requests == ["/guide.pdf"]
    assert len(list((home / "downloads").iterdir())) == 1


@pytest.mark.parametrize(
    "path,phrase,streamed",
    [
        ("/big.pdf", "larger than the download limit of 1 MB", False),  # refused on its declared size
        ("/big-undeclared.pdf", "larger than the download limit of 1 MB", True),  # counted while it was written
        ("/missing.pdf", "answered HTTP 404", False),
    ],
)
def test_bad_downloads(home, server, path, phrase, streamed):
    """One line, no index, and nothing half-written: a download cut off at the limit while it was being written
    leaves its folder empty (its temporary file removed); one refused before any byte leaves no folder at all."""
    proc = ragq("ingest", server + path, "--index", "web", check=False, env={"RAGQ_DOWNLOAD_MAX_MB": "1"})
    assert proc.returncode == 1 and phrase in proc.stderr and "Traceback" not in proc.stderr
    assert not (home / "indexes" / "web").exists()
    downloads = home / "downloads"
    assert downloads.exists() == streamed and (not streamed or list(downloads.iterdir()) == [])


def test_unreachable_url(home):
    proc = ragq(
        "ingest", "http://127.0.0.1:1/guide.pdf", "--index", "web", check=False, env={"RAGQ_DOWNLOAD_TIMEOUT_S": "5"}
    )
    assert proc.returncode == 1 and "could not download" in proc.stderr


def test_encrypted_pdf_with_empty_password_and_several_documents(home, tmp_path):
    import pypdf

    writer = pypdf.PdfWriter(clone_from=str(DEMO_PDF))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    writer.write(str(tmp_path / "locked.pdf"))
    (tmp_path / "notes.md").write_text("# Notes\n\nThe Relay 400 ships with a rack kit and a console cable.\n")
    out = json.loads(ragq("ingest", str(tmp_path), "--index", "mixed", "--json").stdout)
    assert {s["name"] for s in out["sources"]} == {"locked.pdf", "notes.md"}
    chunks = json.loads(ragq("index", "export", "mixed", "--json").stdout)
    assert {c["source"] for c in chunks} == {"locked.pdf", "notes.md"} and len(chunks) == 9
