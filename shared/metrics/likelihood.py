"""How likely a model finds the expert's answer: the expert's answer read teacher-forced after the very prompt the
model answered, as lm-evaluation-harness scores a continuation (`loglikelihood`, `bits_per_byte`) and as Atlas
judges passages by the likelihood of the gold answer (Izacard et al. 2022).

What is scored, exactly:
- the text: the expert's answer (the question set's reference, stripped) after a separator that follows the
  prompt's last character: one space where the prompt ends in a visible character ("Answer:" -> " Paris"), nothing
  where it ends in whitespace or a newline (a chat template's "<|im_start|>assistant\\n" -> "Paris"). This is how
  the model itself starts an answer after its own template's answer header.
- the tokens: the prompt and the scored text tokenized together, the text's tokens being those after the prompt's
  own (lm-evaluation-harness's context/continuation split), so that each tokenizer writes the text as it would in
  context (a SentencePiece "▁Paris", a BPE "ĠParis"). Where the split does not fall on the prompt's last token (a
  merge across it) or the text holds a special token's spelling, the text is tokenized on its own.
- no end-of-turn token and no stop string: the expert's words, not the decision to stop after them.

Per answer: the tokens scored, nats per token (mean negative log-likelihood), bits per UTF-8 byte of the scored
text (comparable across tokenizers: total nats / ln 2 / bytes) and the mean rank of the expert's token among the
model's (1 = the model's own first choice). Lower is better for all three.
"""

import math
from dataclasses import dataclass

import numpy as np

MEASURE = "expert_bpb"  # the column that carries it, and its name wherever measures are compared
LIKELIHOOD = (MEASURE, "expert_nats_per_token", "expert_mean_rank")  # what summaries average per run


@dataclass(frozen=True)
class ExpertScore:
    tokens: int
    nats: float  # negative log-likelihood of the scored text, summed over its tokens
    bytes: int  # UTF-8 bytes of the scored text (separator included)
    rank_sum: int  # ranks of the expert's tokens, summed (1 = the model's top token)
    seconds: float = 0.0  # llama.cpp evaluation and the arithmetic here, for this answer
    how: str = ""  # "prompt kept" (the answer's own KV cache) or "prompt evaluated" (rescore, a cache it could not use)
    tokenized: str = "in context"  # or "apart"

    @property
    def nats_per_token(self) -> float:
        return self.nats / self.tokens

    @property
    def bits_per_byte(self) -> float:
        return self.nats / math.log(2) / self.bytes

    @property
    def mean_rank(self) -> float:
        return self.rank_sum / self.tokens

    def columns(self) -> dict:
        """The result row's columns (schema 0007)."""
        return {
            "expert_tokens": self.tokens,
            "expert_bytes": self.bytes,
            "expert_nats_per_token": self.nats_per_token,
            "expert_bpb": self.bits_per_byte,
            "expert_mean_rank": self.mean_rank,
            "expert_s": self.seconds,
        }

    def provenance(self, separator: str) -> dict:
        return {
            "separator": separator,
            "tokenized": self.tokenized,
            "end_of_turn": False,
            "prompt": self.how,
        }


def separator(prompt_text: str) -> str:
    """One space after a visible last character, nothing after whitespace (see the module's docstring)."""
    return " " if prompt_text and not prompt_text[-1].isspace() else ""


def scored_text(prompt_text: str, expert: str) -> str:
    return separator(prompt_text) + expert.strip()


# rows reduced at once: a slice's temporaries are SLICE x vocabulary float32 (4 MB at Gemma 3's 262k), where the
# whole batch at once (32 rows) made 33 MB ones, three at a time, and raised a worker's peak by 130 MB
SLICE = 4


def row_scores(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of logits (one vocabulary each): the negative log-probability of the row's target token, in nats,
    and its rank (1 + how many tokens have a higher logit). Log-sum-exp over max-shifted float32 logits, summed in
    float64, a few rows at a time."""
    rows = np.asarray(logits, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.int64)
    nll = np.empty(len(targets), dtype=np.float64)
    ranks = np.empty(len(targets), dtype=np.int64)
    for start in range(0, len(targets), SLICE):
        part, want = rows[start : start + SLICE], targets[start : start + SLICE]
        chosen = part[np.arange(len(want)), want]
        ranks[start : start + SLICE] = 1 + (part > chosen[:, None]).sum(axis=1)
        top = part.max(axis=1)
        shifted = part - top[:, None]
        chosen_shifted = shifted[np.arange(len(want)), want].astype(np.float64)
        np.exp(shifted, out=shifted)
        nll[start : start + SLICE] = np.log(shifted.sum(axis=1, dtype=np.float64)) - chosen_shifted
    return nll, ranks


class Tally:
    """Sums row_scores over the batches of one answer, so that no more than one batch of logits is held at once."""

    def __init__(self):
        self.nats = 0.0
        self.rank_sum = 0
        self.tokens = 0

    def add(self, logits: np.ndarray, targets) -> None:
        nll, ranks = row_scores(logits, np.asarray(targets))
        self.nats += float(nll.sum())
        self.rank_sum += int(ranks.sum())
        self.tokens += len(ranks)
