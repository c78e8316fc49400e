"""Reading a text teacher-forced after a prompt, through llama.cpp's batch API: the text's tokens are evaluated
with a logits flag on each, so llama.cpp computes the vocabulary's logits at those positions only (never
`logits_all`, which allocates n_ctx x n_vocab floats: 2 GB at Gemma 3's 262k vocabulary and n_ctx 2048).

The prompt's own evaluation is kept where the KV cache holds it (right after the answer was generated): the cache is
cut back to the prompt but its last token, that token is evaluated again with the text (its logits give the text's
first token), and afterwards the cache is cut back to the prompt and llama-cpp-python told to evaluate before it
samples again, so the next job finds the state a generation would have left. Elsewhere the prompt is evaluated
first. llama-cpp-python's own state (`_ctx`, `_batch`, `input_ids`, `n_tokens`) is touched here and in llm.py only.
"""

import time
from collections.abc import Callable

import numpy as np

from ragq.shared.metrics.drift import log_softmax
from ragq.shared.metrics.likelihood import ExpertScore, Tally, scored_text, separator

# logits rows per llama.cpp batch: llama.cpp's output buffer grows to hold them and keeps that size, 16 x 262k floats
# (Gemma 3) is 17 MB where 32 rows were 34 MB (bench: memory); more rows were no faster
ROWS = 16

# (logits of a batch's positions, the tokens those positions predict)
RowsSink = Callable[[np.ndarray, list[int]], None]


def completion_tokens(llm, prompt_text: str) -> list[int]:
    """The prompt's tokens as create_completion composes them: BOS where the model adds one, the text with its
    special tokens parsed, EOS where the model adds one (llama_cpp.Llama._create_completion)."""
    bos = [llm.token_bos()] if llm._model.add_bos_token() and llm.token_bos() != -1 else []
    eos = [llm.token_eos()] if llm._model.add_eos_token() else []
    return bos + llm.tokenize(prompt_text.encode(), add_bos=False, special=True) + eos


def continuation(llm, prompt_text: str, text: str) -> tuple[list[int], str]:
    """The text's tokens as they follow the prompt, and how they were found ("in context" or "apart"): see
    shared/metrics/likelihood.py for the rule."""
    context = llm.tokenize(prompt_text.encode(), add_bos=False, special=True)
    whole = llm.tokenize((prompt_text + text).encode(), add_bos=False, special=True)
    plain = llm.tokenize(text.encode(), add_bos=False, special=False)
    speaks_special = plain != llm.tokenize(text.encode(), add_bos=False, special=True)
    if whole[: len(context)] == context and len(whole) > len(context) and not speaks_special:
        return whole[len(context) :], "in context"
    return plain, "apart"


def scored_tokens(llm, prompt_text: str, expert: str) -> tuple[str, list[int], str]:
    """(the scored text, its tokens, how they were found) for an expert answer after this prompt."""
    text = scored_text(prompt_text, expert)
    tokens, how = continuation(llm, prompt_text, text)
    return text, tokens, how


def _prompt_in_cache(llm, prompt: list[int]) -> bool:
    """The KV cache holds the prompt whole, from position 0 (a sliding-window cache may have dropped early cells)."""
    import llama_cpp

    n = len(prompt)
    if llm.n_tokens < n or list(llm.input_ids[:n]) != prompt:
        return False
    return llama_cpp.llama_memory_seq_pos_min(llm._ctx.memory, 0) == 0


def read(llm, prompt: list[int], tokens: list[int], sink: RowsSink) -> str:
    """Evaluate `tokens` after `prompt`, handing `sink` each batch's logits rows (row i predicts tokens[i]); the
    KV cache ends holding the prompt alone. Returns "prompt kept" or "prompt evaluated"."""
    n = len(prompt)
    if not tokens:
        return "nothing to read"
    if _prompt_in_cache(llm, prompt):
        how = "prompt kept"
    else:
        llm.reset()
        llm.eval(prompt[:-1])
        how = "prompt evaluated"
    llm._ctx.kv_cache_seq_rm(0, n - 1, -1)
    feed = [prompt[-1], *tokens[:-1]]
    vocab, rows = llm.n_vocab(), min(ROWS, llm.n_batch)  # a batch holds n_batch tokens at most (the study's was 8)
    for start in range(0, len(feed), rows):
        part = feed[start : start + rows]
        llm._batch.set_batch(part, n_past=n - 1 + start, logits_all=True)
        llm._ctx.decode(llm._batch)
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(part), vocab))
        sink(logits, tokens[start : start + len(part)])
    llm._ctx.kv_cache_seq_rm(0, n, -1)
    llm.input_ids[:n] = prompt
    llm.n_tokens = n
    llm._requires_eval = True  # the logits now are the text's: the next generation evaluates before sampling
    return how


def score_expert(llm, prompt_text: str, expert: str, n_ctx: int) -> tuple[ExpertScore | None, dict]:
    """The expert's answer scored after the prompt (shared/metrics/likelihood.py), and what was done."""
    start = time.perf_counter()
    if not expert.strip():
        return None, {"skipped": "the question has no expert answer"}
    text, tokens, tokenized = scored_tokens(llm, prompt_text, expert)
    prompt = completion_tokens(llm, prompt_text)
    if len(prompt) + len(tokens) > n_ctx:
        return None, {"skipped": f"prompt {len(prompt)} + expert answer {len(tokens)} tokens exceed n_ctx {n_ctx}"}
    tally = Tally()
    how = read(llm, prompt, tokens, tally.add)
    seconds = time.perf_counter() - start
    score = ExpertScore(tally.tokens, tally.nats, len(text.encode()), tally.rank_sum, seconds, how, tokenized)
    return score, score.provenance(separator(prompt_text))


def logprobs(llm, prompt_text: str, answer: list[int]) -> np.ndarray:
    """Log-probabilities over the vocabulary at each answer position (row i predicts answer[i]), for drift."""
    rows: list[np.ndarray] = []
    read(llm, completion_tokens(llm, prompt_text), answer, lambda logits, _: rows.append(log_softmax(logits)))
    return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, llm.n_vocab()), np.float32)
