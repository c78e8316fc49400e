"""One job's result: what the pipeline found, how long it took, where it ran, and its provenance."""

import os
import socket
from datetime import datetime

from ragq.shared import provenance
from ragq.shared.corpus.index import HybridIndex
from ragq.shared.rag.pipeline import JobResult, Outcome
from ragq.shared.records import JobContext
from ragq.shared.store.clock import utcnow
from ragq.shared.usage import peak_rss_mb
from ragq.worker.loaded import Loaded


def job_provenance(loaded: Loaded, ctx: JobContext, outcome: Outcome, index: HybridIndex, digest: str, sharing) -> dict:
    """The model's provenance (loaded once) with this job's: retrieval, KV cache, the expert score, the prompt."""
    ask = ctx.ask
    return {
        **loaded.provenance,
        "retrieval": {
            **ask.settings.retrieval.as_dict(ask.ratio),
            "embedder": index.manifest["embedder"],
            "embedding": index.manifest.get("embedding", "fp32"),  # the query embedded with the index's variant
            "quantization": index.manifest.get("quantization"),  # and, int8, its recipe
            "pdf_reader": index.manifest.get("reader", "pypdf"),
            "index": ctx.index,
            "index_sources": {source["name"]: source["sha256"] for source in index.manifest["sources"]},
        },
        "scorer_embedding": loaded.embedders.scorer_for(index.manifest).label,
        "kv_cache": "reuse shared prefix" if ask.settings.kv_reuse else "reset before each job",
        "host_workers": sharing,  # ragq workers alive on this host while the job ran, this one included
        "expert_score": {**(outcome.expert_note or {}), "by": "job"},
        **provenance.prompt_provenance(loaded.runner.layout(ask.prompt_kind), digest),
    }


def job_result(outcome: Outcome, started: datetime, cpu_s: float, worker: str, job_provenance: dict) -> JobResult:
    """The job's result, whole, as the store takes it: the outcome and this process's circumstances."""
    return JobResult(
        outcome=outcome,
        started_at=started,
        finished_at=utcnow(),
        cpu_s=cpu_s,
        peak_rss_mb=peak_rss_mb(),
        host=socket.gethostname(),
        pid=os.getpid(),
        worker=worker,
        provenance=job_provenance,
    )
