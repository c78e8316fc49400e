"""The quantization sweep end to end: llama.cpp's quantizer makes two variants of a catalog model, all three answer
the demo questions through real workers, every answer carries the metrics, and the Pareto view picks among them."""

import json
import re

import pytest
from helpers import DEMO_PDF, demo_questions, engine_of, ragq
from sqlalchemy import text

pytestmark = pytest.mark.integration


def test_quantize_run_all_three_and_pick(home, tmp_path):
    ragq("ingest", str(DEMO_PDF), "--index", "demo")
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 2)), "--set", "two")
    args = ["run", "--model", "smollm2-135m", "--quants", "Q8_0,q2_k", "--drift", "--ratio", "0.5", "--index", "demo"]
    out = ragq(*args, "--questions", "two", "--json")
    summaries = json.loads(out.stdout)["summary"]
    assert [s["model"] for s in summaries] == ["smollm2-135m", "smollm2-135m-q8_0", "smollm2-135m-q2_k"]
    assert all(s["done"] == 2 and s["failed"] == 0 for s in summaries)
    for s in summaries:
        for metric in ("cosine", "token_f1", "rouge_l", "groundedness"):
            assert s["metrics"][metric]["n"] == 2 and 0 <= s["metrics"][metric]["mean"] <= 1
    entry = (home / "models" / "catalog" / "smollm2-135m-q2_k.toml").read_text()
    assert 'kind = "quantized"' in entry and "requantized = true" in entry and "base_sha256" in entry
    sizes = {p.name: p.stat().st_size for p in (home / "models").glob("*.gguf")}
    assert sizes["smollm2-135m-q2_k.gguf"] < sizes["smollm2-135m-q8_0.gguf"]
    # made once: a second sweep reuses the variants
    again = ragq("models", "quantize", "smollm2-135m", "--to", "Q8_0").stdout
    assert "exists" in again
    pareto = json.loads(ragq("results", "--pareto", "--metric", "token_f1", "--json").stdout)
    assert len(pareto["runs"]) == 3 and pareto["budgets"] and any(r["front_seconds"] for r in pareto["runs"])
    check_budgets(pareto)
    ragq("report", "-o", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    assert "Which run to pick" in page and "Within a budget" in page and "smollm2-135m-q2_k" in page
    assert "Every measure, and the one that decides" in page and page.count("token_f1 &gt;= 0.5") == 2  # flips
    assert page.count("<td>the experts&#39; answers&#39; likelihood (bits per byte)</td>") == 2  # each variant
    base, q8, q2 = (s["run_id"] for s in summaries)
    compared = json.loads(ragq("compare", str(base), str(q8), str(q2), "--metric", "token_f1", "--json").stdout)
    assert [(c["run_a"], c["run_b"]) for c in compared] == [(base, q8), (base, q2)]
    for c in compared:  # Holm over every measure of both, flips counted, and a verdict two questions can support
        assert c["p_holm"] >= c["test"]["p_value"] and len(c["pairs"]) == 2
        assert c["family"] == sum(len(x["measures"]) for x in compared) and c["family"] >= 8
        assert len(c["right_to_wrong"]) + len(c["wrong_to_right"]) <= 2 and c["flips_p"] <= 1
        # two questions: no Wilcoxon or McNemar p can fall under 5 %, the t-test's hardly after Holm over 8+
        assert c["verdict"].startswith("No measure tells smollm2-135m (run")
    shown = ragq("compare", str(base), str(q2)).stdout
    assert "Verdict:" in shown and "flips:" in shown and "right (cosine >= 0.75)" in shown
    bad = ragq("compare", str(base), "99", check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    check_drift(home, summaries, tmp_path)


def check_budgets(pareto):
    """Two questions cannot tell the variants apart: a budget that holds two runs or more names no winner, one that
    holds a single run names it. Which runs a budget holds is counted here from the runs' own figures."""
    assert pareto["budgets"], "a front always gives at least one budget"
    for line in pareto["budgets"]:
        found = re.match(r"under ([\d.]+) s per answer and ([\d.]+) (MB|GB): ", line)
        assert found, line
        seconds, memory = float(found[1]), float(found[2]) * (1024 if found[3] == "GB" else 1)
        within = [r for r in pareto["runs"] if r["seconds"] <= seconds and r["rss_mb"] <= memory]
        assert within, line
        if len(within) > 1:
            assert "no detectable difference" in line and "with 2 questions" in line and "no winner yet" in line
        else:
            assert line[found.end() :].startswith(within[0]["label"] + ", token_f1") and "no winner" not in line


def check_drift(home, summaries, tmp_path):
    """`--drift`: each variant teacher-forced on the base's answers; Q2_K moves further than Q8_0; a model against
    itself moves not at all; one answer's figures equal numpy over llama.cpp's own logits."""
    drift = {s["model"]: s["drift"] for s in summaries}
    q8, q2 = drift["smollm2-135m-q8_0"], drift["smollm2-135m-q2_k"]
    assert drift["smollm2-135m"] is None and q8["reference"] == q2["reference"] == "smollm2-135m"
    assert q8["reference_quantization"] == "Q4_1"  # the packaged base is itself quantized, and named so
    assert q8["answers"] == 2 and q8["tokens"] > 0 and q2["kld_mean"] > q8["kld_mean"] > 0
    assert q2["same_top"] <= q8["same_top"] < 1.0 + 1e-9
    same = json.loads(ragq(*DRIFT, "--model", "smollm2-135m", "--json").stdout)["models"][0]["summary"]
    assert same["kld_max"] <= 1e-6 and same["same_top"] == 1.0
    shown = ragq("results").stdout
    assert "Drift from a reference" in shown and "smollm2-135m (itself Q4_1)" in shown
    ragq("export", "--format", "jsonl", "-o", str(tmp_path / "r.jsonl"))
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    q8_rows = [r for r in records if r["model"] == "smollm2-135m-q8_0"]
    assert all(r["drift_reference"] == "smollm2-135m" and r["drift_kld_mean"] > 0 for r in q8_rows)
    direct_kld = direct(home, "smollm2-135m", "smollm2-135m-q8_0")
    assert q8_rows[0]["drift_kld_mean"] == pytest.approx(direct_kld, rel=1e-4, abs=1e-7)


DRIFT = ["drift", "--reference", "smollm2-135m", "--index", "demo", "--questions", "two", "--ratio", "0.5"]


def direct(home, reference: str, candidate: str) -> float:
    """Mean KL over the first base answer, straight from `Llama.eval` logits with numpy (not ragq's code)."""
    import llama_cpp
    import numpy as np

    from ragq.shared.config import load_settings
    from ragq.shared.models import catalog, files

    with engine_of(home).connect() as conn:
        prompt, answer = conn.execute(
            text(
                "SELECT r.prompt, r.answer FROM results r JOIN jobs j ON r.job_id = j.id JOIN runs u ON j.run_id = u.id "
                "JOIN models m ON u.model_id = m.id WHERE m.name = :m ORDER BY j.id LIMIT 1"
            ),
            {"m": reference},
        ).one()
    settings = load_settings(home=home)
    logp = []
    for name in (reference, candidate):
        spec = catalog.get_model(settings, name)
        llm = llama_cpp.Llama(
            str(files.model_path(settings, spec)),
            **{**spec.params.load(), "n_gpu_layers": 0},
            logits_all=True,
            verbose=False,
        )
        p = llm.tokenize(prompt.encode(), special=True)
        a = llm.tokenize(answer.encode(), add_bos=False, special=False)
        llm.eval(p + a)
        z = np.array(llm.scores[len(p) - 1 : len(p) + len(a) - 1], dtype=np.float64)
        logp.append(
            z
            - z.max(axis=1, keepdims=True)
            - np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True))
        )
    ref, cand = logp
    return float(np.mean((np.exp(ref) * (ref - cand)).sum(axis=1)))


def test_a_bad_quantization_type_lists_the_valid_ones(home):
    out = ragq("models", "quantize", "smollm2-135m", "--to", "Q9_K", check=False)
    assert out.returncode == 2 and "Q4_K_M" in out.stderr and "Traceback" not in out.stderr
    assert not (home / "models" / "catalog").exists()
