"""Where a difference between ratios comes from: per question, whether two runs' prompts held the same chunks (the
same set, in the same order), and which ratio's context makes the experts' answers most likely for each model.

Two ratios that retrieve the same chunks in the same order give the model the same prompt: any difference between
those answers is sampling alone. The same set in another order is a difference of chunk order alone."""

from dataclasses import dataclass
from itertools import combinations

from ragq.producer.results import measures
from ragq.producer.results.summary import RunSummary
from ragq.shared.store.results import ResultRow

SAME_ORDER, SAME_SET, DIFFER = "same order", "same set", "differ"


def kinship(a: list | None, b: list | None) -> str | None:
    """How two prompts' chunk lists relate: the same in order, the same set in another order, or different."""
    if a is None or b is None:
        return None
    if list(a) == list(b):
        return SAME_ORDER
    return SAME_SET if sorted(a) == sorted(b) else DIFFER


def chunks_by_question(rows: list[ResultRow]) -> dict[str, list]:
    """Each question's chunks in its first repetition (retrieval does not change between repetitions)."""
    out: dict[str, list] = {}
    for r in sorted(rows, key=lambda r: r.repetition):
        if r.chunk_ids is not None:
            out.setdefault(r.question, r.chunk_ids)
    return out


@dataclass(frozen=True)
class Overlap:
    run_a: int
    run_b: int
    ratio_a: float
    ratio_b: float
    questions: int
    same_set: int  # questions whose prompts held the same chunks (in any order)
    same_order: int  # ... in the same order
    per_question: dict[str, str]  # question -> same order | same set | differ

    def sentence(self) -> str:
        what = (
            f"retrieval at ratios {self.ratio_a:g} and {self.ratio_b:g}"
            if self.ratio_a != self.ratio_b
            else f"retrieval in runs {self.run_a} and {self.run_b}"
        )
        said = f"{what} put the same chunks in the prompt for {self.same_set} of {self.questions} questions"
        said += f", in the same order for {self.same_order}"
        if self.same_order == self.questions:
            return said + ": the same context throughout"
        if self.same_set == self.questions:
            return said + ": only the chunks' order differs"
        return said


def overlap(a: RunSummary, b: RunSummary, rows_a: list[ResultRow], rows_b: list[ResultRow]) -> Overlap | None:
    """The two runs' prompts compared question by question; None where they do not share an index and set."""
    if (a.index, a.questions) != (b.index, b.questions):
        return None
    chunks_a, chunks_b = chunks_by_question(rows_a), chunks_by_question(rows_b)
    kinds = {q: kinship(chunks_a[q], chunks_b[q]) for q in chunks_a if q in chunks_b}
    found = {q: k for q, k in kinds.items() if k is not None}
    if not found:
        return None
    return Overlap(
        a.run_id,
        b.run_id,
        a.ratio,
        b.ratio,
        len(found),
        sum(k != DIFFER for k in found.values()),
        sum(k == SAME_ORDER for k in found.values()),
        found,
    )


def _groups(summaries: list[RunSummary]) -> dict[tuple, dict[float, RunSummary]]:
    """Runs of one model and spec over one index and set, the first run at each ratio."""
    groups: dict[tuple, dict[float, RunSummary]] = {}
    for s in sorted(summaries, key=lambda s: s.run_id):
        groups.setdefault((s.model, s.spec_id, s.prompt_kind, s.index, s.questions), {}).setdefault(s.ratio, s)
    return {key: ratios for key, ratios in groups.items() if len(ratios) > 1}


def ratio_pairs(summaries: list[RunSummary], rows: list[ResultRow]) -> list[tuple[str, Overlap]]:
    """(model, overlap) for every pair of ratios one model ran over one index and question set."""
    mine = lambda run_id: [r for r in rows if r.run_id == run_id]  # noqa: E731
    out = []
    for (model, *_), by_ratio in _groups(summaries).items():
        for x, y in combinations(sorted(by_ratio), 2):
            found = overlap(by_ratio[x], by_ratio[y], mine(by_ratio[x].run_id), mine(by_ratio[y].run_id))
            if found is not None:
                out.append((model, found))
    return out


def best_ratio(summaries: list[RunSummary], rows: list[ResultRow]) -> list[str]:
    """For each model run at several ratios over one index and set: the ratio whose context makes the experts'
    answers most likely, if the paired test (Holm over the other ratios) supports it, else that none is shown."""
    mine = lambda run_id: [r for r in rows if r.run_id == run_id]  # noqa: E731
    lines = []
    likelihood = measures.MEASURES["expert_bpb"]
    for (model, *_), by_ratio in _groups(summaries).items():
        scored = {ratio: s for ratio, s in by_ratio.items() if s.metric("expert_bpb")["mean"] is not None}
        if len(scored) < 2:
            continue
        best = min(scored, key=lambda ratio: scored[ratio].metric("expert_bpb")["mean"])
        tests = [measures.test_measure(mine(scored[r].run_id), mine(scored[best].run_id), likelihood)
                 for r in sorted(scored) if r != best]  # fmt: skip
        (adjusted,) = measures.adjust([[t for t in tests if t is not None]])
        bpb = scored[best].metric("expert_bpb")["mean"]
        others = ", ".join(f"{r:g}" for r in sorted(scored) if r != best)
        if adjusted and all(t.decides() and t.b_is_better() for t in adjusted):
            worst = max(t.p_holm or 0.0 for t in adjusted)
            lines.append(
                f"{model}: the context at ratio {best:g} makes the experts' answers most likely ({bpb:.3f} bits per "
                f"byte; more likely than at {others}, p <= {worst:.2g} after Holm)"
            )
        else:
            lines.append(
                f"{model}: no ratio's context is shown to make the experts' answers more likely than another's "
                f"(lowest mean at {best:g}: {bpb:.3f} bits per byte, against {others})"
            )
    return lines
