"""Drift in the database: the reference answers `ragq drift` reads, its passes written (a candidate's earlier pass
over the same answers replaced whole), and read back: a run's drift from the reference that answered the same
index, question set and ratio, pooled over its answers, and each question's figures for exports."""

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, aliased

from ragq.shared.metrics.drift import pooled
from ragq.shared.store.schema import Drift, Job, ModelRow, Result, Run


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


def reference_answers(s: Session, run_ids: list[int]) -> list[tuple[int, str, str]]:
    """(job id, prompt, answer) of every stored answer of these runs' first repetition, by job."""
    query = (
        select(Job.id, Result.prompt, Result.answer)
        .join(Result, Result.job_id == Job.id)
        .where(Job.run_id.in_(run_ids), Job.repetition == 0)
        .order_by(Job.id)
    )
    return [(job_id, prompt, answer) for job_id, prompt, answer in s.execute(query).all()]


def replace_pass(s: Session, model_id: int, digest: str, rows: list[dict]) -> None:
    """One candidate's pass, one row per answer (the `drift` table's columns); an earlier pass of the same
    candidate spec over the same answers is replaced whole."""
    job_ids = [row["reference_job_id"] for row in rows]
    s.execute(
        delete(Drift).where(
            Drift.reference_job_id.in_(job_ids), Drift.model_id == model_id, Drift.spec_digest == digest
        )
    )
    s.add_all(Drift(model_id=model_id, spec_digest=digest, **row) for row in rows)
