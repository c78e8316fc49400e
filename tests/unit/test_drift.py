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


def test_log_softmax_of_huge_logits_and_of_one_row():
    """The max is subtracted before exp: logits of 1000 stay finite. A single row (1-D) is a row too."""
    assert dm.log_softmax(np.array([[1000.0, 1000.0]])) == pytest.approx(np.log([[0.5, 0.5]]))
    row = np.random.default_rng(4).normal(0, 3, 30)
    assert np.allclose(dm.log_softmax(row), scipy_log_softmax(row))


def test_kld_is_never_negative_where_rounding_would_make_it_so():
    """Two distributions a hair apart: summed in float64, p * (log p - log q) rounds to -4.3e-17 here; a KL
    divergence is 0 at the least (Gibbs), so it is reported as 0, not below."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (1, 50))
    ref, cand = scipy_log_softmax(z, axis=1), scipy_log_softmax(z + rng.normal(0, 1e-9, (1, 50)), axis=1)
    assert (np.exp(ref) * (ref - cand)).sum() < 0  # the rounding this guards against
    assert dm.token_drift(ref, cand, [0]).kld.tolist() == [0.0]


def test_same_top_and_shapes_either_way():
    ref = dm.log_softmax(np.array([[0.0, 5.0, 1.0], [5.0, 0.0, 1.0]]))
    cand = dm.log_softmax(np.array([[5.0, 0.0, 1.0], [0.0, 5.0, 1.0]]))  # top tokens 1 -> 0 and 0 -> 1
    assert dm.token_drift(ref, cand, [1, 0]).same_top.tolist() == [False, False]
    for bad_ref, bad_cand, tokens in [
        (np.zeros((2, 3)), np.zeros((2, 4)), [0, 1]),  # a wider candidate
        (np.zeros((2, 4)), np.zeros((2, 3)), [0, 1]),  # a narrower one
        (np.zeros((2, 3)), np.zeros((2, 3)), [0, 1, 2]),  # more tokens than rows
        (np.zeros((2, 3)), np.zeros((2, 3)), [0]),  # fewer
    ]:
        with pytest.raises(ValueError, match="shapes differ"):
            dm.token_drift(bad_ref, bad_cand, tokens)
    long = dm.log_softmax(np.random.default_rng(5).normal(0, 1, (300, 4)))  # beyond CPython's cached small ints
    assert len(dm.token_drift(long, long, [0] * 300).kld) == 300
    with pytest.raises(AttributeError):  # the figures are values
        dm.token_drift(ref, cand, [1, 0]).kld = None  # type: ignore[misc]


def test_summaries_of_no_token_and_of_one():
    nothing = {"tokens": 0, "kld_mean": None, "kld_median": None, "kld_p99": None, "kld_max": None}
    nothing |= {"same_top": None, "dp_mean": None, "dp_rms": None}
    assert dm.summary(np.zeros(0), np.zeros(0, bool), np.zeros(0)) == nothing
    assert dm.pooled([]) == nothing and dm.pooled([([], 0.0, 0.0, 0.0)]) == nothing
    one = {"tokens": 1, "kld_mean": 0.25, "kld_median": 0.25, "kld_p99": 0.25, "kld_max": 0.25}
    one |= {"same_top": 1.0, "dp_mean": -0.5, "dp_rms": 0.5}
    assert dm.summary(np.array([0.25]), np.array([True]), np.array([-0.5])) == one
    assert dm.pooled([([0.25], 1.0, -0.5, 0.5)]) == one
