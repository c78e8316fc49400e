"""Drift figures on made-up distributions, against scipy's own KL divergence and by hand."""

import numpy as np
import pytest
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import rel_entr

from ragq.shared.metrics import drift as dm


def test_log_softmax_matches_scipy():
    logits = np.random.default_rng(0).normal(0, 5, (4, 50)).astype(np.float32)
    assert np.allclose(dm.log_softmax(logits), scipy_log_softmax(logits.astype(np.float64), axis=1))


def test_token_figures_against_scipy_and_by_hand():
    rng = np.random.default_rng(1)
    ref = dm.log_softmax(rng.normal(0, 3, (6, 40)))
    cand = dm.log_softmax(np.log(np.exp(ref)) + rng.normal(0, 0.5, (6, 40)))
    tokens = [int(np.argmax(r)) for r in ref]  # the reference's own (greedy) tokens
    tokens[2] = 7  # one sampled token that was not the top one
    d = dm.token_drift(ref, cand, tokens)
    assert np.allclose(d.kld, rel_entr(np.exp(ref), np.exp(cand)).sum(axis=1))
    assert list(d.same_top) == [np.argmax(a) == np.argmax(b) for a, b in zip(ref, cand, strict=True)]
    assert np.allclose(d.dp, [np.exp(cand[i, t]) - np.exp(ref[i, t]) for i, t in enumerate(tokens)])
    s = dm.summary(d.kld, d.same_top, d.dp)
    assert s["tokens"] == 6 and s["kld_max"] == pytest.approx(d.kld.max())
    assert s["dp_rms"] == pytest.approx(np.sqrt(np.mean(d.dp**2)))


def test_a_model_against_itself_drifts_zero():
    ref = dm.log_softmax(np.random.default_rng(2).normal(0, 3, (5, 30)))
    d = dm.token_drift(ref, ref.copy(), [0, 1, 2, 3, 4])
    s = dm.summary(d.kld, d.same_top, d.dp)
    assert s["kld_max"] <= 1e-12 and s["same_top"] == 1.0 and s["dp_rms"] == 0.0


def test_pooled_answers_weigh_every_token_the_same():
    rng = np.random.default_rng(3)
    parts = []
    for n in (3, 9):
        ref, cand = dm.log_softmax(rng.normal(0, 2, (n, 20))), dm.log_softmax(rng.normal(0, 2, (n, 20)))
        parts.append(dm.token_drift(ref, cand, list(rng.integers(0, 20, n))))
    rows = []
    for d in parts:
        s = dm.summary(d.kld, d.same_top, d.dp)
        rows.append((list(d.kld), s["same_top"], s["dp_mean"], s["dp_rms"]))
    whole = dm.summary(*(np.concatenate([getattr(d, f) for d in parts]) for f in ("kld", "same_top", "dp")))
    assert dm.pooled(rows) == pytest.approx(whole)
    with pytest.raises(ValueError, match="shapes differ"):
        dm.token_drift(np.zeros((2, 3)), np.zeros((3, 3)), [0, 1])
