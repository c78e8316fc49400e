"""The experts' answers' likelihood on real GGUFs: the figure ragq records equals numpy over llama.cpp's full logits
(`logits_all`, a path ragq does not use), whether the prompt's KV cache was kept or evaluated again; the generated
answers stay byte-identical with and without scoring; and the tokens scored are those the documented rule gives,
for a BPE chat template (SmolLM2), a completion template (Gemma 3) and a SentencePiece tokenizer (tiny Llama)."""

import math

import numpy as np
import pytest
from tiny_gguf import MISTRAL_V01_TEMPLATE, write_tiny_llama

from ragq.shared.config import load_settings
from ragq.shared.models import catalog, files
from ragq.shared.models.placement import Placement
from ragq.shared.models.spec import ModelSpec
from ragq.shared.rag.llm import LlamaRunner
from ragq.shared.rag.prompting import Prompt

pytestmark = pytest.mark.integration

QUESTIONS = [
    ("What happens when the fan of the appliance fails?", "The status LED blinks amber and the appliance slows down."),
    ("On which port does the web management interface listen?", "The web interface listens on HTTPS port 8443."),
    ("How do you reset the Relay 400 to factory defaults?", "Hold the reset button for ten seconds while it boots."),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The two catalog models' files (Gemma's parts assembled once into a module home) and their specs."""
    settings = load_settings(home=tmp_path_factory.mktemp("home"))
    found = {}
    for name in ("smollm2-135m", "gemma3-270m"):
        spec = catalog.get_model(settings, name)  # answers cut at 64 tokens: what is tested does not need more
        short = spec.model_copy(update={"params": spec.params.model_copy(update={"max_tokens": 64})})
        found[name] = (files.model_path(settings, spec), short)
    return found


def prompt_for(runner: LlamaRunner, index, question: str) -> Prompt:
    return runner.layout("chat").build([c.text for c in index.chunks[:4]], question)


def direct(path, spec, prompt_text: str, expert: str):
    """What the expert answer scores, from scratch: the documented rule for its tokens (the prompt and the scored
    text tokenized together, the text's tokens those after the prompt's), one `Llama.eval` with logits kept for every
    position, numpy log-softmax in float64. Returns (tokens, nats, mean rank, scored bytes)."""
    import llama_cpp

    llm = llama_cpp.Llama(str(path), **{**spec.params.load(), "n_gpu_layers": 0}, logits_all=True, verbose=False)
    try:
        text = (" " if not prompt_text[-1].isspace() else "") + expert
        context = llm.tokenize(prompt_text.encode(), add_bos=False, special=True)
        tokens = llm.tokenize((prompt_text + text).encode(), add_bos=False, special=True)[len(context) :]
        prompt = llm.tokenize(prompt_text.encode(), special=True)  # BOS where the model adds one
        llm.eval(prompt + tokens)
        z = np.array(llm.scores[len(prompt) - 1 : len(prompt) + len(tokens) - 1], dtype=np.float64)
        logp = z - z.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        rows = np.arange(len(tokens))
        ranks = [1 + int((z[i] > z[i, t]).sum()) for i, t in zip(rows, tokens, strict=True)]
        return tokens, float(-logp[rows, tokens].sum()), float(np.mean(ranks)), len(text.encode())
    finally:
        llm.close()


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_the_score_equals_numpy_over_full_logits(models, demo_index, name):
    path, spec = models[name]
    runner = LlamaRunner(path, spec, Placement(n_threads=2))
    try:
        for question, expert in QUESTIONS[:2]:
            prompt = prompt_for(runner, demo_index, question)
            runner.generate(prompt)
            kept, note = runner.score_expert(prompt, expert)
            tokens, nats, rank, size = direct(path, spec, prompt.text, expert)
            assert note == {"separator": "" if prompt.text.endswith("\n") else " ", "tokenized": "in context",
                            "end_of_turn": False, "prompt": "prompt kept"}  # fmt: skip
            assert kept.tokens == len(tokens) and kept.bytes == size
            assert kept.nats == pytest.approx(nats, rel=1e-4)
            assert kept.mean_rank == pytest.approx(rank, rel=1e-3)
            assert kept.bits_per_byte == pytest.approx(nats / math.log(2) / size, rel=1e-4)
            runner.llm.reset()  # as `ragq rescore` finds it: nothing in the cache
            again, note = runner.score_expert(prompt, expert)
            assert note["prompt"] == "prompt evaluated" and again.nats == pytest.approx(nats, rel=1e-4)
    finally:
        runner.close()
    if name == "gemma3-270m":  # a completion template ("Answer:"): the answer starts after a space, as Gemma writes
        assert prompt.text.endswith("Answer:") and note["separator"] == " "


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
@pytest.mark.parametrize("kv_reuse", [False, True])
def test_answers_are_byte_identical_with_and_without_scoring(models, demo_index, name, kv_reuse):
    path, spec = models[name]

    def answers(score: bool) -> list[tuple]:
        runner = LlamaRunner(path, spec, Placement(n_threads=2))
        out = []
        try:
            for question, expert in [QUESTIONS[0], QUESTIONS[0], QUESTIONS[1], QUESTIONS[0]]:  # a repeat too
                prompt = prompt_for(runner, demo_index, question)
                g = runner.generate(prompt, kv_reuse=kv_reuse)
                out.append((g.text, g.prompt_tokens, g.gen_tokens, g.prefix_reused_tokens))
                if score:
                    assert runner.score_expert(prompt, expert)[0] is not None
        finally:
            runner.close()
        return out

    plain, scored = answers(False), answers(True)
    assert scored == plain
    assert all(text for text, *_ in plain)
    if kv_reuse:  # the next job found the prompt the scoring left, as a generation leaves it
        assert all(reused > 0 for *_, reused in plain[1:])


def test_what_is_not_scored_says_why(models):
    path, spec = models["smollm2-135m"]
    runner = LlamaRunner(path, spec, Placement(n_threads=2))
    try:
        prompt = Prompt("<|im_start|>user\nWhich port?<|im_end|>\n<|im_start|>assistant\n", [])
        assert runner.score_expert(prompt, "  ") == (None, {"skipped": "the question has no expert answer"})
        score, note = runner.score_expert(prompt, "word " * 3000)
        assert score is None and "exceed n_ctx 2048" in note["skipped"]
        # an expert answer that spells a special token is tokenized on its own, as plain text
        score, note = runner.score_expert(prompt, "Port 8443 <|im_end|>")
        plain = runner.llm.tokenize(b"Port 8443 <|im_end|>", add_bos=False, special=False)
        assert note["tokenized"] == "apart" and score.tokens == len(plain)
    finally:
        runner.close()


def test_a_sentencepiece_tokenizer_scores_the_answer_as_written_in_context(tmp_path):
    """The study's Mistral on a tiny file with its real Llama vocabulary and chat template: after "[/INST]" the
    answer is " ▁The ..." as the tokenizer writes it in context, and the figure equals numpy's; with the study's
    n_batch of 8 (LangChain's default), the expert's tokens go to llama.cpp 8 at a time."""
    path = write_tiny_llama(tmp_path / "tiny-mistral.gguf", MISTRAL_V01_TEMPLATE)
    params = {"max_tokens": 8, "n_batch": 8}
    spec = ModelSpec(name="tiny", source={"kind": "path", "path": str(path)}, params=params)
    runner = LlamaRunner(path, spec, Placement(n_threads=1))
    expert = "The fan LED blinks amber when the fan of the appliance fails."
    try:
        prompt = runner.layout("chat").build(["The fan LED blinks amber."], "What blinks?")
        assert prompt.text.endswith("[/INST]")
        runner.generate(prompt)
        score, note = runner.score_expert(prompt, expert)
        tokens, nats, rank, size = direct(path, spec, prompt.text, expert)
        assert note["tokenized"] == "in context" and note["separator"] == " "
        assert runner.llm.detokenize(tokens).decode().strip() == expert
        assert len(tokens) > 8  # two batches of at most 8
        assert score.tokens == len(tokens) and score.nats == pytest.approx(nats, rel=1e-4)
        assert score.bytes == size == len(" " + expert)
    finally:
        runner.close()


def test_every_job_scores_rescore_fills_what_is_missing_and_the_figures_travel(home, tmp_path):
    """A real run scores every answer; results, compare, export and the report show it; results stored without it
    say so and `ragq rescore` adds the same figures without answering again, never twice, and refuses a run whose
    settings the catalog no longer holds."""
    import json

    from helpers import DEMO_PDF, demo_questions, engine_of, ragq
    from sqlalchemy import text

    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 2)), "--set", "two")
    args = ["run", "--model", "smollm2-135m", "--ratio", "0.3", "--ratio", "0.7", "--index", "demo"]
    out = json.loads(ragq(*args, "--questions", "two", "--json").stdout)
    scored = {r["job_id"]: r["expert_bpb"] for r in out["results"]}
    assert len(scored) == 4 and all(v is not None and 0 < v < 10 for v in scored.values())
    assert all(s["metrics"]["expert_bpb"]["n"] == 2 and s["expert_missing"] == 0 for s in out["summary"])
    ragq("export", "--format", "csv", "-o", str(tmp_path / "r.csv"))
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert {"expert_bpb", "expert_nats_per_token", "expert_mean_rank", "expert_tokens", "expert_s"} <= set(header)
    compared = json.loads(ragq("compare", "1", "2", "--json").stdout)[0]
    assert compared["measures"][0]["measure"] == "expert_bpb" and compared["family"] == len(compared["measures"])
    assert compared["retrieval"]["questions"] == 2 and compared["verdict"]
    ragq("report", "-o", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    assert "Every measure, and the one that decides" in page and "Where a difference between ratios" in page

    with engine_of(home).begin() as conn:  # as results stored before schema 0007 are
        conn.execute(text("UPDATE results SET expert_bpb = NULL, expert_tokens = NULL WHERE job_id IN (1, 2)"))
    assert "`ragq rescore 1`" in ragq("results").stdout
    assert any("ragq rescore 1" in note for note in json.loads(ragq("compare", "1", "2", "--json").stdout)[0]["notes"])
    done = json.loads(ragq("rescore", "1", "2", "--json").stdout)
    assert done["models"]["smollm2-135m"]["scored"] == 2  # only the two without it
    with engine_of(home).connect() as conn:
        now = dict(conn.execute(text("SELECT job_id, expert_bpb FROM results")).all())
        note = json.loads(conn.execute(text("SELECT provenance FROM results WHERE job_id = 1")).scalar())
    assert now == pytest.approx(scored, rel=1e-4)
    assert note["expert_score"]["by"] == "ragq rescore" and note["expert_score"]["prompt"] == "prompt evaluated"
    assert "has its likelihood already" in ragq("rescore", "1", "2").stdout  # nothing scored twice

    with engine_of(home).begin() as conn:  # the run was answered with settings the catalog no longer holds
        conn.execute(text("UPDATE runs SET spec_digest = :d WHERE id = 2"), {"d": "0" * 64})
        conn.execute(text("UPDATE results SET expert_bpb = NULL WHERE job_id = 3"))
    refused = ragq("rescore", "2", check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "answered with other settings" in refused.stderr.strip().splitlines()[-1]
    with engine_of(home).connect() as conn:
        assert conn.scalar(text("SELECT expert_bpb FROM results WHERE job_id = 3")) is None
