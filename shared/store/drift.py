"""Reading drift back (rows `ragq drift` stored): a run's drift from the reference that answered the same index,
question set and ratio, pooled over its answers, and each question's figures for exports."""

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ragq.shared.metrics.drift import pooled
from ragq.shared.store.schema import Drift, Job, ModelRow, Run


def _rows(s: Session, run_ids: list[int]):
    """(candidate run id, question id, drift row, reference model name) for each drift row matching a run."""
    ref_job, ref_run, ref_model = aliased(Job), aliased(Run), aliased(ModelRow)
    query = (
        select(Run.id, ref_job.question_id, Drift, ref_model.name)
        .join(Drift, (Drift.model_id == Run.model_id) & (Drift.spec_digest == Run.spec_digest))
        .join(ref_job, Drift.reference_job_id == ref_job.id)
        .join(ref_run, ref_job.run_id == ref_run.id)
        .join(ref_model, ref_run.model_id == ref_model.id)
        .where(Run.id.in_(run_ids))
        .where(ref_run.index_id == Run.index_id, ref_run.set_id == Run.set_id, ref_run.ratio == Run.ratio)
        .order_by(Drift.created_at, Drift.id)
    )
    return s.execute(query).all()


COLUMNS = (
    "drift_reference",
    "drift_reference_quantization",
    "drift_tokens",
    "drift_kld_mean",
    "drift_kld_max",
    "drift_same_top",
    "drift_dp_rms",
)


def by_question(s: Session, run_ids: list[int]) -> dict[tuple[int, int], dict]:
    """{(run id, question id): that answer's drift} (the latest pass where several references were used)."""
    out = {}
    for run_id, question_id, d, ref in _rows(s, run_ids):
        out[(run_id, question_id)] = {
            "drift_reference": ref,
            "drift_reference_quantization": (d.provenance.get("reference") or {}).get("quantization"),
            "drift_tokens": d.tokens,
            "drift_kld_mean": d.kld_mean,
            "drift_kld_max": max(d.kld) if d.kld else None,
            "drift_same_top": d.same_top,
            "drift_dp_rms": d.dp_rms,
        }
    return out


def by_run(s: Session, run_ids: list[int]) -> dict[int, dict]:
    """{run id: its drift pooled over every answer token, with the reference named} for runs that have one."""
    grouped: dict[int, dict] = {}
    for run_id, question_id, d, ref in _rows(s, run_ids):
        quant = (d.provenance.get("reference") or {}).get("quantization")
        entry = grouped.setdefault(run_id, {"reference": ref, "reference_quantization": quant, "rows": {}})
        entry.update(reference=ref, reference_quantization=quant)
        entry["rows"][question_id] = (d.kld, d.same_top, d.dp_mean, d.dp_rms, d.seconds)
    return {
        run_id: {
            "reference": e["reference"],
            "reference_quantization": e["reference_quantization"],
            "answers": len(e["rows"]),
            "seconds": sum(r[4] for r in e["rows"].values()),
            **pooled([r[:4] for r in e["rows"].values()]),
        }
        for run_id, e in grouped.items()
    }
