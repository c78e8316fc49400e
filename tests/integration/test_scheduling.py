"""`ragq run` with several models: one at a time by default (no job of one model overlaps another's), `--parallel 2`
at once, a model that cannot fit refused before anything is written, and the offload and host sharing recorded."""

import json
from datetime import datetime

import pytest
from helpers import DEMO_PDF, demo_questions, engine_of, ragq
from sqlalchemy import select

from ragq.shared.store.schema import Job, ModelRow, Result, Run

pytestmark = pytest.mark.integration
MODELS = ["smollm2-135m", "gemma3-270m"]


@pytest.fixture
def ready(home, tmp_path):
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 3)), "--set", "three")
    return home


def intervals(home) -> dict[str, list[tuple[datetime, datetime, dict]]]:
    with engine_of(home).connect() as conn:
        rows = conn.execute(
            select(ModelRow.name, Result.started_at, Result.finished_at, Result.provenance)
            .join(Job, Result.job_id == Job.id)
            .join(Run, Job.run_id == Run.id)
            .join(ModelRow, Run.model_id == ModelRow.id)
        ).all()
    out: dict[str, list] = {}
    for model, start, end, prov in rows:
        out.setdefault(model, []).append((start, end, prov))
    return out


def overlaps(a: list, b: list) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1, _ in a for s2, e2, _ in b)


def run_both(*extra: str):
    args = ["run", *(x for m in MODELS for x in ("--model", m)), "--ratio", "0.5", "--index", "demo"]
    return ragq(*args, "--questions", "three", *extra)


def test_models_run_one_at_a_time_by_default(ready):
    out = run_both()
    assert "models one at a time" in out.stderr and "smollm2-135m (~" in out.stderr
    spans = intervals(ready)
    assert sorted(spans) == sorted(MODELS) and all(len(v) == 3 for v in spans.values())
    assert not overlaps(spans[MODELS[0]], spans[MODELS[1]])
    # the plan's order: every smollm2 job ends before the first gemma3 job starts
    assert max(e for _, e, _ in spans[MODELS[0]]) <= min(s for s, _, _ in spans[MODELS[1]])
    for model in MODELS:
        for _, _, prov in spans[model]:
            assert prov["host_workers"] == 1  # alone on the host
            off = prov["offload"]
            assert (off["backend"], off["n_gpu_layers"], off["layers_offloaded"]) == ("CPU", "auto", 0)
            assert off["layers_total"] > 1 and prov["llama_cpp"]["load"]["n_gpu_layers"] == 0
    # no idle gap: gemma3's worker started (on standby) while smollm2 answered its last job
    second_start = worker_started(ready, MODELS[1])
    assert second_start < max(e for _, e, _ in spans[MODELS[0]]), (second_start, spans[MODELS[0]])


def worker_started(home, model: str) -> datetime:
    """When the model's worker logged its placement (its first line, before anything is loaded), in UTC."""
    from datetime import UTC

    line = next(x for x in (home / "logs" / f"worker-{model}.log").read_text().splitlines() if "placement" in x)
    local = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")  # logging's asctime: local time
    return local.astimezone(UTC).replace(tzinfo=None)


def test_parallel_runs_models_at_once(ready):
    out = run_both("--parallel", "2")
    assert "models 2 at a time" in out.stderr
    spans = intervals(ready)
    assert overlaps(spans[MODELS[0]], spans[MODELS[1]])
    assert max(p["host_workers"] for v in spans.values() for _, _, p in v) == 2


def test_a_model_that_cannot_fit_is_refused_before_anything_runs(ready):
    out = ragq(
        "run", "--model", "gemma3-270m", "--ratio", "0.5", "--index", "demo", "--questions", "three",
        env={"RAGQ_MEMORY_LIMIT_MB": "300"}, check=False,
    )  # fmt: skip
    assert out.returncode == 1 and "needs about" in out.stderr and "memory_limit_mb" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    with engine_of(ready).connect() as conn:
        assert conn.execute(select(Run.id)).all() == []


def test_gpu_layers_override_reaches_llama_cpp(ready):
    out = json.loads(
        ragq("run", "--model", "smollm2-135m", "--ratio", "0.5", "--index", "demo", "--questions", "three",
             "--gpu-layers", "0", "--json").stdout
    )  # fmt: skip
    assert out["summary"][0]["done"] == 3
    (prov,) = {json.dumps(p["offload"]) for _, _, p in intervals(ready)["smollm2-135m"]}
    assert json.loads(prov)["n_gpu_layers"] == 0
