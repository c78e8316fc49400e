"""Memory: a worker's peak RSS against its GGUF file, per catalog model, and where the memory goes.

Peak RSS is what each result records (the worker's own peak: on Linux the high-water mark of its address space,
which exec resets, so nothing of the process that started it) after a real `ragq run` of the demo set at ratio 0.3,
one model at a time, and after `ragq demo` in a fresh home, whose parent has ingested the guide (and so holds the
embedder and the index) before it starts each worker. The breakdown loads a worker's parts one after another in a fresh
process and reads its resident memory after each (psutil): the Python start, the worker's imports, the llama.cpp
model, its warm-up generation, the embedder (loaded and used once), the index. Goal: peak <= GGUF + 0.5 GB."""

import json
import subprocess
import sys

from bench.common import Context, Section, env_for, fmt, ragq, spread, table
from bench.prepare import demo_home

PROBE = r"""
import json, os, sys, time
import psutil
proc = psutil.Process()
out = {}
mark = lambda name: out.__setitem__(name, proc.memory_info().rss / 2**20)
mark("python")
from ragq.worker import app, runtime  # everything a worker imports before it loads anything
mark("imports")
from ragq.shared.models import catalog, files
from ragq.shared.config import load_settings
from ragq.shared.corpus.embedding import Embedder
from ragq.shared.corpus.index import load_index
from ragq.shared.models.placement import Placement
from ragq.shared.rag.llm import LlamaRunner
settings = load_settings()
spec = catalog.get_model(settings, sys.argv[1])
runner = LlamaRunner(files.model_path(settings, spec), spec, Placement(n_threads=2))
mark("model")
runner.warmup()
mark("warmup")
embedder = Embedder.from_settings(settings, 2)
embedder.encode(["warm up"])
mark("embedder")
load_index(settings.indexes_dir, "demo")
mark("index")
from ragq.shared.usage import peak_rss_mb
out["peak"] = peak_rss_mb()
print(json.dumps(out))
"""
STAGES = ["python", "imports", "model", "warmup", "embedder", "index"]


def gguf_mb(home, model: str) -> float:
    from ragq.shared.config import load_settings
    from ragq.shared.models import catalog, files

    settings = load_settings(home=home)
    return files.model_path(settings, catalog.get_model(settings, model)).stat().st_size / 2**20


def breakdown(home, model: str, runtime: str) -> dict:
    env = env_for(home, RAGQ_EMBEDDER_RUNTIME=runtime)
    done = subprocess.run([sys.executable, "-c", PROBE, model], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"memory probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_peak(home, model: str, runtime: str, questions: str) -> float:
    env = env_for(home, RAGQ_EMBEDDER_RUNTIME=runtime)
    args = ["run", "--model", model, "--ratio", "0.3", "--index", "demo", "--questions", questions, "--new-run"]
    out = json.loads(ragq(home, *args, "--json", env=env))
    return max(r["peak_rss_mb"] for r in out["results"])


def demo_peaks(ctx: Context) -> dict[str, float]:
    """Each model's highest recorded peak in one `ragq demo` (both catalog models, ratios 0.3 and 0.7) in a new home."""
    home = ctx.home("memory-demo")
    out = json.loads(ragq(home, "demo", "--json"))
    peaks: dict[str, float] = {}
    for r in out["results"]:
        peaks[r["model"]] = max(peaks.get(r["model"], 0.0), r["peak_rss_mb"])
    return peaks


def run(ctx: Context) -> Section:
    home = demo_home(ctx)
    questions = "one" if ctx.quick else "demo"
    from_demo = {} if ctx.quick else demo_peaks(ctx)  # the demo answers 32 questions: left out of the quick run
    rows, data = [], []
    for model in ctx.models:
        size = gguf_mb(home, model)
        for runtime in ("torch", "onnx"):
            peaks = spread([worker_peak(home, model, runtime, questions) for _ in range(ctx.repeats)])
            parts = breakdown(home, model, runtime)
            steps = {s: parts[s] - parts[prev] for prev, s in zip(STAGES, STAGES[1:], strict=False)}
            over = peaks["median"] - size
            demo_peak = from_demo.get(model) if runtime == "onnx" else None  # the demo runs the default runtime
            data.append({"model": model, "runtime": runtime, "gguf_mb": size, "peak_rss_mb": peaks, "probe": parts,
                         "demo_peak_rss_mb": demo_peak})  # fmt: skip
            rows.append(
                [
                    model,
                    runtime,
                    f"{size:.0f}",
                    fmt(peaks, 0),
                    f"{demo_peak:.0f}" if demo_peak else "-",
                    f"{over:+.0f}",
                    "yes" if over <= 512 else "no",
                    f"{parts['python']:.0f}",
                    *(f"{steps[s]:+.0f}" for s in STAGES[1:]),
                ]
            )
    header = ["model", "embedder", "GGUF MB", "worker peak MB (ragq run)", "from ragq demo", "peak - GGUF", "<= +512"]
    header += ["python", *(f"+{s}" for s in STAGES[1:])]
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            f"MiB; worker peak: median (min-max) over {ctx.repeats} runs of the `{questions}` set; from ragq demo: the "
            "highest peak among the model's results of one `ragq demo` (onnx, the default; left out of --quick); "
            "breakdown: resident memory added by each step, one probe process per row.",
            table(header, rows),
        ]
    )
    return Section("memory", "Memory: worker peak RSS against the GGUF file", text, {"rows": data})
