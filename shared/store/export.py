"""Every stored result of some runs as one flat record each (run, question, job, result, provenance columns,
drift), for `ragq export` to write in any format."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ragq.shared.records import RunSettings
from ragq.shared.store import drift as drift_store
from ragq.shared.store.results import of_runs, spec_id
from ragq.shared.store.schema import IndexRow, Job, ModelRow, Question, QuestionSet, Result, Run

# provenance fields lifted into their own columns, so a spreadsheet shows them without parsing JSON; each lists
# where it is in a result's provenance, then where results made before spec digests (schema 0001) kept it
PROVENANCE_COLUMNS: dict[str, list[tuple]] = {
    "model_file": [("model", "file")],
    "model_sha256": [("model", "sha256")],
    "quantization": [("model", "quantization")],
    "parameters": [("model", "parameters")],
    "llama_cpp_python": [("llama_cpp_python",)],
    "llama_cpp_system_info": [("llama_cpp_system_info",)],
    "spec_digest": [("spec_digest",)],
    "template_kind": [("prompt", "kind"), ("prompt_template", "kind")],
    "template_source": [("prompt", "source")],
    "template_sha256": [("prompt", "sha256"), ("prompt_template", "sha256")],
    "n_ctx": [("llama_cpp", "load", "n_ctx"), ("generation", "n_ctx")],
    "n_batch": [("llama_cpp", "load", "n_batch")],
    "max_tokens": [("llama_cpp", "sampling", "max_tokens"), ("generation", "max_tokens")],
    "temperature": [("llama_cpp", "sampling", "temperature"), ("generation", "temperature")],
    "top_p": [("llama_cpp", "sampling", "top_p"), ("generation", "top_p")],
    "top_k": [("llama_cpp", "sampling", "top_k")],
    "min_p": [("llama_cpp", "sampling", "min_p")],
    "repeat_penalty": [("llama_cpp", "sampling", "repeat_penalty")],
    "penalty_last_n": [("llama_cpp", "load", "last_n_tokens_size")],
    "seed": [("llama_cpp", "sampling", "seed"), ("generation", "seed")],
    "n_threads": [("llama_cpp", "n_threads"), ("generation", "n_threads")],
    "n_threads_batch": [("placement", "n_threads_batch"), ("llama_cpp", "load", "n_threads_batch")],
    "flash_attn": [("placement", "flash_attn"), ("llama_cpp", "load", "flash_attn")],
    "placement_host": [("placement", "host"), ("host",)],
    "n_gpu_layers": [("llama_cpp", "load", "n_gpu_layers"), ("generation", "n_gpu_layers")],
    "offload_backend": [("offload", "backend")],
    "layers_offloaded": [("offload", "layers_offloaded")],
    "host_workers": [("host_workers",)],
    "embedder": [("embedder",)],
    "embedder_runtime": [("embedder_runtime",)],
    "kv_cache": [("kv_cache",)],
    "retrieval": [("retrieval",)],
}


def _dig(data: dict, paths: list[tuple]):
    for path in paths:
        value: object = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def export_records(s: Session, run_ids: list[int]) -> list[dict]:
    columns = select(Run, ModelRow.name, IndexRow.name, QuestionSet.name, Job, Question, Result)
    query = of_runs(columns, run_ids).join(IndexRow, Run.index_id == IndexRow.id)
    rows = s.execute(query.join(QuestionSet, Run.set_id == QuestionSet.id)).all()
    drifts = drift_store.by_question(s, run_ids)
    records = []
    for run, model, index, qset, job, question, result in rows:
        settings = RunSettings.from_dict(run.settings)
        record = {
            "run_id": run.id,
            "run_generation": run.generation,
            "model": model,
            "index": index,
            "questions": qset,
            "fusion": settings.retrieval.fusion,
            "ratio": run.ratio,
            "repeat": settings.repeat,
            "kv_reuse": settings.kv_reuse,
            "spec_id": spec_id(run.spec_digest),
            "prompt_kind": run.prompt_kind,
            "job_id": job.id,
            "attempts": job.attempts,
            "repetition": job.repetition,
            "question_position": question.position,
            "question": question.question,
            "reference": question.answer,
            "evidence_pages": question.evidence_pages,
            "doc": question.doc,
        }
        record.update(
            {c.name: getattr(result, c.name) for c in Result.__table__.columns if c.name not in ("id", "job_id")}
        )
        record.update({name: _dig(result.provenance, paths) for name, paths in PROVENANCE_COLUMNS.items()})
        record.update(drifts.get((run.id, question.id)) or dict.fromkeys(drift_store.COLUMNS))  # `ragq drift`
        records.append(record)
    return records
