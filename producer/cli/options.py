"""The retrieval options, declared once for every command that retrieves (`ragq enqueue`, `run`, `retrieve`,
`retrieval-eval`): --fusion, --k, --candidates, --c, checked together into one RetrievalConfig."""

import functools

import click

from ragq.shared.rag.retrieval import check_retrieval
from ragq.shared.records import RetrievalConfig

RETRIEVAL_OPTIONS = [
    click.option(
        "--fusion",
        default="seed",
        show_default=True,
        help="seed (the study's), rrf (top K of N candidates each) or convex (normalised scores).",
    ),
    click.option("--k", default=4, show_default=True, type=int, help="Chunks in the prompt (rrf, convex)."),
    click.option(
        "--candidates",
        default=20,
        show_default=True,
        type=int,
        help="Chunks each retriever proposes (rrf, convex).",
    ),
    click.option("--c", default=60, show_default=True, type=int, help="RRF constant (seed, rrf)."),
]


def retrieval_config(fusion: str, k: int, candidates: int, c: int) -> RetrievalConfig:
    """The options as one record, or one line naming the one that is wrong."""
    return check_retrieval(RetrievalConfig(fusion=fusion, k=k, candidates=candidates, c=c))


def retrieval_options(command):
    """The retrieval options; the command gets them as one RetrievalConfig, `cfg`."""

    @functools.wraps(command)
    def wrapper(*args, fusion, k, candidates, c, **kwargs):
        return command(*args, cfg=retrieval_config(fusion, k, candidates, c), **kwargs)

    for option in reversed(RETRIEVAL_OPTIONS):
        wrapper = option(wrapper)
    return wrapper
