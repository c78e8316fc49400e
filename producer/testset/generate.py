"""`ragq questions generate`: questions with reference answers and evidence pages drawn from an ingested index.

Pages are visited stratified across documents and pages (pages.py); on each, a sentence's span is the reference
answer (spans.py); the question is a cloze of the sentence or, with a model, written by it under a grammar
(writers.py), falling back to the cloze where the model's question fails a filter. Every filter (filters.py, and
retrievability here: the evidence page is in the top k of BM25 or of the dense retriever, each counted apart) and
what it removed is recorded in the set's provenance. Nothing is written until the whole set is made."""

import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ragq.producer.testset import filters
from ragq.producer.testset.pages import page_texts, visiting_order
from ragq.producer.testset.spans import Span, find_spans, sentences
from ragq.producer.testset.writers import Written, write_cloze
from ragq.shared.corpus.bm25 import tokenize
from ragq.shared.corpus.index import content_id
from ragq.shared.metrics.evidence import evidence_rank
from ragq.shared.rag.retrieval import dense_top
from ragq.shared.records import QAPair

ANSWERS = ("span", "sentence")  # what a question's reference answer is: both are the document's own words
TRIES_PER_PAGE = 3  # spans tried on one page in one pass before moving on


@dataclass(frozen=True)
class Request:
    count: int
    seed: int = 0
    k: int = 4  # the evidence page must be in this many top chunks of BM25 or of the dense retriever
    skip: frozenset[str] = frozenset()  # filters measured and recorded but not enforced
    model: dict | None = None  # {"name", "spec_digest"} of the writer; None: cloze only
    round_trip: dict | None = None  # the same for the round-trip model
    answer: str = "span"  # the reference answer: the span itself, or the sentence that holds it (ANSWERS)


@dataclass
class Tally:
    removed: Counter = field(default_factory=Counter)  # filter -> candidates it removed
    failed: Counter = field(default_factory=Counter)  # filter -> kept questions that fail it (a skipped filter)
    written: Counter = field(default_factory=Counter)  # cloze | model: questions kept
    fallbacks: int = 0  # model questions that failed a filter, replaced by the cloze of the same span
    unusable: int = 0  # model outputs cut at max_tokens
    bm25_hits: int = 0
    dense_hits: int = 0
    pages: int = 0  # page visits (a page visited on two passes counts twice)
    seconds: float = 0.0


@dataclass(frozen=True)
class Made:
    pair: QAPair
    origin: dict


def retrievable(index, embedder, question: str, doc: str, page: int, k: int) -> tuple[bool, bool]:
    """Is the evidence page among the top k chunks of BM25, and of the dense retriever, for this question? (The
    same test as a job's `evidence` rank, shared/metrics/evidence.py.)"""
    found = lambda positions: bool(evidence_rank([index.chunks[i] for i in positions], [page], doc))  # noqa: E731
    lexical = index.bm25.top_n(tokenize(question), k)
    dense = dense_top(index, embedder.encode([question])[0], k)
    return found(lexical), found(dense)


