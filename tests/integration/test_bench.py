"""`python -m bench --quick`: every section runs end to end on real parts and writes its table and figures."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_writes_every_section(tmp_path, home):
    sys.path.insert(0, str(ROOT))
    from bench.__main__ import FULL_ONLY, ON_REQUEST, SECTIONS

    out, work = tmp_path / "out", Path(str(home) + "-bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--work", str(work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = (out / "RESULTS.md").read_text()
    for name in [s for s in SECTIONS if s not in FULL_ONLY | ON_REQUEST]:
        data = json.loads((out / "results" / f"{name}.json").read_text())
        assert data["machine"]["cpus"] >= 1 and data["versions"]["llama-cpp-python"] and data["date"]
        assert data["title"] in results and "| " in data["text"]
    startup = json.loads((out / "results" / "startup.json").read_text())["summary"]
    assert set(startup["onnx"]["phases"]) >= {"imports", "model", "embedder", "index"}
    memory = json.loads((out / "results" / "memory.json").read_text())["rows"]
    assert all(r["peak_rss_mb"]["median"] > 0 and r["probe"]["kv_mb"] > 0 for r in memory)
    assert all(r["probe"]["one job"] >= r["probe"]["query embedder"] > 0 for r in memory)
    ingest = json.loads((out / "results" / "ingest.json").read_text())
    walls = ingest["found"][0]["walls"]
    assert (
        len(walls["default (pdfium, int8)"]) == len(walls["pypdf, fp32"]) == 1 and ingest["found"][0]["study_s"][0] > 0
    )
    assert walls["default (pdfium, int8)"][0]["chunks"] == walls["pypdf, fp32"][0]["chunks"]  # the guide
    assert len({(g["variant"], g["layout"]) for g in ingest["grid"]}) == 4
    assert all(g["chunks_per_s"] > 0 for g in ingest["grid"])
    int8 = json.loads((out / "results" / "int8.json").read_text())
    guide = int8["documents"][0]
    assert guide["cos_mean"] > 0.95 and guide["retrieval"] and guide["readers"] and guide["pages"]["identical"] == 4
    overhead = json.loads((out / "results" / "overhead.json").read_text())["models"]
    assert all(m["ratio"]["median"] > 0 for m in overhead)
    assert all(m["worker_over_bare"]["tg_tok_s"] > 0 and m["worker_over_bare"]["pp_tok_s"] > 0 for m in overhead)
    scheduling = json.loads((out / "results" / "scheduling.json").read_text())
    assert scheduling["gap_s"]["n"] >= 1 and scheduling["grid_wall_s"]["in turn"]["median"] > 0
    study = json.loads((out / "results" / "study.json").read_text())
    assert study["script_cell"][0]["answers"] and study["ragq_cold"][0]["answers"] >= 1
