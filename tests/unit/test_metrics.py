"""Each answer metric on cases computed by hand; ROUGE-L also against the rouge-score package itself."""

import pytest

from ragq.shared.metrics import answer as m


def test_squad_normalisation_and_exact_match():
    assert m.normalize_answer("The  Relay-400, an appliance!") == "relay400 appliance"
    assert m.exact_match("The answer is 8443.", "answer is 8443") == 1.0
    assert m.exact_match("8443", "8080") == 0.0
    assert m.exact_match("8080", "8443") == 0.0 and m.exact_match("apple", "banana") == 0.0  # either order


def test_token_f1_by_hand():
    # answer tokens: it listens on port 8443 (5); reference: web interface listens on https port 8443 (7)
    # common: listens, on, port, 8443 = 4 -> precision 4/5, recall 4/7, F1 = 2PR/(P+R) = 8/12 = 0.6667
    assert m.token_f1("It listens on port 8443.", "The web interface listens on HTTPS port 8443.") == pytest.approx(
        2 * (4 / 5) * (4 / 7) / (4 / 5 + 4 / 7)
    )
    assert m.token_f1("", "") == 1.0 and m.token_f1("", "x") == 0.0 and m.token_f1("a b", "c d") == 0.0
    assert m.token_f1("blue", "The") == 0.0  # a reference that normalises to nothing matches no answer
    # repeated tokens count as often as both sides have them
    assert m.token_f1("port port port", "port") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))


def test_rouge_l_by_hand_and_against_rouge_score():
    # LCS of "the fan led blinks amber" and "the led blinks" = the led blinks (3): P 3/3, R 3/5
    assert m.rouge_l("The LED blinks", "The fan LED blinks amber.") == pytest.approx(2 * 1 * 0.6 / 1.6)
    assert m.rouge_l("", "x") == 0.0
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    cases = [
        ("The Relay 400 supports up to 2,000 concurrent TCP connections.", "Up to 2,000 concurrent optimized TCP connections."),
        ("Net sales were $10.2 billion, up 9.5%.", "Net sales increased 9.5% to $10.2 billion in fiscal 2023."),
        ("I'm sorry, the context does not say.", "The default password is relay400."),
        ("fan fan fan blinks", "fan blinks blinks"),  # repeated tokens: the LCS counts each match once
        ("amber green", "port 8443"),  # nothing in common
        ("the the the", "the"),
    ]  # fmt: skip
    for answer, reference in cases:
        assert m.rouge_l(answer, reference) == pytest.approx(scorer.score(reference, answer)["rougeL"].fmeasure)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("I'm sorry, but the context does not mention the fan speed.", True),
        ("I don't know the answer to that question.", True),
        ("The information is not provided in the context.", True),
        ("", True),
        ("The web interface listens on HTTPS port 8443.", False),
        ("Sales did not grow in 2023; they fell 2%.", False),
    ],
)
def test_abstention(answer, expected):
    assert m.abstained(answer) is expected


def test_numbers_as_values():
    assert m.numbers("Net sales were $10,208.6 million, up 9.5%; 1,355 stores.") == [10208.6e6, 9.5, 1355]
    assert m.numbers("$10.2 billion or 10.2bn") == [10.2e9, 10.2e9]
    assert m.numbers("FY2022 capex") == []  # inside a word: not a number
    scaled = "10 thousand, 7 k, 2 million, 2 mn, 4 m, 3 billion, 3 bn, 3 b and 1 trillion"
    assert m.numbers(scaled) == [1e4, 7e3, 2e6, 2e6, 4e6, 3e9, 3e9, 3e9, 1e12]  # each scale word exactly


def test_number_match_by_hand():
    reference = "Net sales increased 9.5% to $10.2 billion."
    assert m.number_match("Sales were 10,208.6 million, 9.5% higher.", reference) == 1.0  # 0.08% apart: rounding
    assert m.number_match("Sales were $10.2 billion.", reference) == 0.5  # 9.5 missing
    assert m.number_match("Sales grew.", reference) == 0.0
    assert m.number_match("Anything", "No numbers here.") is None
    assert m.number_match("It took 10 days.", "It took 20 days.") == 0.0  # half the wanted value is no match
    assert m.number_match("It took 20 days.", "It took 10 days.") == 0.0  # nor twice it
    assert m.number_match("0 errors.", "There were 0 errors.") == 1.0  # zero equals zero (no relative test there)
    assert m.number_match("Margins were 0.501 points.", "Margins were 0.5 points.") == 1.0  # rounding under 1 too


def test_groundedness_by_hand():
    context = "The fan LED blinks amber when the fan fails. The web interface listens on port 8443."
    # content words of the answer: fan, led, blinks, green (4) + number 8443: fan, led, blinks, 8443 found -> 4/5
    assert m.groundedness("The fan LED blinks green on 8443.", context) == pytest.approx(4 / 5)
    assert m.groundedness("The the of.", context) is None
    assert m.groundedness("The fan blinks green.", context) == pytest.approx(2 / 3)  # words alone: fan, blinks
    assert m.groundedness("8443 and 8080.", context) == pytest.approx(1 / 2)  # numbers alone


def test_score_answer_bundles_every_metric():
    scored = m.score_answer("It listens on port 8443.", "The web interface listens on HTTPS port 8443.", None)
    assert scored.groundedness is None and scored.answer_words == 5 and not scored.abstained
    assert set(scored.as_dict()) == {
        "token_f1", "exact_match", "rouge_l", "abstained", "groundedness", "number_match", "answer_words"
    }  # fmt: skip
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):  # a stored answer's metrics are values
        scored.token_f1 = 1.0  # type: ignore[misc]
