"""`ragq retrieve` and `ragq retrieval-eval`: look at retrieval, and choose a ratio before any LLM runs."""

import time
from dataclasses import asdict

import click

from ragq.producer.cli.options import retrieval_options
from ragq.producer.cli.output import json_option, print_json, print_table
from ragq.producer.ratios import parse_ratios
from ragq.producer.retrieval import evaluate
from ragq.shared.corpus.embedding import Embedder
from ragq.shared.corpus.index import load_index
from ragq.shared.rag.retrieval import retrieve
from ragq.shared.store.door import Store


@click.command("retrieve")
@click.argument("question")
@click.option("--index", required=True, help="Index built by `ragq ingest`.")
@click.option("--ratio", default="0.3", show_default=True, help="BM25 weight in [0, 1].")
@retrieval_options
@json_option
@click.pass_obj
def retrieve_(settings, question, index, ratio, cfg, as_json) -> None:
    """Print the chunks QUESTION retrieves, in prompt order, with their pages and fused scores."""
    (ratio,) = parse_ratios([ratio])[:1]
    idx = load_index(settings.indexes_dir, index)
    start = time.perf_counter()
    hits = retrieve(cfg, idx, question, Embedder.for_index(settings, idx.manifest).encode([question])[0], ratio)
    rows = [{"rank": i, "score": h.score, **asdict(idx.chunks[h.position])} for i, h in enumerate(hits, start=1)]
    if as_json:
        print_json(rows)
        return
    print_table(
        f"{len(rows)} chunks, {cfg.fusion} at ratio {ratio:g} ({(time.perf_counter() - start) * 1000:.0f} ms "
        "with the embedder's first load)",
        ["rank", "score", "source", "page", "text"],
        [[r["rank"], r["score"], r["source"], r["page"], r["text"][:90].replace("\n", " ")] for r in rows],
    )


@click.command("retrieval-eval")
@click.option("--index", required=True, help="Index built by `ragq ingest`.")
@click.option("--questions", required=True, help="Question set with evidence pages.")
@click.option(
    "--ratio",
    "ratios",
    multiple=True,
    default=["0:1:0.1"],
    show_default=True,
    help="Ratios: 0.3, 0.3,0.7 or a sweep start:stop:step.",
)
@retrieval_options
@json_option
@click.pass_obj
def retrieval_eval(settings, index, questions, ratios, cfg, as_json) -> None:
    """hit@k and MRR of the first evidence chunk for every ratio, and how many distinct chunk sets the sweep
    made: pick a ratio in seconds, before any LLM runs. Questions need evidence pages (0-based)."""
    ratio_list = parse_ratios(ratios)
    idx = load_index(settings.indexes_dir, index)
    pairs = Store(settings).question_pairs(questions)
    score = evaluate(
        idx, pairs, Embedder.for_index(settings, idx.manifest).encode([p.question for p in pairs]), ratio_list, cfg
    )
    if as_json:
        print_json(asdict(score))
        return
    k = "all" if cfg.fusion == "seed" else cfg.k
    print_table(
        f"{cfg.fusion} on {index} / {questions}: {score.ratios[0].questions} questions with evidence, k={k}",
        ["ratio", "hit@k", "MRR", "chunks"],
        [[r.ratio, r.hit_at_k, r.mrr, r.mean_chunks] for r in score.ratios],
    )
    click.echo(
        f"distinct chunk sets per question over the sweep: {score.distinct_sets:.2f} "
        f"(ordered lists: {score.distinct_orders:.2f}); questions without evidence skipped: {score.skipped}"
    )


COMMANDS = [retrieve_, retrieval_eval]
