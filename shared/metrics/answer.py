"""Answer metrics beside the study's cosine, none of them an LLM judge; pure functions of strings.

- token F1 and exact match: SQuAD's official definitions (lower case, punctuation and the articles a/an/the
  removed, whitespace collapsed; F1 over the bag of tokens).
- ROUGE-L F: longest common subsequence of tokens (rouge-score's tokenizer: lower case, runs of letters and
  digits; no stemming), F1 of its precision and recall.
- abstained: the answer declines, as the study's system prompt asks when the model does not know ("I'm sorry,
  the context does not say"); counted apart from wrong answers.
- groundedness: the share of the answer's content words (stop words aside) and numbers found in the retrieved
  context: a cheap hallucination signal.
- number match: the share of the reference's numbers found in the answer, compared as values ("$10.2 billion" =
  "10,200 million" = "10.2bn"; "9.5%" = "9.5 percent"), within half a percent for rounding.
"""

import re
import string
from collections import Counter
from dataclasses import asdict, dataclass

METRICS = ("cosine", "token_f1", "exact_match", "rouge_l", "groundedness", "number_match")

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    him his how i if in into is it its itself just me more most my no nor not of off on once only or other our ours
    out over own same she should so some such than that the their theirs them then there these they this those
    through to too under until up very was we were what when where which while who whom why will with would you
    your yours also based according context provided answer question per""".split()
)
ABSTENTION = re.compile(
    r"\b(i (do not|don't|cannot|can't|could not|couldn't) (know|find|determine|answer|say|tell|provide)"
    r"|(is|are) (not|n't) (mentioned|provided|given|specified|stated|available|included)"
    r"|(does|do) not (mention|provide|specify|state|say|contain|include)"
    r"|not enough information|no information|insufficient information|unknown to me"
    r"|unable to (answer|find|determine|provide)|i'?m sorry|i apologi[sz]e)\b"
)
_NUMBER = re.compile(
    r"(?<![\w.])[$€£]?\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s?"
    r"(%|percent\b|per cent\b|thousand\b|million\b|billion\b|trillion\b|bn\b|mn\b|k\b|m\b|b\b)?",
    re.IGNORECASE,
)
_SCALE = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
}


def normalize_answer(text: str) -> str:
    """SQuAD's normalize_answer."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(answer: str, reference: str) -> float:
    pred, gold = normalize_answer(answer).split(), normalize_answer(reference).split()
    if not pred or not gold:
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(answer: str, reference: str) -> float:
    return float(normalize_answer(answer) == normalize_answer(reference))


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(answer: str, reference: str) -> float:
    pred, gold = _ROUGE_TOKEN.findall(answer.lower()), _ROUGE_TOKEN.findall(reference.lower())
    if not pred or not gold:
        return 0.0
    common = _lcs(pred, gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def abstained(answer: str) -> bool:
    text = answer.lower().replace("’", "'")
    return not text.strip() or bool(ABSTENTION.search(text))


def numbers(text: str) -> list[float]:
    """Every number in the text as a value: thousands separators dropped, scale words applied, percent kept apart
    from plain numbers by no more than its value (9.5% -> 9.5). Years and counts come out as they are."""
    out = []
    for whole, fraction, unit in _NUMBER.findall(text):
        value = float(whole.replace(",", "") + (fraction or ""))
        out.append(value * _SCALE.get((unit or "").lower().strip(), 1.0))
    return out


def _same_number(a: float, b: float) -> bool:
    return a == b or (max(abs(a), abs(b)) > 0 and abs(a - b) / max(abs(a), abs(b)) <= 0.005)


def number_match(answer: str, reference: str) -> float | None:
    """Share of the reference's numbers that the answer states (None when the reference has none)."""
    wanted, found = numbers(reference), numbers(answer)
    if not wanted:
        return None
    return sum(any(_same_number(w, f) for f in found) for w in wanted) / len(wanted)


def content_words(text: str) -> list[str]:
    return [w for w in _ROUGE_TOKEN.findall(text.lower()) if w not in STOP_WORDS and not w.isdigit()]


def groundedness(answer: str, context: str) -> float | None:
    """Share of the answer's content words and numbers that appear in the context (None for an empty answer)."""
    words, values = content_words(answer), numbers(answer)
    if not words and not values:
        return None
    vocabulary, context_values = set(_ROUGE_TOKEN.findall(context.lower())), numbers(context)
    hits = sum(w in vocabulary for w in words) + sum(any(_same_number(v, c) for c in context_values) for v in values)
    return hits / (len(words) + len(values))


@dataclass(frozen=True)
class AnswerMetrics:
    token_f1: float
    exact_match: float
    rouge_l: float
    abstained: bool
    groundedness: float | None
    number_match: float | None
    answer_words: int

    def as_dict(self) -> dict:
        return asdict(self)


def score_answer(answer: str, reference: str, context: str | None) -> AnswerMetrics:
    """Every metric of one answer; `context` None (results stored before it was kept) leaves groundedness unset."""
    return AnswerMetrics(
        token_f1=token_f1(answer, reference),
        exact_match=exact_match(answer, reference),
        rouge_l=rouge_l(answer, reference),
        abstained=abstained(answer),
        groundedness=groundedness(answer, context) if context is not None else None,
        number_match=number_match(answer, reference),
        answer_words=len(answer.split()),
    )
