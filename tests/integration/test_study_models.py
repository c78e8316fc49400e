"""The study's models, on tiny real GGUFs that carry their real tokenizer and chat templates: prompts rendered
and tokenized for both prompt kinds, a template-less file refused, every demo question answered through real
workers, and a changed catalog setting making a new run."""

import json

import pytest
from helpers import DEMO_PDF, DEMO_QA, demo_questions, engine_of, ragq
from sqlalchemy import select
from tiny_gguf import MISTRAL_V01_TEMPLATE, TINYLLAMA_TEMPLATE, write_tiny_llama

from ragq.shared.config import load_settings
from ragq.shared.models import catalog, files
from ragq.shared.models.placement import Placement
from ragq.shared.models.spec import SYSTEM_TEXT
from ragq.shared.rag.llm import LlamaRunner
from ragq.shared.store.schema import Job, Result, Run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ggufs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    return {
        "mistral": write_tiny_llama(folder / "tiny-mistral.gguf", MISTRAL_V01_TEMPLATE),
        "tinyllama": write_tiny_llama(folder / "tiny-tinyllama.gguf", TINYLLAMA_TEMPLATE, seed=1),
        "none": write_tiny_llama(folder / "tiny-bare.gguf", None, seed=2),
    }


def register(settings, ggufs, max_tokens: int = 12) -> None:
    """tiny-mistral and tiny-tinyllama: the catalog's study entries, with a tiny file and short answers."""
    folder = catalog.user_catalog_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    for study in ("mistral", "tinyllama"):
        (folder / f"tiny-{study}.toml").write_text(
            f'name = "tiny-{study}"\nextends = "{study}"\n\n[source]\nkind = "path"\npath = "{ggufs[study]}"\n\n'
            f"[params]\nmax_tokens = {max_tokens}\n"
        )


CHUNKS, QUESTION = ["The fan LED blinks amber.", "Port 8443 serves HTTPS."], "What blinks?"
EXPECTED = {
    ("tiny-mistral", "chat"): f"[INST] {SYSTEM_TEXT}\n\n{CHUNKS[0]}\n\n{CHUNKS[1]}\n\n{QUESTION} [/INST]",
    ("tiny-mistral", "study"): f"[INST] {SYSTEM_TEXT}\n{CHUNKS[0]}\n\n{CHUNKS[1]} [/INST]\n{QUESTION}",
    ("tiny-tinyllama", "chat"): (
        f"<|system|>\n{SYSTEM_TEXT}\n\n{CHUNKS[0]}\n\n{CHUNKS[1]}</s>\n<|user|>\n{QUESTION}</s>\n<|assistant|>\n"
    ),
    ("tiny-tinyllama", "study"): (
        f"<|system|>\n{SYSTEM_TEXT}\n{CHUNKS[0]}\n\n{CHUNKS[1]}</s>\n<|user|>\n{QUESTION}</s>\n<|assistant|>\n"
    ),
}


@pytest.mark.parametrize("model,kind", sorted(EXPECTED))
def test_prompts_render_and_tokenize_as_the_study_laid_them_out(home, ggufs, model, kind):
    settings = load_settings()
    register(settings, ggufs)
    spec = catalog.get_model(settings, model)
    runner = LlamaRunner(files.model_path(settings, spec), spec, Placement(n_threads=1))
    prompt = runner.layout(kind).build(CHUNKS, QUESTION)
    assert prompt.text == EXPECTED[(model, kind)]
    tokens = runner.llm.tokenize(prompt.text.encode(), special=True)  # as create_completion tokenizes
    bos, eos = runner.llm.token_bos(), runner.llm.token_eos()
    assert tokens[0] == bos and tokens.count(bos) == 1  # one BOS: Mistral's template's own is not doubled
    # token by token: <s>, then each piece of text between </s> end-of-sequence tokens, as llama.cpp's SentencePiece
    # tokenizer splits a prompt at special tokens (so </s> is the EOS token, never the characters "</s>")
    expected = [bos]
    for i, piece in enumerate(prompt.text.split("</s>")):
        expected += ([eos] if i else []) + (runner.llm.tokenize(piece.encode(), add_bos=False) if piece else [])
    assert tokens == expected
    if model == "tiny-mistral":
        inst = runner.llm.tokenize(b"[INST]", add_bos=False)
        assert tokens[1 : 1 + len(inst)] == inst  # the prompt opens with [INST] right after <s>
    if (model, kind) == ("tiny-mistral", "chat"):
        assert runner.layout(kind).source.endswith(
            "folded into the first user turn (the template refuses a system turn)"
        )


