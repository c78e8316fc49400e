"""What every bench section shares: the machine it ran on, statistics over repeats, ragq as a user runs it."""

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"  # the team folder beside the checkout, when it is there
FINANCEBENCH = DATA / "financebench"
MODELS = ["smollm2-135m", "gemma3-270m"]


@dataclass
class Context:
    quick: bool
    work: Path  # scratch homes live here
    repeats: int
    models: list[str] = field(default_factory=lambda: list(MODELS))
    shared: dict = field(default_factory=dict)  # what one section leaves for the next (an ingested home)

    def home(self, name: str, fresh: bool = True) -> Path:
        path = self.work / name
        if fresh and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class Section:
    name: str
    title: str
    text: str  # markdown: what was measured, the table(s), what it shows
    data: dict


def machine() -> dict:
    cores = os.cpu_count() or 1
    try:
        import psutil

        physical, memory = psutil.cpu_count(logical=False), round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        physical, memory = None, None
    return {
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpus": cores,
        "physical_cores": physical,
        "memory_gib": memory,
        "python": platform.python_version(),
    }


def versions() -> dict:
    names = [
        "llama-cpp-python",
        "sentence-transformers",
        "torch",
        "onnxruntime",
        "faiss-cpu",
        "celery",
        "langchain-core",
    ]
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        import llama_cpp

        out["llama.cpp features"] = llama_features(llama_cpp.llama_print_system_info().decode(errors="replace"))
    except ImportError:
        out["llama.cpp features"] = None
    try:
        out["ragq"] = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        out["ragq"] = None
    return out


def llama_features(system_info: str) -> str:
    """The instruction sets and backends a llama.cpp build uses, from llama_print_system_info(): "AVX2 FMA ..."."""
    from ragq.shared.store.results import features

    return " ".join(features(system_info))


def stamp() -> dict:
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "versions": versions()}


def spread(values: list[float]) -> dict:
    """median with min-max over repeats: the only way a figure is quoted."""
    values = [float(v) for v in values]
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s: dict, digits: int = 1, unit: str = "") -> str:
    if s["n"] == 1:
        return f"{s['median']:.{digits}f}{unit}"
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def env_for(home: Path, **extra: str) -> dict:
    env = {**os.environ, "RAGQ_HOME": str(home), **extra}
    env.pop("RAGQ_BROKER_URL", None)  # the embedded broker unless a section says otherwise
    env.pop("RAGQ_DATABASE_URL", None)
    return env


def ragq(home: Path, *args: str, env: dict | None = None) -> str:
    cmd = [sys.executable, "-m", "ragq.producer.cli", *args]
    done = subprocess.run(cmd, env=env or env_for(home), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"ragq {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def timed_ragq(home: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = ragq(home, *args)
    return time.perf_counter() - start, out


def demo_files():
    """The demo guide and its questions, as files (they ship inside the package)."""
    demo = resources.files("ragq.producer.demo")
    return resources.as_file(demo / "guide.pdf"), resources.as_file(demo / "questions.txt")


def db_rows(home: Path, sql: str, params: dict | None = None) -> list:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{home / 'ragq.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params or {}).all()
    engine.dispose()
    return rows


def save(section: Section, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    payload = {**stamp(), "name": section.name, "title": section.title, "text": section.text, **section.data}
    (folder / f"{section.name}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
