"""Generated question sets, the pure parts: spans of a sentence as reference answers, the cloze question, the
filters, the pages rebuilt from chunks and visited stratified, the grammar's output read back, and the agreement of a
generated set with an expert set (Kendall's tau from scipy, verdicts as `ragq compare` makes them)."""

import random

import numpy as np
import pytest
from scipy.stats import kendalltau

from ragq.producer.testset import agreement, filters, pages, spans, writers
from ragq.shared.corpus.chunking import split_pages
from ragq.shared.corpus.documents import Page
from ragq.shared.errors import GrammarError
from ragq.shared.store.results import ResultRow

TEXT = (
    "Total revenues were $66.6 billion in 2022, up 7 percent from 2021. As of December 31, 2022, we had "
    "approximately 156,000 employees. The Relay 400 web interface listens on port 8443 by default. Our backlog "
    "included orders from Boeing Capital Corporation and the United States Air Force. The default administrator "
    "account is admin for every new unit. See the table below."
)


def _spans() -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for s in spans.sentences(TEXT):
        out[s] = [(sp.kind, sp.text) for sp in spans.find_spans(s)]
    return out


def test_spans_are_amounts_percentages_dates_quantities_names_and_definitions():
    found = _spans()
    assert found["Total revenues were $66.6 billion in 2022, up 7 percent from 2021."] == [
        ("amount", "$66.6 billion"), ("percent", "7 percent")]  # fmt: skip
    assert found["As of December 31, 2022, we had approximately 156,000 employees."] == [
        ("date", "December 31, 2022"), ("quantity", "156,000")]  # fmt: skip
    # "Relay 400" is a name, not a count of webs; a port number is a value, asked for by its noun
    assert found["The Relay 400 web interface listens on port 8443 by default."] == [("value", "port 8443")]
    names = found["Our backlog included orders from Boeing Capital Corporation and the United States Air Force."]
    assert names == [("name", "Boeing Capital Corporation"), ("name", "United States Air Force")]
    assert found["The default administrator account is admin for every new unit."] == [
        ("definition", "admin for every new unit")]  # fmt: skip
    assert "See the table below." not in found  # 4 words: not a sentence that can carry a question


@pytest.mark.parametrize(
    "sentence, wanted",
    [("The appliance draws at most 65 watts and accepts 100-240 V AC power.", [("quantity", "65 watts")]),
     ("Shipments rose to 66.6 million units in the quarter under review.", [("quantity", "66.6 million")]),
     ("SSH management is enabled by default on port 22 and can be disabled.", [("value", "port 22")]),  # not a count
     ("Backups are stored on the appliance and can be copied off with SCP.", [("name", "SCP")]),  # no definition
     ("Overview The Northwind Relay is a branch-office appliance for offices.", []),  # a heading glued on
     ("Orders came from the United States Air Force during the whole year.", [("name", "United States Air Force")])],
)  # fmt: skip
def test_what_is_not_an_answer(sentence, wanted):
    assert [(s.kind, s.text) for s in spans.find_spans(sentence)] == wanted


@pytest.mark.parametrize(
    "sentence, kind, question",
    [
        ("Total revenues were $66.6 billion in 2022, up 7 percent from 2021.", "amount",
         "Total revenues were how much in 2022, up 7 percent from 2021?"),
        ("As of December 31, 2022, we had approximately 156,000 employees.", "quantity",
         "As of December 31, 2022, we had approximately how many employees?"),
        ("As of December 31, 2022, we had approximately 156,000 employees.", "date",
         "As of what date, we had approximately 156,000 employees?"),
        ("Our backlog included orders from Boeing Capital Corporation and the United States Air Force.", "name",
         "Our backlog included orders from what and the United States Air Force?"),
        ("The default administrator account is admin for every new unit.", "definition",
         "What is the default administrator account?"),
        ("12.5% of units shipped late in the fourth quarter of the year.", "percent",
         "What percentage of units shipped late in the fourth quarter of the year?"),
        ("The web management interface listens on HTTPS port 8443.", "value",
         "The web management interface listens on HTTPS which port?"),
        ("When the chosen uplink fails, traffic moves to the other uplink within three seconds.", "quantity",
         "When the chosen uplink fails, traffic moves to the other uplink within how many seconds?"),
        ("The appliance runs RelayOS from its internal flash storage by default.", "name",
         "The appliance runs what from its internal flash storage by default?"),
    ],
)  # fmt: skip
def test_cloze_puts_a_question_word_where_the_span_was(sentence, kind, question):
    span = next(s for s in spans.find_spans(sentence) if s.kind == kind)
    assert spans.cloze(sentence, span) == question
    assert not filters.leaks_answer(question, span.text)


def test_the_answer_must_be_on_its_page_numbers_normalised():
    page = "Revenue was $66,600 million. The plant employs 1,200 people."
    assert filters.on_page("$66,600 million", page)
    assert filters.on_page("66600 million", page)  # separators and currency signs normalised
    assert filters.on_page("1200 people", page)
    assert not filters.on_page("1,300 people", page)
    assert not filters.on_page("Boeing", page)


