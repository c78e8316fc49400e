"""Who writes a generated question: a cloze of the sentence (no model), or a local catalog model under a GBNF
grammar that admits one flat `{"question": "...?"}` object and nothing else. The answer is never the model's: it is
the span the question is written for. A model's output that cannot be read is counted, never guessed at."""

import json
import time
from dataclasses import dataclass

from ragq.producer.testset.spans import Span, cloze
from ragq.shared.errors import GrammarError

# a flat JSON object with one key; the question opens with a capital, ends in "?" within 200 characters, and holds no
# quote, backslash, brace or line break (so it is JSON as it stands, and a rambling model must close it)
QUESTION_GRAMMAR = r"""root ::= "{" ws "\"question\"" ws ":" ws "\"" [A-Z] text "?\"" ws "}"
text ::= [^"\\\n\r{}?]{8,200}
ws ::= [ ]?
"""
WRITER_SYSTEM = (
    "You write exam questions about documents. Given a passage and an answer taken from it, write one question "
    "that the passage answers with exactly that answer. The question must make sense on its own, name what it asks "
    'about, and must not contain the answer. Reply with JSON only. Example: passage "The plant in Ohio employs '
    '1,200 people.", answer "1,200": {"question": "How many people does the plant in Ohio employ?"}'
)
ANSWERER_SYSTEM = "Answer the question from the context alone, in a few words."
MAX_TOKENS = 96


@dataclass(frozen=True)
class Written:
    question: str | None  # None: the writer's output could not be used (why says so)
    method: str  # cloze | model
    seconds: float
    why: str | None = None  # cut at max_tokens, empty


def write_cloze(sentence: str, span: Span) -> Written:
    start = time.perf_counter()
    return Written(cloze(sentence, span), "cloze", time.perf_counter() - start)


def parse_question(text: str, ended: bool) -> str | None:
    """The question of a grammar-constrained output; None where max_tokens cut it. An output that ended by itself
    yet does not parse means the grammar was not applied: that is an error, not a question to skip."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        if not ended:
            return None
        raise GrammarError(f"the model's output ended but is not the grammar's JSON ({text[:60]!r}): "
                           "the grammar was not applied; nothing was written.") from None  # fmt: skip
    if not isinstance(data, dict) or set(data) != {"question"} or not isinstance(data["question"], str):
        raise GrammarError(f"the model's output is JSON but not {{\"question\": ...}} ({text[:60]!r}): the grammar "
                           "was not applied; nothing was written.")  # fmt: skip
    return " ".join(data["question"].split())


class ModelWriter:
    """A loaded catalog model (shared/rag/llm.py LlamaRunner) writing the question for a span."""

    def __init__(self, runner, seed: int):
        self.runner, self.seed = runner, seed

    def write(self, sentence: str, span: Span) -> Written:
        request = f'Answer: "{span.text}"\nWrite the question as {{"question": "..."}}.'
        prompt = self.runner.prompt_for(WRITER_SYSTEM, f"Passage: {sentence}", request)
        start = time.perf_counter()
        text, ended = self.runner.constrained(prompt, QUESTION_GRAMMAR, MAX_TOKENS, self.seed)
        question = parse_question(text, ended)
        why = None if question else "cut at max_tokens"
        return Written(question, "model", time.perf_counter() - start, why)


class RoundTrip:
    """A second model answers each question from its page alone; the question is kept where the reply states the
    span (an optional filter: `--round-trip MODEL`)."""

    def __init__(self, runner, seed: int, page_chars: int = 3000):
        self.runner, self.seed, self.page_chars = runner, seed, page_chars

    def reply(self, question: str, page_text: str, sentence: str) -> str:
        at = max(0, page_text.find(sentence[:40]) - self.page_chars // 2)
        context = page_text[at : at + self.page_chars]
        prompt = self.runner.prompt_for(ANSWERER_SYSTEM, context, question)
        grammar = "root ::= [^\\n]+\n"  # one line: the answer, no rambling past it
        text, _ = self.runner.constrained(prompt, grammar, 48, self.seed)
        return text
