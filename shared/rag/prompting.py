"""Prompts: a model's system text and template, and fitting the context into n_ctx."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from ragq.shared.errors import ContextTooLargeError, ModelLoadError


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


def _special(llm, token: int) -> str:
    return llm.detokenize([token], special=True).decode(errors="replace") if token >= 0 else ""


def chat_builder(llm, system: str, stop: list[str]) -> tuple[PromptBuilder, str, str]:
    """The GGUF's chat template as a prompt builder: (builder, how the system text is placed, the template).

    The template is rendered once here: one that refuses a system turn (Mistral Instruct v0.1: "Conversation roles
    must alternate") gets the system text and context folded into the first user turn; one that fails otherwise is
    refused with its own message."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelLoadError(
            "the GGUF file carries no chat template: give a completion template with --template "
            "(or `template` under [prompt]), e.g. '{system}\\n\\n{context}\\n\\nQuestion: {question}\\nAnswer:'."
        )
    bos, eos = _special(llm, llm.token_bos()), _special(llm, llm.token_eos())
    formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
    adds_bos = llm._model.add_bos_token()

    def render(messages: list[dict]) -> str:
        text = formatter(messages=cast(Any, messages)).prompt
        # create_completion puts the BOS token in front itself: a template's own would make two
        return text[len(bos) :] if adds_bos and bos and text.startswith(bos) else text

    placement, messages = _messages_that_render(render, system)

    def build(chunks: list[str], question: str) -> Prompt:
        return Prompt(render(messages(system, chunks, question)), [eos, *stop] if eos else list(stop))

    return build, placement, template


def _messages_that_render(render, system: str):
    """How the system text goes into a chat template: its own turn, or folded into the first user turn where the
    template refuses a system turn; a template that renders neither way is refused with its own message."""
    import jinja2

    failures = (ValueError, TypeError, jinja2.TemplateError)
    try:
        render(chat_messages(system, ["context"], "question"))
        return "in the system turn", chat_messages
    except failures:
        pass
    try:
        render(folded_messages(system, ["context"], "question"))
    except failures as exc:
        raise ModelLoadError(
            f"the GGUF's chat template fails to render ({exc}): give a completion template with --template."
        ) from exc
    return "folded into the first user turn (the template refuses a system turn)", folded_messages