def test_a_question_may_not_state_its_answer():
    assert filters.leaks_answer("Was revenue $66.6 billion in 2022?", "$66.6 billion")
    assert filters.leaks_answer("Did revenue reach 66.6 billion dollars?", "$66.6 billion")  # its number
    assert not filters.leaks_answer("How much was revenue in 2022?", "$66.6 billion")
    assert filters.leaks_answer("Which account is admin by default?", "admin")


@pytest.mark.parametrize(
    "question, bad",
    [("What does the table show for 2022 revenue?", True), ("What is listed above as the port?", True),
     ("In this section, how many employees are there?", True), ("What was revenue in 2022?", False),
     ("How many employees did Boeing have?", False), ("What does the following exhibit name?", True)],
)  # fmt: skip
def test_wording_that_needs_the_page(question, bad):
    assert filters.needs_page(question) is bad


def test_near_duplicates_are_removed_distinct_questions_kept():
    kept = ["As of December 31, 2022, we had approximately how many employees?"]
    assert filters.is_duplicate("As of December 31 2022, we had about how many employees?", kept)
    assert not filters.is_duplicate("Total revenues were how much in 2022?", kept)
    assert not filters.is_duplicate("anything at all?", [])


def test_pages_are_rebuilt_from_their_chunks_without_the_overlap():
    text = " ".join(f"Sentence number {i} of the page says something about item {i}." for i in range(40))
    chunks = split_pages([Page("a.pdf", 3, text)], "0" * 64)
    assert len(chunks) > 3  # overlapping 500-character chunks
    assert pages.page_texts(chunks) == {("a.pdf", 3): text}


