import pytest

from ragq.shared.errors import ContextTooLargeError
from ragq.shared.models.spec import SYSTEM_TEXT
from ragq.shared.rag.prompting import completion_builder, fit_to_context

BUILD = completion_builder("{system}\nContext:\n{context}\nQuestion: {question}\nAnswer:", SYSTEM_TEXT, ["\n\n"])


def words(text: str) -> int:
    return len(text.split())


def test_everything_fits():
    fitted = fit_to_context(["a b", "c d"], "q?", BUILD, words, n_ctx=1000, max_tokens=10)
    assert (fitted.kept, fitted.dropped) == (2, 0)
    assert fitted.prompt.text.startswith(SYSTEM_TEXT)
    assert "a b\n\nc d" in fitted.prompt.text


def test_chunks_dropped_from_the_end():
    chunks = ["one " * 50, "two " * 50, "three " * 50]
    base = words(BUILD([], "q?").text)
    fitted = fit_to_context(chunks, "q?", BUILD, words, n_ctx=base + 120 + 10, max_tokens=10)
    assert (fitted.kept, fitted.dropped) == (2, 1)
    assert "three" not in fitted.prompt.text and "two" in fitted.prompt.text
    assert fitted.tokens + 10 <= base + 130


def test_question_alone_too_large():
    with pytest.raises(ContextTooLargeError, match="n_ctx"):
        fit_to_context(["x"], "q " * 100, BUILD, words, n_ctx=50, max_tokens=10)


def test_collapse_for_base_models():
    build = completion_builder("{context}|{question}", SYSTEM_TEXT, [], collapse_whitespace=True)
    assert build(["a\n b\n\nc"], "q").text == "a b c|q"
