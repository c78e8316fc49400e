"""The filters a generated question passes before it joins a set, each a pure function (the index-dependent one,
retrievability, is in generate.py): its answer occurs on its page, the question does not give its answer away, it
makes sense without the page in front of the reader, and it is not a near-copy of a question already kept."""

import re

from ragq.shared.metrics.answer import content_words, normalize_answer, numbers

FILTERS = ("on_page", "leaks_answer", "wrong_type", "off_topic", "needs_page", "duplicate", "retrievable", "round_trip")
# what a question asking for each kind of span says (spans.py): a model's "what is X for?" for a number asks for
# something else than its reference answer
ASKS = {
    "amount": r"\bhow much\b|\bwhat (?:was |is |were |are )?(?:the )?(?:amount|value|total|cost|price|sum)\b",
    "percent": r"\bwhat (?:was |is )?(?:the )?(?:percentage|percent|share|rate|proportion)\b|\bhow much\b|%",
    "quantity": r"\bhow (?:many|much|long|far|big|large|often)\b|\bwhat (?:is |was )?(?:the )?(?:number|size|count)\b",
    "date": r"\bwhen\b|\bwhat (?:date|day|month|year|time)\b|\bwhich (?:date|day|month|year)\b",
    "value": r"\bwhich\b|\bwhat\b",
    "name": r"\bwho\b|\bwhich\b|\bwhat\b|\bwhom\b",
    "definition": r"\bwhat\b|\bhow\b|\bwhich\b",
}
ON_TOPIC_WORDS = 2  # content words a question shares with its sentence, the answer's aside
# wording that points at the page the question came from: meaningless to someone asking the whole collection
DEICTIC = re.compile(
    r"\b(?:the|this|that|these|following|above|below|preceding) (?:table|tables|chart|figure|graph|section|page|"
    r"paragraph|item|note|list|exhibit)\b|\b(?:above|below|herein|hereof|aforementioned|the following)\b|"
    r"\bthis (?:document|report|filing|quarter|year|period)\b",
    re.IGNORECASE,
)
DUPLICATE_JACCARD = 0.7


def _flat(text: str) -> str:
    """Lower case, numbers without thousands separators or currency signs, single spaces."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower()).replace("$", "")
    return " ".join(text.split())


def on_page(answer: str, page_text: str) -> bool:
    """The answer occurs on its page: as text (numbers normalised), or every number it states does."""
    if _flat(answer) in _flat(page_text):
        return True
    wanted = numbers(answer)
    return bool(wanted) and all(n in numbers(page_text) for n in wanted)


def leaks_answer(question: str, answer: str) -> bool:
    """The question states its own answer: the answer's words, or every number of a numeric answer."""
    flat_answer = normalize_answer(answer)
    if flat_answer and flat_answer in normalize_answer(question):
        return True
    wanted = numbers(answer)
    return bool(wanted) and all(n in numbers(question) for n in wanted)


def wrong_type(question: str, kind: str) -> bool:
    """The question does not ask for the kind of thing its answer is (a number asked with "what is X for?")."""
    return re.search(ASKS[kind], question, re.IGNORECASE) is None


def off_topic(question: str, sentence: str, answer: str) -> bool:
    """The question shares fewer than two content words with the sentence its answer came from (the answer's own
    words aside): a model wrote about something else ("What is the answer to this question?")."""
    mine = set(content_words(question)) - set(content_words(answer))
    return len(mine & set(content_words(sentence))) < ON_TOPIC_WORDS


def needs_page(question: str) -> bool:
    """Wording that only makes sense with the page in front of the reader ("the table", "this section", "above")."""
    return DEICTIC.search(question) is not None


def _words(text: str) -> set[str]:
    return set(normalize_answer(text).split())


def is_duplicate(question: str, kept: list[str]) -> bool:
    """A near-copy of a question already kept: the same words for the most part (Jaccard >= 0.7)."""
    mine = _words(question)
    for other in kept:
        theirs = _words(other)
        union = mine | theirs
        if union and len(mine & theirs) / len(union) >= DUPLICATE_JACCARD:
            return True
    return False


def finds_span(answer: str, reply: str) -> bool:
    """Round trip: a model's reply, made from the page alone, states the span (its text, or all its numbers)."""
    return on_page(answer, reply)