def test_models_add_refuses_a_file_without_chat_template(home, ggufs):
    refused = ragq("models", "add", "bare", "--path", str(ggufs["none"]), check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "--template" in refused.stderr
    assert not (home / "models" / "catalog" / "bare.toml").exists()
    ragq("models", "add", "bare", "--path", str(ggufs["none"]), "--template", "{system}\n{context}\nQ: {question}\nA:")
    ragq("models", "add", "mist", "--path", str(ggufs["mistral"]))  # a template without a system role is accepted


def test_models_add_refuses_a_template_that_fails(home, tmp_path):
    broken = write_tiny_llama(tmp_path / "broken.gguf", "{{ raise_exception('this template is broken') }}")
    refused = ragq("models", "add", "broken", "--path", str(broken), check=False)
    assert refused.returncode != 0 and "this template is broken" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_both_study_models_answer_every_demo_question_in_both_prompt_kinds(home, ggufs):
    register(load_settings(), ggufs)
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    ragq("questions", "import", str(DEMO_QA), "--set", "demo")
    args = ["run", "--model", "tiny-mistral", "--model", "tiny-tinyllama", "--prompt", "chat", "--prompt", "study"]
    out = json.loads(ragq(*args, "--index", "demo", "--questions", "demo", "--threads", "1", "--json").stdout)
    summaries = out["summary"]
    assert sorted((m["model"], m["prompt_kind"]) for m in summaries) == sorted(EXPECTED)
    questions = len([line for line in DEMO_QA.read_text().splitlines() if line.startswith("Q:")])
    assert all((m["done"], m["failed"], m["jobs"]) == (questions, 0, questions) for m in summaries)
    assert len({m["spec_id"] for m in summaries}) == 4  # prompt kind and model both in the spec digest
    with engine_of(home).connect() as conn:
        rows = conn.execute(
            select(Result.prompt, Result.provenance, Run.prompt_kind)
            .select_from(Result)
            .join(Job, Result.job_id == Job.id)
            .join(Run, Job.run_id == Run.id)
        ).all()
    for prompt, prov, kind in rows:
        assert prov["prompt"]["kind"] == kind and prompt.startswith(("[INST]", "<|system|>"))
        assert prov["llama_cpp"]["sampling"]["repeat_penalty"] == 1.1 and prov["spec"]["extends"] in (
            "mistral",
            "tinyllama",
        )


def test_a_changed_setting_makes_a_new_run_and_says_what_changed(home, ggufs, tmp_path):
    """The stale-run case: edit the model's TOML, run again: a new run with the new answers, the old one intact."""
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 3)), "--set", "three")
    ragq("models", "add", "mine", "--path", str(ggufs["tinyllama"]), "--max-tokens", "24")
    args = ["run", "--model", "mine", "--index", "demo", "--questions", "three", "--threads", "1"]
    ragq(*args)
    entry = home / "models" / "catalog" / "mine.toml"
    entry.write_text(entry.read_text().replace("max_tokens = 24", "max_tokens = 7"))
    second = ragq(*args)
    assert "mine: max_tokens 24 -> 7: new runs" in second.stdout
    third = ragq(*args)
    assert "new runs" not in third.stdout  # nothing changed since: the same run
    with engine_of(home).connect() as conn:
        runs = conn.execute(select(Run.id, Run.spec_digest, Run.spec).order_by(Run.id)).all()
        tokens = conn.execute(select(Job.run_id, Result.gen_tokens).join(Result)).all()
    assert len(runs) == 2 and runs[0].spec_digest != runs[1].spec_digest
    assert (runs[0].spec["params"]["max_tokens"], runs[1].spec["params"]["max_tokens"]) == (24, 7)
    by_run = {run_id: sorted(t for r, t in tokens if r == run_id) for run_id, _ in {(r, 0) for r, _ in tokens}}
    # random weights never stop early; llama.cpp's counter omits the last token (sampled, never evaluated)
    assert by_run[runs[0].id] == [23, 23, 23] and by_run[runs[1].id] == [6, 6, 6]
    shown = json.loads(ragq("models", "show", "mine", "--runs", "--json").stdout)
    assert [h["runs"] for h in shown["runs"]] == [[runs[0].id], [runs[1].id]]
