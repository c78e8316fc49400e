"""The records that cross layers, at the bottom of shared/: a question with its reference answer as a question set
stores it (`QAPair`), how chunks are retrieved (`RetrievalConfig`), one question as a job asks it (`Ask`), and what
a worker reads to answer a job (`JobContext`). The producer's parsers make `QAPair`s and plans with
`RetrievalConfig`, the store turns rows into `Ask` and `JobContext`, the pipeline answers an `Ask`; none of them
imports another for these types. Records hold values; they check nothing and import nothing of ragq (the ground
floor): what a user typed is checked where it enters (`check_retrieval`, shared/rag/retrieval.py)."""

from dataclasses import asdict, dataclass

FUSION_MODES = ("seed", "rrf", "convex")  # shared/rag/retrieval.py has one function for each
SEED = {"bm25_k": 5, "mmr_k": 4, "fetch_k": 3}  # the study's lists: BM25Retriever(k=5), FAISS MMR(k=4, fetch_k=3)
SEED_LAMBDA_MULT = 0.5


@dataclass(frozen=True)
class QAPair:
    """A question with its reference answer, as question sets store them (the files: producer/questions.py)."""

    question: str
    answer: str
    evidence_pages: list[int] | None = None  # 0-based, as pypdf counts
    doc: str | None = None


@dataclass(frozen=True, kw_only=True)
class RetrievalConfig:
    """How chunks are chosen. `seed` uses the study's fixed lists (k and candidates do not apply)."""

    fusion: str = "seed"
    k: int = 4  # chunks that enter the prompt (rrf, convex)
    candidates: int = 20  # chunks each retriever proposes (rrf, convex)
    c: int = 60  # RRF constant (seed, rrf)

    def as_dict(self, ratio: float) -> dict:
        if self.fusion == "seed":
            return {"fusion": "seed", "ratio": ratio, "c": self.c, **SEED}
        return {
            "fusion": self.fusion,
            "ratio": ratio,
            "k": self.k,
            "candidates": self.candidates,
            **({"c": self.c} if self.fusion == "rrf" else {}),
        }


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """How every job of a run is done, besides the model, its prompt kind and the ratio (the run's own columns):
    made once where the user asks (`ragq enqueue`/`run`'s options, `ragq demo`, `ragq models tune`), passed whole to
    planning, stored whole on the run (`runs.settings`), read back whole with each job. A new setting is a field
    here (its default: what runs did before it existed, so a stored run without it reads as it ran), the option
    that sets it, and the code that uses it; whatever only carries it needs no change."""

    retrieval: RetrievalConfig = RetrievalConfig()
    repeat: int = 1  # timed repetitions of each question
    kv_reuse: bool = False  # keep the KV cache's shared prompt prefix between jobs

    def as_dict(self) -> dict:
        return asdict(self)  # the nested RetrievalConfig as a dict too: a new field needs nothing here

    @classmethod
    def from_dict(cls, data: dict) -> "RunSettings":
        """As stored; a key absent (a setting newer than the run) takes its default."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        retrieval = RetrievalConfig(**fields.pop("retrieval", {}))
        return cls(retrieval=retrieval, **fields)


@dataclass(frozen=True, kw_only=True)
class Ask:
    """One question as a job asks it: the question and its reference answer, the run's ratio, prompt kind and
    settings (how to retrieve, the KV cache), and where its evidence is (pages of a document) when the question
    set says."""

    question: str
    reference: str
    ratio: float
    prompt_kind: str = "chat"
    settings: RunSettings = RunSettings()
    evidence_pages: list[int] | None = None
    doc: str | None = None


@dataclass(frozen=True, kw_only=True)
class JobContext:
    """What a worker needs to answer one job, read in one query (shared/store/jobs.py `job_context`)."""

    job_id: int
    model: str
    spec_digest: str | None  # the run's: the worker answers only with the same settings
    index: str
    index_manifest: dict
    ask: Ask