class Generator:
    def __init__(self, index, embedder, request: Request, writer=None, round_trip=None):
        self.index, self.embedder, self.request = index, embedder, request
        self.writer, self.round_trip = writer, round_trip
        self.tally = Tally()
        self.kept: list[Made] = []

    def failures(self, question: str, span: Span, doc: str, page: int, text: str) -> list[str]:
        """The filters this question fails: the cheap ones, then retrieval where none of those is enforced and
        failed (so a kept question's failures are all known), the round trip only where everything else passed."""
        failed = [name for name, bad in (
            ("on_page", not filters.on_page(span.text, text)),
            ("leaks_answer", filters.leaks_answer(question, span.text)),
            ("wrong_type", filters.wrong_type(question, span.kind)),
            ("off_topic", filters.off_topic(question, self._sentence, span.text)),
            ("needs_page", filters.needs_page(question)),
            ("duplicate", filters.is_duplicate(question, [m.pair.question for m in self.kept])),
        ) if bad]  # fmt: skip
        if self._enforced(failed):
            return failed
        self._hits = retrievable(self.index, self.embedder, question, doc, page, self.request.k)
        if not any(self._hits):
            failed.append("retrievable")
        if self.round_trip is not None and not failed and not self._round_trip(question, span, text):
            failed.append("round_trip")
        return failed

    def _round_trip(self, question: str, span: Span, text: str) -> bool:
        return filters.finds_span(span.text, self.round_trip.reply(question, text, self._sentence))

    def _enforced(self, failed: list[str]) -> list[str]:
        return [f for f in failed if f not in self.request.skip]

    def _written(self, sentence: str, span: Span) -> list[Written]:
        """The model's question first (where there is a model), then the cloze."""
        if self.writer is None:
            return [write_cloze(sentence, span)]
        first = self.writer.write(sentence, span)
        if first.question is None:
            self.tally.unusable += 1
        return [first, write_cloze(sentence, span)]

    def try_span(self, doc: str, page: int, text: str, sentence: str, span: Span) -> Made | None:
        self._sentence, self._hits = sentence, (False, False)
        for attempt, written in enumerate(self._written(sentence, span)):
            if written.question is None:
                continue
            failed = self.failures(written.question, span, doc, page, text)
            enforced = self._enforced(failed)
            if enforced:
                self.tally.removed.update(enforced[:1])
                continue
            self.tally.fallbacks += attempt
            return self._keep(written, span, doc, page, failed)
        return None

    def _keep(self, written: Written, span: Span, doc: str, page: int, failed: list[str]) -> Made:
        self.tally.written[written.method] += 1
        self.tally.failed.update(failed)
        self.tally.bm25_hits += self._hits[0]
        self.tally.dense_hits += self._hits[1]
        origin = {"method": written.method, "kind": span.kind, "span": span.text, "page": page,
                  "seconds": round(written.seconds, 4), "bm25_hit": self._hits[0], "dense_hit": self._hits[1],
                  "fails": failed}  # fmt: skip
        reference = span.text if self.request.answer == "span" else self._sentence
        return Made(QAPair(written.question or "", reference, [page], doc), origin)

    def page(self, doc: str, page: int, text: str, queue: list) -> Made | None:
        """Up to TRIES_PER_PAGE of the page's untried spans, in their shuffled order, until one makes a question."""
        for _ in range(min(TRIES_PER_PAGE, len(queue))):
            sentence, span = queue.pop()
            made = self.try_span(doc, page, text, sentence, span)
            if made is not None:
                return made
        return None

    def run(self, progress: Callable[[str, int, int], None]) -> list[Made]:
        """Pages in their stratified order, one question a page a pass, passes until the count is reached or the
        spans run out (a short document gives several questions a page)."""
        rng = random.Random(self.request.seed)
        pages = page_texts(self.index.chunks)
        order = visiting_order(pages, rng)
        queues = {key: _shuffled(pages[key], rng) for key in order}
        start = time.perf_counter()
        while len(self.kept) < self.request.count and any(queues.values()):
            for key in order:
                if len(self.kept) >= self.request.count:
                    break
                self.tally.pages += bool(queues[key])
                made = self.page(*key, pages[key], queues[key]) if queues[key] else None
                if made is not None:
                    self.kept.append(made)
                    progress("questions", len(self.kept), self.request.count)
        self.tally.seconds = time.perf_counter() - start
        return self.kept


def _shuffled(text: str, rng: random.Random) -> list[tuple[str, Span]]:
    candidates = [(s, span) for s in sentences(text) for span in find_spans(s)]
    rng.shuffle(candidates)
    return candidates


def generator_key(request: Request, index_manifest: dict) -> str:
    """What makes two generated sets the same generator's: method, models, filters and k, the index's content. A
    check that passed for one vouches for the others (not the seed, not the count)."""
    key = {"model": request.model, "round_trip": request.round_trip, "k": request.k, "skip": sorted(request.skip),
           "index": content_id(index_manifest), **({"answer": request.answer} if request.answer != "span" else {})}  # fmt: skip
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def provenance(request: Request, index_manifest: dict, tally: Tally, made: list[Made]) -> dict:
    seconds = [m.origin["seconds"] for m in made]
    by_method = {m: [x.origin["seconds"] for x in made if x.origin["method"] == m] for m in tally.written}
    return {
        "generated": True,
        "generator": "model" if request.model else "cloze",
        "generator_key": generator_key(request, index_manifest),
        "model": request.model,
        "round_trip": request.round_trip,
        "seed": request.seed,
        "answer": request.answer,
        "requested": request.count,
        "index": index_manifest["name"],
        "index_content": content_id(index_manifest),
        "filters": {f: f not in request.skip for f in filters.FILTERS if f != "round_trip" or request.round_trip},
        "k": request.k,
        "removed": dict(tally.removed),
        "kept_failing": dict(tally.failed),
        "written": dict(tally.written),
        "fallbacks_to_cloze": tally.fallbacks,
        "model_outputs_cut": tally.unusable,
        "retrievable": {"bm25": tally.bm25_hits, "dense": tally.dense_hits, "questions": len(made)},
        "pages_visited": tally.pages,
        "seconds": round(tally.seconds, 3),
        "seconds_per_question": round(tally.seconds / len(made), 4) if made else None,
        "write_seconds_per_question": {m: round(sum(v) / len(v), 4) for m, v in by_method.items() if v},
        "writing_seconds_mean": round(sum(seconds) / len(seconds), 4) if seconds else None,
    }
