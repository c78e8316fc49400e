"""`ragq drift`: how far each candidate's token distribution moves from a reference's on the user's own RAG prompts.

The reference answers the questions first (a finished run of it over the same index, set and ratio is reused;
otherwise `ragq run` makes one with real workers). Then, one model in memory at a time, loaded as a worker loads it
(producer/loading.py: the placement tuned on this host, the accelerator), each model reads the reference's prompt
and answer teacher-forced through llama.cpp's batch API, logits at the answer's positions only
(shared/rag/forced.py), no generation. The reference's log-probabilities over its answer positions wait in a
scratch folder while the candidates are scored against them (shared/metrics/drift.py). Every figure is stored per
answer in the `drift` table, replacing an earlier pass of the same candidate over the same answer.
"""

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragq.producer import loading, supervisor
from ragq.producer.planning import RunRequest
from ragq.shared.config import Settings
from ragq.shared.errors import UsageError
from ragq.shared.metrics.drift import summary as drift_summary
from ragq.shared.metrics.drift import token_drift
from ragq.shared.models import catalog, files, identity
from ragq.shared.provenance import quantization
from ragq.shared.store.door import Store

Say = Callable[[str], None]


@dataclass(frozen=True)
class Answer:
    job_id: int
    prompt: str
    text: str


@dataclass(frozen=True)
class Pass:
    """One candidate's figures over the reference run's answers."""

    model: str
    summary: dict  # shared/metrics/drift.summary over every answer token
    answers: int
    seconds: float  # the candidate's teacher-forced passes, summed (loading aside)


def reference_answers(settings: Settings, reference: str, index: str, questions: str, ratio: float) -> list[Answer]:
    """The reference run's answers (its first repetition), answering the questions first when it has not."""
    plan = supervisor.run(
        settings,
        RunRequest(models=[reference], ratios=[ratio], index=index, questions=questions),
        lambda *a: None,
        warn=lambda line: None,
        say=lambda line: None,
    )
    rows = Store(settings).reference_answers(plan.run_ids)
    if not rows:
        raise UsageError(f"'{reference}' stored no answer over '{questions}': see `ragq status`.")
    return [Answer(*row) for row in rows]


def _file_facts(settings: Settings, runner) -> dict:
    return {
        "model": runner.spec.name,
        "file": str(runner.path),
        "sha256": files.file_sha256(settings, runner.path),
        "quantization": quantization(runner.llm.metadata),  # a quantized reference is named so wherever it is shown
        "placement": runner.placement.label(),
    }


def drift(
    settings: Settings,
    reference: str,
    candidates: list[str],
    *,
    index: str,
    questions: str,
    ratio: float = 0.3,
    say: Say = print,
) -> list[Pass]:
    """Score each candidate against the reference's answers; store and return the figures."""
    answers = reference_answers(settings, reference, index, questions, ratio)
    scratch = Path(tempfile.mkdtemp(prefix="ragq-drift-"))
    try:
        say(f"{reference}: reading its {len(answers)} answers teacher-forced ...")
        with loading.opened(settings, reference) as runner:
            ref_facts = _file_facts(settings, runner)
            vocab, tokens = runner.llm.n_vocab(), []
            for i, stored in enumerate(answers):
                prompt, answer = runner.tokens(stored.prompt, stored.text)
                tokens.append((prompt, answer))
                np.save(scratch / f"{i}.npy", runner.answer_logprobs(stored.prompt, answer))
        return [_candidate(settings, name, answers, tokens, vocab, scratch, ref_facts, say) for name in candidates]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _candidate(settings, name, answers, tokens, vocab, scratch, ref_facts, say) -> Pass:
    say(f"{name}: scoring the reference's answers ...")
    with loading.opened(settings, name) as runner:
        if runner.llm.n_vocab() != vocab or runner.tokens(answers[0].prompt, answers[0].text) != tokens[0]:
            raise UsageError(
                f"'{name}' does not share '{ref_facts['model']}''s tokenizer: drift compares the same tokens, so "
                "give a variant of the reference (e.g. from `ragq models quantize`)."
            )
        spec = runner.spec
        facts = {"reference": ref_facts, "candidate": _file_facts(settings, runner)}
        facts["llama_cpp_python"] = __import__("llama_cpp").__version__
        per_answer, total_s = [], 0.0
        for i, (stored, (_, answer)) in enumerate(zip(answers, tokens, strict=True)):
            start = time.perf_counter()
            cand = runner.answer_logprobs(stored.prompt, answer)
            seconds = time.perf_counter() - start
            total_s += seconds
            per_answer.append((stored, token_drift(np.load(scratch / f"{i}.npy"), cand, answer), seconds))
    digest = identity.resolve(settings, spec, "chat").digest
    store(settings, spec, digest, per_answer, facts)
    kld = np.concatenate([d.kld for _, d, _ in per_answer])
    same = np.concatenate([d.same_top for _, d, _ in per_answer])
    dp = np.concatenate([d.dp for _, d, _ in per_answer])
    return Pass(name, drift_summary(kld, same, dp), len(per_answer), total_s)


def store(settings: Settings, spec, digest: str, per_answer: list, facts: dict) -> None:
    """One row per answer; an earlier pass of the same candidate spec over the same answers is replaced whole."""
    rows = []
    for stored, per_token, seconds in per_answer:
        figures = drift_summary(per_token.kld, per_token.same_top, per_token.dp)
        rows.append(
            dict(
                reference_job_id=stored.job_id,
                tokens=figures["tokens"],
                kld=[round(float(x), 9) for x in per_token.kld],
                kld_mean=figures["kld_mean"] or 0.0,
                same_top=figures["same_top"] or 0.0,
                dp_mean=figures["dp_mean"] or 0.0,
                dp_rms=figures["dp_rms"] or 0.0,
                seconds=seconds,
                provenance=facts,
            )
        )
    Store(settings).replace_drift(spec.name, catalog.as_dict(spec), digest, rows)
