"""Tables. The database is the source of truth: runs, jobs and their states, results."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ragq.shared.store.clock import utcnow


class Base(DeclarativeBase):
    # named constraints, so that later migrations can drop or change them on SQLite and PostgreSQL alike
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class IndexRow(Base):
    __tablename__ = "indexes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer)
    embedder: Mapped[str] = mapped_column(String(200))
    manifest: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuestionSet(Base):
    __tablename__ = "question_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # (0009) None for a set imported from a file; for a generated set: generator, model, seed, filters and counts
    provenance: Mapped[dict | None] = mapped_column(JSON)


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("set_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("question_sets.id"))
    position: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    evidence_pages: Mapped[list | None] = mapped_column(JSON)
    doc: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[dict | None] = mapped_column(JSON)  # (0009) generated: method, span kind, seconds


class ModelRow(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    spec: Mapped[dict] = mapped_column(JSON)  # the catalog entry at its latest use (each run keeps its own)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("key", "generation"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(500))  # model#digest|index|questions|fusion|ratio|...: same key, same work
    generation: Mapped[int] = mapped_column(Integer, default=1)  # >1 when --new-run asked for the same work again
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    index_id: Mapped[int] = mapped_column(ForeignKey("indexes.id"))
    set_id: Mapped[int] = mapped_column(ForeignKey("question_sets.id"))
    ratio: Mapped[float] = mapped_column(Float)
    settings: Mapped[dict] = mapped_column(JSON)  # shared/records.py RunSettings, whole: retrieval, repeat, ... (0010)
    spec_digest: Mapped[str | None] = mapped_column(String(64))  # shared/spec.py digest; None for runs before 0002
    spec: Mapped[dict | None] = mapped_column(JSON)  # the resolved model spec identity the digest was made from
    prompt_kind: Mapped[str] = mapped_column(String(20), default="chat", server_default="chat")  # chat | study
    queue: Mapped[str | None] = mapped_column(String(200))  # None: the model's own queue (0003)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("run_id", "question_id", "repetition"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    repetition: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)  # queued|running|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # late completions, failures refused by the fence (a worker that lost its lease): counted, never stored (0006)
    refused: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_until: Mapped[datetime | None] = mapped_column()
    worker: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class Result(Base):
    __tablename__ = "results"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)  # one result per job
    answer: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    chunk_ids: Mapped[list] = mapped_column(JSON)
    dropped_chunks: Mapped[int] = mapped_column(Integer)
    cosine: Mapped[float] = mapped_column(Float)
    retrieval_ms: Mapped[float] = mapped_column(Float)
    ttft_s: Mapped[float] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    prompt_eval_s: Mapped[float] = mapped_column(Float)
    gen_tokens: Mapped[int] = mapped_column(Integer)
    gen_s: Mapped[float] = mapped_column(Float)
    total_s: Mapped[float] = mapped_column(Float)
    peak_rss_mb: Mapped[float] = mapped_column(Float)
    cpu_s: Mapped[float] = mapped_column(Float)  # user + system CPU seconds the worker spent on this job
    prefix_reused_tokens: Mapped[int] = mapped_column(Integer)  # KV cache tokens kept from the previous job
    evidence_rank: Mapped[int | None] = mapped_column(Integer)  # first prompt chunk on an evidence page; 0 = none
    # answer metrics beside cosine (shared/metrics/answer.py); None in rows stored before revision 0004 could not be
    # computed again (groundedness needs the retrieved context)
    token_f1: Mapped[float | None] = mapped_column(Float)
    exact_match: Mapped[float | None] = mapped_column(Float)
    rouge_l: Mapped[float | None] = mapped_column(Float)
    abstained: Mapped[bool | None] = mapped_column(Boolean)
    groundedness: Mapped[float | None] = mapped_column(Float)
    number_match: Mapped[float | None] = mapped_column(Float)  # None: the reference has no numbers
    answer_words: Mapped[int | None] = mapped_column(Integer)
    # the expert's answer read teacher-forced after the same prompt (shared/metrics/likelihood.py; 0007): None where
    # the result was stored before 0007 (`ragq rescore` adds it), the question has no expert answer, or it did not
    # fit n_ctx after the prompt
    expert_tokens: Mapped[int | None] = mapped_column(Integer)
    expert_bytes: Mapped[int | None] = mapped_column(Integer)
    expert_nats_per_token: Mapped[float | None] = mapped_column(Float)
    expert_bpb: Mapped[float | None] = mapped_column(Float)  # bits per UTF-8 byte: lower, more likely
    expert_mean_rank: Mapped[float | None] = mapped_column(Float)  # 1 = always the model's own top token
    expert_s: Mapped[float | None] = mapped_column(Float)  # seconds the scoring took, apart from the answer's
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(200))
    provenance: Mapped[dict] = mapped_column(JSON)  # model file and sha256, versions, template, parameters
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column()


class Drift(Base):
    """How far a candidate model's token distribution is from a reference's on one reference answer, teacher-forced
    on the reference's prompt (`ragq drift`; figures as llama-perplexity --kl-divergence defines them)."""

    __tablename__ = "drift"
    __table_args__ = (UniqueConstraint("reference_job_id", "model_id", "spec_digest"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reference_job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)  # the reference's answer
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))  # the candidate
    spec_digest: Mapped[str] = mapped_column(String(64))  # the candidate's spec
    tokens: Mapped[int] = mapped_column(Integer)  # answer tokens scored
    kld: Mapped[list] = mapped_column(JSON)  # KL(reference || candidate) in nats, one per answer token
    kld_mean: Mapped[float] = mapped_column(Float)
    same_top: Mapped[float] = mapped_column(Float)  # share of positions where both models' top token agree
    dp_mean: Mapped[float] = mapped_column(Float)  # mean of p_candidate - p_reference of the reference's token
    dp_rms: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)  # the candidate's teacher-forced pass over this answer
    provenance: Mapped[dict] = mapped_column(JSON)  # both models' files, quantizations, sha256; versions
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FleetRow(Base):
    """(0008) The fleet a shared database belongs to: the first host configured with `fleet` (RAGQ_FLEET) records
    it, and a host of another fleet is refused, so no worker writes its results into a database not its own."""

    __tablename__ = "fleet"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SetCheck(Base):
    """(0009) A generated question set checked against an expert set over runs of the same variants on both
    (`ragq questions check`): the rank agreement per measure, the verdicts' agreement, and whether it passed.
    `generator` is the generated set's generator key (method, model digest, filters, index content): a pass
    vouches for every set the same generator makes from the same documents."""

    __tablename__ = "set_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    generated_set_id: Mapped[int] = mapped_column(ForeignKey("question_sets.id"))
    expert_set_id: Mapped[int] = mapped_column(ForeignKey("question_sets.id"))
    generator: Mapped[str] = mapped_column(String(64), index=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    figures: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
