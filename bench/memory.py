"""Memory: a worker's peak RSS against its GGUF file and KV cache, per catalog model, and where the memory goes.

Peak RSS is what each result records (the worker's own peak: on Linux the high-water mark of its address space,
which exec resets, so nothing of the process that started it) after a real `ragq run` of the demo set at ratio 0.3,
one model at a time, and after `ragq demo` in a fresh home, whose parent has ingested the guide (and so holds the
embedder and the index) before it starts each worker. The breakdown loads a worker's parts one after another in a
fresh process and reads its resident memory after each (psutil): the Python start, the worker's imports, the
llama.cpp model, its warm-up generation, the index, the index's scorer (its own embedder,
int8 by default; fp32 for an index of the dynamic int8 recipe), the index's own query embedder (the same session
where the scorer is the index's own; a second one otherwise), then one job (the demo set's first question: retrieval, the answer, the expert answer read
teacher-forced and scored); freed heap pages are handed back after loading and after the job (glibc's
malloc_trim), as a worker does; `peak` is that process's high-water mark. KV cache: llama.cpp's f16 cache at the
catalog's n_ctx, from the GGUF's metadata (producer/memory.py `kv_cache_mb`, what `ragq run` plans with). Goal: peak
<= GGUF + KV cache + 350 MB."""

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
from ragq.shared.corpus.embedders import Embedders
from ragq.shared.corpus.index import load_index
from ragq.shared.models.placement import Placement
from ragq.shared.rag.llm import LlamaRunner
from ragq.shared.rag.pipeline import answer_question
from ragq.shared.records import Ask
settings = load_settings()
spec = catalog.get_model(settings, sys.argv[1])
runner = LlamaRunner(files.model_path(settings, spec), spec, Placement(n_threads=2))
mark("model")
runner.warmup()
mark("warmup")
index = load_index(settings.indexes_dir, "demo")
mark("index")
embedders = Embedders(settings, 2)
embedders.scorer_for(index.manifest)
mark("scorer")
embedders.for_index(index.manifest)
from ragq.shared.usage import return_free_memory
return_free_memory()  # as a worker does once loaded, and after each job
mark("query embedder")
from ragq.producer.memory import kv_cache_mb
out["kv_mb"] = kv_cache_mb(runner.llm.metadata, runner.params.n_ctx)
ask = Ask(question=sys.argv[2], reference=sys.argv[3], ratio=0.3)
start = time.perf_counter()
outcome = answer_question(ask, index, embedders, runner)
out["job_s"], out["expert_s"] = time.perf_counter() - start, outcome.expert.seconds
return_free_memory()
mark("one job")
from ragq.shared.usage import peak_rss_mb
out["peak"] = peak_rss_mb()
print(json.dumps(out))
"""
STAGES = ["python", "imports", "model", "warmup", "index", "scorer", "query embedder", "one job"]
ALLOWANCE_MB = 350


def gguf_mb(home, model: str) -> float:
    from ragq.shared.config import load_settings
    from ragq.shared.models import catalog, files

    settings = load_settings(home=home)
    return files.model_path(settings, catalog.get_model(settings, model)).stat().st_size / 2**20


def first_question(home) -> tuple[str, str]:
    from ragq.producer.questions import parse_qa_file

    first = parse_qa_file(home / "one.txt")[0]
    return first.question, first.answer


def breakdown(home, model: str) -> dict:
    env = env_for(home)
    question, reference = first_question(home)
    args = [sys.executable, "-c", PROBE, model, question, reference]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"memory probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_peak(home, model: str, questions: str) -> float:
    env = env_for(home)
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
        peaks = spread([worker_peak(home, model, questions) for _ in range(ctx.repeats)])
        parts = breakdown(home, model)
        steps = {s: parts[s] - parts[prev] for prev, s in zip(STAGES, STAGES[1:], strict=False)}
        line = size + parts["kv_mb"] + ALLOWANCE_MB
        worst = max(peaks["max"], from_demo.get(model, 0.0))
        data.append({"model": model, "gguf_mb": size, "peak_rss_mb": peaks, "probe": parts, "line_mb": line,
                     "demo_peak_rss_mb": from_demo.get(model)})  # fmt: skip
        rows.append([model, f"{size:.0f}", f"{parts['kv_mb']:.0f}", f"{line:.0f}", fmt(peaks, 0),
                     f"{from_demo[model]:.0f}" if model in from_demo else "-", "yes" if worst <= line else "no",
                     f"{parts['python']:.0f}", *(f"{steps[s]:+.0f}" for s in STAGES[1:]), f"{parts['peak']:.0f}",
                     f"{100 * parts['expert_s'] / parts['job_s']:.1f} %"])  # fmt: skip
    header = ["model", "GGUF MB", "KV MB", "line MB", "worker peak MB (ragq run)", "from ragq demo", "under the line"]
    header += ["python", *(f"+{s}" for s in STAGES[1:]), "probe peak", "scoring share of the job"]
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            f"MiB; line: GGUF + KV cache + {ALLOWANCE_MB} MB; worker peak: median (min-max) over {ctx.repeats} runs "
            f"of the `{questions}` set; from ragq demo: the highest peak among the model's results of one `ragq demo` "
            "(left out of --quick); breakdown: resident memory added by each step, one probe process per model "
            "(the torch runtime, +515 MB for the embedder alone, was measured 2026-11-30: bench/EARLIER.md).",
            table(header, rows),
        ]
    )
    return Section("memory", "Memory: worker peak RSS against the GGUF file and KV cache", text, {"rows": data})
