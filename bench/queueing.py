"""Queue: a near no-op model through the real Redis and a real worker: jobs per second and ragq's cost per job.

The model is a tiny real GGUF (2 layers, width 64, with Llama's tokenizer and TinyLlama's chat template, written
by tests/tiny_gguf.py) asked for one token, so that a job is almost all ragq: the broker delivering the job id,
claiming its row, the query embedding, retrieval, the prompt, scoring the answer, writing the result. One worker
answers the demo set repeated (`--repeat`) in one `ragq run`; timings come from the results' start and end times.
`between jobs`: from one result's end to the next one's start (ack, the next delivery, the claim)."""

import json
import statistics
import sys
from datetime import datetime

from bench.common import HERE, Context, Section, db_rows, fmt, ragq, spread, table
from bench.prepare import demo_home

MODEL = "noop"


def register_noop(home) -> None:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from tiny_gguf import TINYLLAMA_TEMPLATE, write_tiny_llama

    gguf = write_tiny_llama(home / "noop.gguf", TINYLLAMA_TEMPLATE)
    folder = home / "models" / "catalog"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{MODEL}.toml").write_text(
        f'name = "{MODEL}"\nextends = "tinyllama"\n\n[source]\nkind = "path"\npath = "{gguf}"\n\n[params]\nmax_tokens = 1\n'
    )


def run(ctx: Context) -> Section:
    home = demo_home(ctx)
    register_noop(home)
    repeat = 2 if ctx.quick else 10
    out = json.loads(
        ragq(home, "run", "--model", MODEL, "--ratio", "0.3", "--index", "demo", "--questions", "demo",
             "--repeat", str(repeat), "--new-run", "--json")
    )  # fmt: skip
    (run_id,) = {r["run_id"] for r in out["results"]}
    stats, wall_ms, gen_ms, gaps_ms = job_times(home, run_id)
    table_rows = [
        [
            stats["jobs"],
            f"{stats['jobs_per_s']:.1f}",
            fmt(stats["job_wall_ms"], 0),
            fmt(stats["generation_ms"], 0),
            fmt(stats["retrieval_ms"], 0),
            fmt(stats["rest_ms"], 0),
            fmt(stats["between_jobs_ms"], 0),
        ]
    ]
    header = ["jobs", "jobs/s", "job wall ms", "generation ms", "retrieval ms", "rest of job ms", "between jobs ms"]
    per_job = statistics.median(wall_ms) + statistics.median(gaps_ms or [0])
    text = "\n\n".join(
        [
            __doc__.split("\n\n", 1)[1].replace("\n", " "),
            "Milliseconds, median (min-max) over the jobs; `rest of job`: job wall minus generation and retrieval "
            "(claim, prompt, scoring with the embedder, storing).",
            table(header, table_rows),
            f"ragq's own cost per job, generation aside: about {per_job - statistics.median(gen_ms):.0f} ms.",
        ]
    )
    return Section("queueing", "Queue: jobs per second with a no-op model", text, stats)


def job_times(home, run_id: int) -> tuple[dict, list[float], list[float], list[float]]:
    """The run's jobs as stored: (figures, each job's wall ms, its generation ms, the gaps between jobs in ms)."""
    rows = db_rows(
        home,
        "SELECT r.started_at, r.finished_at, r.total_s, r.retrieval_ms FROM results r JOIN jobs j ON r.job_id = j.id "
        "WHERE j.run_id = :run ORDER BY r.started_at",
        {"run": run_id},
    )
    t = [(datetime.fromisoformat(str(a)), datetime.fromisoformat(str(b)), g, ret) for a, b, g, ret in rows]
    span = (t[-1][1] - t[0][0]).total_seconds()
    wall_ms = [(b - a).total_seconds() * 1000 for a, b, _, _ in t]
    gen_ms = [g * 1000 for _, _, g, _ in t]
    gaps_ms = [(nxt[0] - cur[1]).total_seconds() * 1000 for cur, nxt in zip(t, t[1:], strict=False)]
    rest_ms = [w - g - r for w, g, (_, _, _, r) in zip(wall_ms, gen_ms, t, strict=True)]
    stats = {
        "jobs": len(t),
        "jobs_per_s": len(t) / span,
        "job_wall_ms": spread(wall_ms),
        "generation_ms": spread(gen_ms),
        "retrieval_ms": spread([r for *_, r in t]),
        "rest_ms": spread(rest_ms),
        "between_jobs_ms": spread(gaps_ms),
    }
    return stats, wall_ms, gen_ms, gaps_ms
