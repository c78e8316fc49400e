"""Per-run summaries and their statistics, from the rows shared/store/results.py reads."""

import statistics
from dataclasses import asdict, dataclass, field

from ragq.producer.results.stats import bootstrap_ci, percentile
from ragq.shared.config import Settings
from ragq.shared.metrics.answer import METRICS
from ragq.shared.metrics.likelihood import LIKELIHOOD
from ragq.shared.store.door import Store
from ragq.shared.store.results import ResultRow, spec_id
from ragq.shared.store.summaries import RunFacts


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    model: str
    spec_id: str  # tells two runs of one model name with different settings apart
    prompt_kind: str
    index: str
    questions: str
    fusion: str
    ratio: float
    jobs: int
    done: int
    failed: int
    repeat: int
    mean_cosine: float | None
    cosine_ci_low: float | None  # 95% bootstrap interval of the mean cosine
    cosine_ci_high: float | None
    std_cosine: float | None
    evidence_hit_rate: float | None  # share of answers whose prompt held an evidence page (questions with evidence)
    mean_total_s: float | None
    std_total_s: float | None  # over every answer: questions differ, so this is mostly their spread
    repeat_sd_s: float | None  # with --repeat: each question's SD over its repetitions, averaged (llama-bench's +-)
    repeat_sd_cosine: float | None
    p50_total_s: float | None
    p95_total_s: float | None
    mean_ttft_s: float | None
    prompt_tokens_per_s: float | None  # llama-bench's pp: prompt tokens / prompt-eval seconds, over the run
    gen_tokens_per_s: float | None  # llama-bench's tg
    peak_rss_mb: float | None
    mean_gen_tokens: float | None
    host_workers: int | None = None  # the most ragq workers that shared the host during one of its jobs
    placement: str | None = None  # where its model ran: "CPU", "Metal 31/31 layers" ("mixed" if its jobs differ)
    build: str | None = None  # the llama.cpp that answered: version and instruction sets ("mixed" if they differ)
    # every answer metric: {"token_f1": {"mean", "ci_low", "ci_high", "n"}, ...}, cosine included
    metrics: dict = field(default_factory=dict)
    abstention_rate: float | None = None  # share of answers that declined (counted apart from wrong ones)
    # `ragq drift` from a reference on the same questions: shared/store/drift.by_run (None: not measured)
    drift: dict | None = None
    expert_missing: int = 0  # answers without the expert answer's likelihood (stored before schema 0007, ...)

    def metric(self, name: str) -> dict:
        return self.metrics.get(name) or {"mean": None, "ci_low": None, "ci_high": None, "n": 0}


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _std(values: list[float]) -> float | None:
    """Sample standard deviation; None below two values."""
    return statistics.stdev(values) if len(values) > 1 else None


def _repeat_sd(rows: list[ResultRow], field: str) -> float | None:
    by_question: dict[str, list[float]] = {}
    for r in rows:
        by_question.setdefault(r.question, []).append(getattr(r, field))
    spreads = [statistics.stdev(v) for v in by_question.values() if len(v) > 1]
    return statistics.fmean(spreads) if spreads else None


def _rate(tokens: int, seconds: float) -> float | None:
    return tokens / seconds if seconds else None


def read(settings: Settings, ids: list[int]) -> tuple[list[int], list[ResultRow], list[RunSummary]]:
    """(run ids checked, every answer, each run's summary) of these runs (all when none are given)."""
    run_ids, rows, facts = Store(settings).results(ids)
    return run_ids, rows, summarize(facts)


def summarize(facts: list[RunFacts]) -> list[RunSummary]:
    """Each run's summary, from what the store read of it (shared/store/summaries.py `run_facts`)."""
    return [_summary(run) for run in facts]


def _summary(run: RunFacts) -> RunSummary:
    done, states = run.answers, run.states
    cosines = [r.cosine for r in done]
    ci = bootstrap_ci(cosines) or (None, None)
    evidence = [float(r.evidence_rank > 0) for r in done if r.evidence_rank is not None]
    return RunSummary(
        run_id=run.run_id,
        model=run.model,
        spec_id=spec_id(run.spec_digest),
        prompt_kind=run.prompt_kind,
        index=run.index,
        questions=run.questions,
        fusion=run.fusion,
        ratio=run.ratio,
        jobs=len(states),
        done=len(done),
        failed=states.count("failed"),
        repeat=run.repeat,
        mean_cosine=_mean(cosines),
        cosine_ci_low=ci[0],
        cosine_ci_high=ci[1],
        std_cosine=_std(cosines),
        evidence_hit_rate=_mean(evidence),
        **_speed(done),
        repeat_sd_cosine=_repeat_sd(done, "cosine"),
        host_workers=max((r.host_workers for r in done if r.host_workers is not None), default=None),
        placement=_one({r.placement for r in done if r.placement}),
        build=_one({r.build for r in done if r.build}),
        metrics={name: metric_summary([getattr(r, name) for r in done]) for name in (*METRICS, *LIKELIHOOD)},
        expert_missing=sum(r.expert_bpb is None for r in done),
        abstention_rate=_mean([float(r.abstained) for r in done if r.abstained is not None]),
        drift=run.drift,
    )


def _speed(done: list[ResultRow]) -> dict:
    """How fast a run's answers came: seconds per answer (mean, spread, percentiles), tokens per second, memory."""
    seconds = [r.total_s for r in done]
    return dict(
        mean_total_s=_mean(seconds),
        std_total_s=_std(seconds),
        repeat_sd_s=_repeat_sd(done, "total_s"),
        p50_total_s=percentile(seconds, 50),
        p95_total_s=percentile(seconds, 95),
        mean_ttft_s=_mean([r.ttft_s for r in done]),
        prompt_tokens_per_s=_rate(sum(r.prompt_tokens for r in done), sum(r.prompt_eval_s for r in done)),
        gen_tokens_per_s=_rate(sum(r.gen_tokens for r in done), sum(r.gen_s for r in done)),
        peak_rss_mb=max((r.peak_rss_mb for r in done), default=None),
        mean_gen_tokens=_mean([r.gen_tokens for r in done]),
    )


def unscored_note(summaries: list[RunSummary]) -> str | None:
    """The runs whose answers carry no likelihood of the experts' answers, and the command that adds it."""
    missing = [m for m in summaries if m.expert_missing]
    if not missing:
        return None
    ids = " ".join(str(m.run_id) for m in missing)
    return (
        f"expert bits/byte: {sum(m.expert_missing for m in missing)} answer(s) of run(s) {ids} have none (stored "
        f"before ragq scored the experts' answers, or an expert answer too long for n_ctx): `ragq rescore {ids}` "
        "adds it without answering again"
    )


def metric_summary(values: list) -> dict:
    """Mean with its 95% bootstrap interval over the answers that have the metric."""
    kept = [float(v) for v in values if v is not None]
    ci = bootstrap_ci(kept) or (None, None)
    return {"mean": _mean(kept), "ci_low": ci[0], "ci_high": ci[1], "n": len(kept)}


def _one(values: set[str]) -> str | None:
    return None if not values else values.pop() if len(values) == 1 else "mixed"


def as_dicts(items) -> list[dict]:
    return [asdict(item) for item in items]
