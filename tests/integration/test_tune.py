"""`ragq models tune`: placements measured in real workers on real prompts, the winner saved for this host and
file, then used by `ragq run` (and named in its results) unless an option overrides it."""

import json

import pytest
from helpers import DEMO_PDF, demo_questions, engine_of, ragq
from sqlalchemy import select

from ragq.shared.store.schema import Result

pytestmark = pytest.mark.integration


def test_tune_saves_the_fastest_placement_and_runs_use_it(home, tmp_path):
    tuned = json.loads(ragq("models", "tune", "smollm2-135m", "--quick", "--json").stdout)
    rows = tuned["rows"]
    assert len(rows) == 2 and sum(r["winner"] for r in rows) == 1 and sum(r["default"] for r in rows) == 1
    for r in rows:  # every figure measured: speeds from llama.cpp's counters, answers timed
        assert r["answers"] >= 2 and r["prompt_tok_s"]["min"] > 0 and r["gen_tok_s"]["min"] > 0
        assert r["prompt_tok_s"]["min"] <= r["prompt_tok_s"]["median"] <= r["prompt_tok_s"]["max"]
    winner = next(r for r in rows if r["winner"])
    assert winner["typical_s"] == min(r["typical_s"] for r in rows)
    saved = json.loads((home / "placements.json").read_text())
    [entry] = saved.values()
    assert (entry["model"], entry["placement"]["n_threads"]) == ("smollm2-135m", winner["n_threads"])
    assert not (home / "ragq.db").exists()  # the tuning runs stayed in their scratch home

    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 1)), "--set", "one")
    ragq("run", "--model", "smollm2-135m", "--index", "demo", "--questions", "one", "--json")
    ragq("run", "--model", "smollm2-135m", "--index", "demo", "--questions", "one", "--new-run", "--threads", "2")
    with engine_of(home).connect() as conn:
        placements = [p["placement"] for (p,) in conn.execute(select(Result.provenance).order_by(Result.id))]
    assert (placements[0]["n_threads"], placements[0]["n_threads_batch"]) == (
        winner["n_threads"],
        winner["n_threads_batch"],
    )
    assert (placements[1]["n_threads"], placements[1]["n_threads_batch"]) == (2, 2)  # the option wins
    summaries = json.loads(ragq("results", "--json").stdout)["summary"]
    assert [s["placement"] for s in summaries] == [f"CPU {winner['placement']}", "CPU t2/b2"]  # told apart
