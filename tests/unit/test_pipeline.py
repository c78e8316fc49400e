"""The pure pipeline with a fake model: retrieval, context fitting, timings and scoring wired together."""

from dataclasses import dataclass, field
from types import SimpleNamespace

from ragq.shared.corpus.embedders import Embedders
from ragq.shared.metrics.likelihood import ExpertScore
from ragq.shared.models.spec import SYSTEM_TEXT, Params
from ragq.shared.rag.llm import Generation
from ragq.shared.rag.pipeline import answer_question
from ragq.shared.rag.prompting import Prompt, completion_builder
from ragq.shared.records import Ask, RetrievalConfig, RunSettings


@dataclass
class FakeModel:
    """Replays queued answers and reports token counts; counts words as tokens."""

    answers: list[str]
    params: Params = field(default_factory=lambda: Params(n_ctx=2048, max_tokens=64))
    prompts: list[str] = field(default_factory=list)
    scored: list[tuple[str, str]] = field(default_factory=list)

    def layout(self, kind: str):
        return SimpleNamespace(build=completion_builder("{system}\n{context}\nQ: {question}\nA:", SYSTEM_TEXT, ["\n"]))

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, prompt: Prompt, kv_reuse: bool = False, keep_going=None) -> Generation:
        self.prompts.append(prompt.text)
        text = self.answers.pop(0)
        return Generation(text, 0.01, self.count_tokens(prompt.text), 0.01, len(text.split()), 0.02, 0.03)

    def score_expert(self, prompt: Prompt, expert: str):
        self.scored.append((prompt.text, expert))
        return ExpertScore(tokens=4, nats=2.0, bytes=10, rank_sum=6), {"prompt": "prompt kept"}


def test_answer_question(demo_index, embedder):
    model = FakeModel(["The web interface listens on HTTPS port 8443."])
    ask = Ask(
        question="On which port does the web management interface listen?",
        reference="The web management interface listens on HTTPS port 8443.",
        ratio=0.3,
        settings=RunSettings(retrieval=RetrievalConfig()),
    )
    out = answer_question(ask, demo_index, Embedders(loaded={"fp32": embedder}), model)
    known = {c.id for c in demo_index.chunks}
    assert out.chunk_ids and set(out.chunk_ids) <= known and out.dropped_chunks == 0
    assert "8443" in model.prompts[0] and out.prompt == model.prompts[0]
    assert out.cosine > 0.8 and out.retrieval_ms > 0
    # the expert's answer is read after the very prompt the model answered, and its figures travel with the outcome
    assert model.scored == [(out.prompt, ask.reference)]
    assert out.expert.columns()["expert_nats_per_token"] == 0.5 and out.expert.columns()["expert_mean_rank"] == 1.5
    assert abs(out.expert.bits_per_byte - 2.0 / 0.6931471805599453 / 10) < 1e-12


def test_small_context_drops_chunks(demo_index, embedder):
    model = FakeModel(["x"], Params(n_ctx=200, max_tokens=20))
    ask = Ask(question="What happens when the fan fails?", reference="It blinks amber.", ratio=0.5)
    out = answer_question(ask, demo_index, Embedders(loaded={"fp32": embedder}), model)
    assert out.dropped_chunks > 0 and len(out.prompt.split()) + 20 <= 200
