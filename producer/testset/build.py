"""A generated question set from an index, made whole and written in one transaction: the index and the models
checked before any work, the writer and the round-trip model opened as the producer opens models
(producer/loading.py), the set with its provenance and each question's origin stored at the end, so an interrupted
generation leaves nothing behind."""

from contextlib import ExitStack
from dataclasses import dataclass, replace

from ragq.producer import loading
from ragq.producer.testset import agreement
from ragq.producer.testset.generate import Generator, Made, Request, provenance
from ragq.producer.testset.writers import ModelWriter, RoundTrip
from ragq.shared.config import Settings
from ragq.shared.corpus.embedding import Embedder
from ragq.shared.corpus.index import load_index
from ragq.shared.errors import UsageError
from ragq.shared.models import catalog, identity
from ragq.shared.store.door import Store


@dataclass(frozen=True)
class GeneratedSet:
    name: str
    made: list[Made]
    provenance: dict


def _model_identity(settings: Settings, name: str | None) -> dict | None:
    """The writer's (or round-trip model's) name and spec digest; an unknown name fails here, before any work."""
    if name is None:
        return None
    spec = catalog.get_model(settings, name)
    return {"name": name, "spec_digest": identity.resolve(settings, spec, "chat").digest}


def check_request(settings: Settings, set_name: str, count: int, k: int) -> None:
    if count < 1 or k < 1:
        raise UsageError(f"--count {count} --k {k}: give whole numbers of 1 or more (e.g. --count 50).")
    Store(settings).check_new_set_name(set_name)


def generate(settings: Settings, index_name: str, set_name: str, request: Request, models: tuple, progress):
    """Make the set (models: the writer's and the round-trip model's catalog names, or None) and store it."""
    check_request(settings, set_name, request.count, request.k)
    index = load_index(settings.indexes_dir, index_name)
    writer_name, round_trip_name = models
    request = replace(request, model=_model_identity(settings, writer_name),
                      round_trip=_model_identity(settings, round_trip_name))  # fmt: skip
    with ExitStack() as stack:
        writer = round_trip = None
        if writer_name:
            writer = ModelWriter(stack.enter_context(loading.opened(settings, writer_name)), request.seed)
        if round_trip_name:
            round_trip = RoundTrip(stack.enter_context(loading.opened(settings, round_trip_name)), request.seed)
        generator = Generator(index, Embedder.for_index(settings, index.manifest), request, writer, round_trip)
        made = generator.run(progress)
    if not made:
        raise UsageError(f"no question passed the filters on index '{index_name}' ({generator.tally.pages} pages "
                         "visited): give an index with more prose, or --without a filter.")  # fmt: skip
    prov = provenance(request, index.manifest, generator.tally, made)
    Store(settings).import_questions(set_name, f"generated from index {index_name}", [m.pair for m in made], prov,
                                     [m.origin for m in made])  # fmt: skip
    return GeneratedSet(set_name, made, prov)


def check_sets(settings: Settings, generated: str, expert: str, draws: int = 200) -> dict:
    """`ragq questions check`: the runs of the same variants on both sets, every figure of the check, stored."""
    store = Store(settings)
    matched, rows = store.matched_answers(generated, expert)
    of = lambda run: [r for r in rows if r.run_id == run]  # noqa: E731
    variants = [agreement.Variant(m.label, of(m.expert_run), of(m.generated_run)) for m in matched]
    figures = agreement.check(variants, draws=draws)
    figures |= {"generated": generated, "expert": expert,
                "run_pairs": [[m.expert_run, m.generated_run] for m in matched]}  # fmt: skip
    store.record_check(generated, expert, figures["passed"], figures)
    return figures
