"""The report's summary table: one row per run, every figure ragq keeps for it."""

from ragq.producer.results.page import Table
from ragq.producer.results.summary import RunSummary

SUMMARY_HEAD = ["run", "model", "ratio", "done", "failed", "mean cosine", "95% CI", "expert bits/byte [95% CI]"]
SUMMARY_HEAD += ["token F1", "ROUGE-L", "grounded"]
SUMMARY_HEAD += ["numbers", "abstained", "evidence hit", "mean s", "p50 s", "p95 s", "TTFT s", "pp tok/s", "tg tok/s"]
SUMMARY_HEAD += ["peak RSS MB", "drift from", "mean KLD", "p99 KLD", "same top %"]


def _num(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _summary_cells(s: RunSummary) -> list:
    return [
        s.run_id,
        s.model,
        f"{s.ratio:g}",
        f"{s.done}/{s.jobs}",
        s.failed,
        _num(s.mean_cosine),
        f"{_num(s.cosine_ci_low)} to {_num(s.cosine_ci_high)}",
        _expert(s),
        *(_num(s.metric(m)["mean"]) for m in ("token_f1", "rouge_l", "groundedness", "number_match")),
        _num(s.abstention_rate, 2),
        _num(s.evidence_hit_rate, 2),
        *(_num(v, 2) for v in (s.mean_total_s, s.p50_total_s, s.p95_total_s, s.mean_ttft_s)),
        _num(s.prompt_tokens_per_s, 0),
        _num(s.gen_tokens_per_s, 1),
        _num(s.peak_rss_mb, 0),
        *_drift_cells(s.drift),
    ]


def _expert(s: RunSummary) -> str:
    """The experts' answers' likelihood with its interval; runs stored before it say so."""
    m = s.metric("expert_bpb")
    if m["mean"] is None:
        return "not scored: ragq rescore" if s.done else "-"
    ci = f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]" if m["ci_low"] is not None else ""
    return f"{m['mean']:.3f}{ci}" + (f" ({s.expert_missing} not scored)" if s.expert_missing else "")


def _drift_cells(d: dict | None) -> list[str]:
    """Drift beside accuracy (`ragq drift`): the reference, quantized ones named as such."""
    if not d:
        return ["-"] * 4
    quant = d["reference_quantization"]
    ref = d["reference"] + (f" ({quant})" if quant else "")
    return [ref, _num(d["kld_mean"], 4), _num(d["kld_p99"], 3), _num(100 * d["same_top"], 1)]


def table(summaries: list[RunSummary]) -> Table:
    return Table(SUMMARY_HEAD, [[str(c) for c in _summary_cells(s)] for s in summaries])