def test_pages_are_visited_across_documents_and_across_each_document():
    texts = {(doc, p): "x" * 300 for doc in ("a.pdf", "b.pdf") for p in range(100)}
    texts[("a.pdf", 5)] = "short"  # a near-empty page is never visited
    order = pages.visiting_order(texts, random.Random(0))
    assert len(order) == 199 and ("a.pdf", 5) not in order
    assert [doc for doc, _ in order[:10]] == ["a.pdf", "b.pdf"] * 5  # documents in turn
    first = sorted(p for doc, p in order[:20] if doc == "a.pdf")
    assert len({p // 10 for p in first}) == 10  # the first ten of a document: one page from each tenth
    assert order == pages.visiting_order(texts, random.Random(0))  # seeded
    assert order != pages.visiting_order(texts, random.Random(1))


def test_the_grammars_output_is_read_back_or_refused():
    assert writers.parse_question('{"question": "What was  revenue in 2022?"}', True) == "What was revenue in 2022?"
    assert writers.parse_question('{"question": "What was rev', False) is None  # cut at max_tokens: counted
    with pytest.raises(GrammarError, match="grammar was not applied"):
        writers.parse_question("Sure! Here is a question: what was revenue?", True)
    with pytest.raises(GrammarError, match="not"):
        writers.parse_question('{"question": "Why?", "answer": "42"}', True)


def _rows(run: int, bpb: list[float], f1: list[float], prefix: str = "Q") -> list[ResultRow]:
    return [
        ResultRow(run, run * 1000 + i, f"m{run}", 0.3, 0, f"{prefix}{i}", "a", 0.5, 1.0, 0.1, 10, 0.1, 5, 0.1, 0, 1.0,
                  None, token_f1=f, expert_bpb=b)
        for i, (b, f) in enumerate(zip(bpb, f1, strict=True))
    ]  # fmt: skip


def _variants(offsets_expert, offsets_generated, n_expert=8, n_generated=40, seed=3) -> list[agreement.Variant]:
    rng = np.random.default_rng(seed)
    base_e, base_g = rng.uniform(0.4, 0.8, n_expert), rng.uniform(0.4, 0.8, n_generated)
    f1_e, f1_g = rng.uniform(0.1, 0.5, n_expert), rng.uniform(0.1, 0.5, n_generated)
    out = []
    for run, (oe, og) in enumerate(zip(offsets_expert, offsets_generated, strict=True), start=1):
        expert = _rows(run, list(base_e + oe + rng.normal(0, 0.01, n_expert)), list(f1_e - oe / 2))
        generated = _rows(run + 10, list(base_g + og + rng.normal(0, 0.01, n_generated)), list(f1_g - og / 2), "G")
        out.append(agreement.Variant(f"v{run}", expert, generated))
    return out


def test_tau_is_scipys_kendall_over_the_runs_means():
    variants = _variants([0.0, 0.1, 0.2, 0.3], [0.0, 0.12, 0.08, 0.3])
    e = agreement.means([v.expert for v in variants], "expert_bpb")
    g = agreement.means([v.generated for v in variants], "expert_bpb")
    assert e == pytest.approx([np.mean([r.expert_bpb for r in v.expert]) for v in variants])
    assert agreement.kendall(e, g) == pytest.approx(kendalltau(e, g).statistic) == pytest.approx(2 / 3)
    assert agreement.kendall(e[:2], g[:2]) is None  # two runs: no ordering to speak of
    assert agreement.kendall([0.1, 0.1, 0.1], [0.1, 0.2, 0.3]) is None  # no spread on one side


def test_a_generated_set_that_ranks_and_decides_like_the_experts_passes():
    variants = _variants([0.0, 0.1, 0.2, 0.3], [0.0, 0.1, 0.2, 0.3])
    f = agreement.check(variants, sizes=(5, 10, 20), draws=30)
    assert f["decides_on"] == "expert_bpb" and f["tau"]["expert_bpb"] == pytest.approx(1.0)
    a = f["agreement"]
    assert a["pairs"] == 6 and a["expert_decided"] == 6 and a["missed"] == a["contradicted"] == 0
    assert a["measures"]["expert_bpb"] == {"pairs": 6, "sign": 1.0, "decision": 1.0}
    assert f["passed"]
    assert [p["questions"] for p in f["curve"]] == [5, 10, 20, 40]
    assert f["curve"][-1]["median"] == pytest.approx(1.0) and f["curve"][-1]["reach"] == 1.0
    assert f["questions_needed"] is not None and f["questions_needed"] <= 40


def test_a_reversed_ordering_fails_and_counts_the_contradictions():
    variants = _variants([0.0, 0.1, 0.2, 0.3], [0.3, 0.2, 0.1, 0.0])
    f = agreement.check(variants, sizes=(10,), draws=10)
    assert f["tau"]["expert_bpb"] == pytest.approx(-1.0)
    assert f["agreement"]["contradicted"] == 6 and f["agreement"]["verdicts_agree"] == 0.0
    assert not f["passed"] and f["questions_needed"] is None


def test_a_set_too_flat_to_decide_misses_the_experts_verdicts_and_fails():
    variants = _variants([0.0, 0.1, 0.2, 0.3], [0.0, 0.0005, 0.001, 0.0015], n_generated=6)
    f = agreement.check(variants, sizes=(3,), draws=10)
    assert f["agreement"]["missed"] > 0 and not f["passed"]


def test_the_ordering_falls_back_to_token_f1_without_the_likelihood():
    assert agreement.deciding_measure({"expert_bpb": None, "token_f1": 0.5}) == "token_f1"
    assert agreement.deciding_measure({"expert_bpb": 0.8, "token_f1": 0.5}) == "expert_bpb"


def test_needed_is_the_first_size_from_which_the_median_stays_above_the_line():
    points = [{"questions": n, "median": m} for n, m in ((5, 0.4), (10, 0.75), (20, 0.6), (40, 0.8), (80, 0.9))]
    assert agreement.needed(points) == 40
    assert agreement.needed(points[:3]) is None


def test_a_question_about_something_else_is_off_topic():
    sentence = "The command tcpdump-x captures packets on an interface for up to 60 seconds."
    assert filters.off_topic("What is the answer to this question?", sentence, "60 seconds")
    assert filters.off_topic("How many seconds are in a minute?", sentence, "60 seconds")  # only the answer's word
    assert not filters.off_topic("For how long does tcpdump-x capture packets?", sentence, "60 seconds")


@pytest.mark.parametrize(
    "question, kind, wrong",
    [("What is the command tcpdump-x for?", "quantity", True), ("For how long does tcpdump-x capture?", "quantity",
     False), ("What is the size of this data store?", "name", False), ("How many people work there?", "name", True),
     ("When did the merger close?", "date", False), ("What was revenue?", "date", True),
     ("How much did revenue grow?", "percent", False), ("What was the amount of revenue in 2022?", "amount", False)],
)  # fmt: skip
def test_a_question_must_ask_for_the_kind_of_thing_its_answer_is(question, kind, wrong):
    assert filters.wrong_type(question, kind) is wrong


def test_every_cloze_asks_for_its_own_kind():
    for sentence in spans.sentences(TEXT + " The web interface listens on HTTPS port 8443 for every admin."):
        for span in spans.find_spans(sentence):
            assert not filters.wrong_type(spans.cloze(sentence, span), span.kind), (sentence, span)


@pytest.mark.parametrize(
    "sentence",
    [
        "These challenges include scrutiny of all development aircraft in the wake of the 737 MAX accidents.",
        "Unless otherwise stated, the Company is vigorously defending all such litigation and proceedings.",
        "Risks Related to Markets * The Company's pension plans are subject to financial market risks.",
        "All Par\x00cipants within the European Union or the United Kingdom receive their awards in cash.",
    ],
)
def test_numbers_of_names_clauses_and_page_furniture_give_no_answer(sentence):
    assert [s for s in spans.sentences(sentence) for s in spans.find_spans(s)] == []
