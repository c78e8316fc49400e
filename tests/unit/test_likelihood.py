"""The expert answer's likelihood on made-up logits: against scipy's log-softmax and by hand."""

import dataclasses
import math

import numpy as np
import pytest
from scipy.special import log_softmax

from ragq.shared.metrics.likelihood import ExpertScore, Tally, row_scores, scored_text, separator


def test_row_scores_against_scipy_and_ranks_by_hand():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, (5, 300)).astype(np.float32)
    targets = np.array([3, 17, 299, 0, 42])
    nll, ranks = row_scores(logits, targets)
    expected = -log_softmax(logits.astype(np.float64), axis=1)[np.arange(5), targets]
    assert nll == pytest.approx(expected, rel=1e-6)
    for row, target, rank in zip(logits, targets, ranks, strict=True):
        assert rank == 1 + sum(1 for v in row if v > row[target])  # 1 = the model's own first choice
    top = logits.argmax(axis=1)
    assert list(row_scores(logits, top)[1]) == [1] * 5


def test_row_scores_are_stable_for_large_logits_and_exact_for_a_two_token_vocabulary():
    logits = np.array([[1000.0, 1000.0], [0.0, math.log(3.0)]], dtype=np.float32)
    nll, ranks = row_scores(logits, np.array([0, 1]))
    assert nll == pytest.approx([math.log(2), math.log(4 / 3)], rel=1e-6)  # p = 1/2 and 3/4
    assert list(ranks) == [1, 1]  # a tie is not a higher logit


def test_tally_over_batches_equals_one_pass():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (9, 50)).astype(np.float32)
    targets = rng.integers(0, 50, 9)
    whole, parts = Tally(), Tally()
    whole.add(logits, targets)
    for start in range(0, 9, 4):
        parts.add(logits[start : start + 4], targets[start : start + 4])
    assert (
        (parts.tokens, parts.rank_sum)
        == (whole.tokens, whole.rank_sum)
        == (9, int(row_scores(logits, targets)[1].sum()))
    )
    assert parts.nats == pytest.approx(whole.nats, rel=1e-12)
    by_scipy = -log_softmax(logits.astype(np.float64), axis=1)[np.arange(9), targets].sum()
    assert parts.nats == pytest.approx(by_scipy, rel=1e-6)  # from zero: two tallies could share a wrong start


def test_the_separator_follows_the_prompts_last_character():
    assert separator("Question: What blinks?\nAnswer:") == " "  # a completion header: the answer starts after a space
    assert separator("<|im_start|>assistant\n") == ""  # a chat template's header ends on a newline
    assert separator("[INST] What blinks? [/INST]") == " "
    assert separator("") == ""
    assert scored_text("Answer:", "  It blinks amber. ") == " It blinks amber."


def test_per_token_and_per_byte_figures():
    s = ExpertScore(tokens=4, nats=6.0, bytes=20, rank_sum=10, seconds=0.2)
    assert s.nats_per_token == 1.5 and s.mean_rank == 2.5
    assert s.bits_per_byte == pytest.approx(6.0 / math.log(2) / 20)
    cols = s.columns()
    assert cols == {
        "expert_tokens": 4,
        "expert_bytes": 20,
        "expert_nats_per_token": 1.5,
        "expert_bpb": pytest.approx(0.4328085),
        "expert_mean_rank": 2.5,
        "expert_s": 0.2,
    }


def test_a_score_without_timing_and_its_provenance():
    s = ExpertScore(tokens=2, nats=1.0, bytes=5, rank_sum=3)
    assert (s.seconds, s.columns()["expert_s"], s.how, s.tokenized) == (0.0, 0.0, "", "in context")
    apart = ExpertScore(tokens=2, nats=1.0, bytes=5, rank_sum=3, how="prompt evaluated", tokenized="apart")
    assert apart.provenance("") == {
        "separator": "",
        "tokenized": "apart",
        "end_of_turn": False,
        "prompt": "prompt evaluated",
    }
    with pytest.raises(dataclasses.FrozenInstanceError):  # a stored score is a value: nothing amends it later
        s.nats = 2.0  # type: ignore[misc]


def test_a_full_batch_of_gemma_sized_rows_agrees_with_float64_numpy():
    """32 rows of a 262,144-token vocabulary (a llama.cpp batch of Gemma 3's logits), reduced a few rows at a time
    in float32 with float64 sums: within 1e-4 of log-softmax in float64 over the whole batch."""
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 6, (32, 262_144)).astype(np.float32)
    targets = rng.integers(0, 262_144, 32)
    nll, ranks = row_scores(logits, targets)
    wide = logits.astype(np.float64)
    expected = -(wide[np.arange(32), targets] - wide.max(axis=1))
    expected += np.log(np.exp(wide - wide.max(axis=1, keepdims=True)).sum(axis=1))
    assert np.abs(nll - expected).max() <= 1e-4
    assert list(ranks) == [1 + int((row > row[t]).sum()) for row, t in zip(logits, targets, strict=True)]
