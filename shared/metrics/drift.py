"""Drift of a candidate model from a reference, token by token over the reference's own answer, as llama.cpp's
`llama-perplexity --kl-divergence` defines it (examples/perplexity/perplexity.cpp):

- KL divergence KL(reference || candidate) = sum_v p_ref(v) (log p_ref(v) - log p_cand(v)), in nats, per position;
- same top token: the argmax of both distributions agree;
- delta-p: p_cand(t) - p_ref(t) of the token t the reference actually produced there; reported as its mean and RMS.

Inputs are log-probabilities (rows: answer positions, columns: the vocabulary), from logits by `log_softmax`.
"""

from dataclasses import dataclass

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities, in float64 (llama.cpp's own KL code sums in double too)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class TokenDrift:
    kld: np.ndarray  # per position, nats
    same_top: np.ndarray  # per position, bool
    dp: np.ndarray  # per position, p_cand(t) - p_ref(t)


def token_drift(ref_logp: np.ndarray, cand_logp: np.ndarray, tokens: list[int]) -> TokenDrift:
    """Per-position figures; row i of each array predicts tokens[i]."""
    ref, cand = np.asarray(ref_logp, np.float64), np.asarray(cand_logp, np.float64)
    if ref.shape != cand.shape or ref.shape[0] != len(tokens):
        raise ValueError(f"shapes differ: reference {ref.shape}, candidate {cand.shape}, {len(tokens)} tokens")
    p_ref = np.exp(ref)
    kld = np.maximum((p_ref * (ref - cand)).sum(axis=1), 0.0)  # >= 0; rounding can give -1e-17
    same = ref.argmax(axis=1) == cand.argmax(axis=1)
    rows = np.arange(len(tokens))
    dp = np.exp(cand[rows, tokens]) - np.exp(ref[rows, tokens])
    return TokenDrift(kld, same, dp)


def summary(kld: np.ndarray, same_top: np.ndarray, dp: np.ndarray) -> dict:
    """One answer's or one run's figures over its positions (None where there is none)."""
    if len(kld) == 0:
        return {"tokens": 0, "kld_mean": None, "kld_median": None, "kld_p99": None, "kld_max": None,
                "same_top": None, "dp_mean": None, "dp_rms": None}  # fmt: skip
    return {
        "tokens": int(len(kld)),
        "kld_mean": float(np.mean(kld)),
        "kld_median": float(np.median(kld)),
        "kld_p99": float(np.percentile(kld, 99)),
        "kld_max": float(np.max(kld)),
        "same_top": float(np.mean(same_top)),
        "dp_mean": float(np.mean(dp)),
        "dp_rms": float(np.sqrt(np.mean(np.square(dp)))),
    }


def pooled(rows: list[tuple[list[float], float, float, float]]) -> dict:
    """A run's figures from its answers' stored rows (kld per token, same_top share, dp mean, dp RMS): every
    token weighs the same, as if the answers were one sequence."""
    kld = np.concatenate([np.asarray(k, np.float64) for k, _, _, _ in rows]) if rows else np.zeros(0)
    n = np.array([len(k) for k, _, _, _ in rows], dtype=float)
    if n.sum() == 0:
        return summary(kld, np.zeros(0, bool), np.zeros(0))
    return {
        "tokens": int(n.sum()),
        "kld_mean": float(np.mean(kld)),
        "kld_median": float(np.median(kld)),
        "kld_p99": float(np.percentile(kld, 99)),
        "kld_max": float(np.max(kld)),
        "same_top": float(np.dot(n, [r[1] for r in rows]) / n.sum()),
        "dp_mean": float(np.dot(n, [r[2] for r in rows]) / n.sum()),
        "dp_rms": float(np.sqrt(np.dot(n, np.square([r[3] for r in rows])) / n.sum())),
    }
