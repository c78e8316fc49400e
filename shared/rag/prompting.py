"""Prompts: a model's system text and template, and fitting the context into n_ctx."""

from collections.abc import Callable
from dataclasses import dataclass

from ragq.shared.errors import ContextTooLargeError


@dataclass(frozen=True)
class Prompt:
    text: str
    stop: list[str]


# (context chunks, question) -> Prompt
PromptBuilder = Callable[[list[str], str], Prompt]


def collapse(text: str) -> str:
    """One line per chunk: base models copy a PDF's ragged line breaks and stop at the first newline."""
    return " ".join(text.split())


def completion_builder(template: str, system: str, stop: list[str], collapse_whitespace: bool = False) -> PromptBuilder:
    """A catalog template with {system}, {context}, {question}; chunks joined by blank lines, as LangChain's
    "stuff" chain joins documents."""

    def build(chunks: list[str], question: str) -> Prompt:
        texts = [collapse(c) for c in chunks] if collapse_whitespace else chunks
        return Prompt(template.format(system=system, context="\n\n".join(texts), question=question), stop)

    return build


def chat_messages(system: str, chunks: list[str], question: str) -> list[dict]:
    """The system text and the context as the system turn, the question as the user's."""
    return [
        {"role": "system", "content": system + "\n\n" + "\n\n".join(chunks)},
        {"role": "user", "content": question},
    ]


def folded_messages(system: str, chunks: list[str], question: str) -> list[dict]:
    """For chat templates that refuse a system turn (Mistral Instruct v0.1): system text and context at the head
    of the first user turn, as the study's Mistral prompt put the context inside [INST] ... [/INST]."""
    return [{"role": "user", "content": system + "\n\n" + "\n\n".join(chunks) + "\n\n" + question}]


@dataclass(frozen=True)
class FittedPrompt:
    prompt: Prompt
    kept: int  # chunks in the prompt
    dropped: int  # chunks dropped from the end to fit n_ctx
    tokens: int


def fit_to_context(
    chunks: list[str],
    question: str,
    build: PromptBuilder,
    count_tokens: Callable[[str], int],
    n_ctx: int,
    max_tokens: int,
) -> FittedPrompt:
    """Drop chunks from the end until prompt tokens + max_tokens <= n_ctx."""
    for kept in range(len(chunks), -1, -1):
        prompt = build(chunks[:kept], question)
        tokens = count_tokens(prompt.text)
        if tokens + max_tokens <= n_ctx:
            return FittedPrompt(prompt, kept, len(chunks) - kept, tokens)
    raise ContextTooLargeError(
        f"the question alone takes {tokens} tokens, and with max_tokens={max_tokens} it exceeds n_ctx={n_ctx}: "
        "lower max_tokens or raise n_ctx in the model's catalog entry."
    )
