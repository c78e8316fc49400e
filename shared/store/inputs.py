"""The inputs a run is made of, as rows: indexes, question sets (with their questions), models."""

import hashlib
import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ragq.shared.errors import QuestionFileError, UnknownNameError
from ragq.shared.records import QAPair
from ragq.shared.registry import unknown_name_message
from ragq.shared.store.schema import IndexRow, ModelRow, Question, QuestionSet


def record_index(s: Session, manifest: dict, path: str) -> IndexRow:
    row = s.scalar(select(IndexRow).where(IndexRow.name == manifest["name"])) or IndexRow(name=manifest["name"])
    row.path, row.chunk_count, row.embedder, row.manifest = (
        path,
        manifest["chunk_count"],
        manifest["embedder"],
        manifest,
    )
    s.add(row)
    s.flush()
    return row


def get_index(s: Session, name: str) -> IndexRow:
    row = s.scalar(select(IndexRow).where(IndexRow.name == name))
    if row is None:
        known = s.scalars(select(IndexRow.name)).all()
        raise UnknownNameError(
            unknown_name_message("index", name, known, "Create it with `ragq ingest PATH --index NAME`.")
        )
    return row


def qa_digest(pairs: list[QAPair]) -> str:
    return hashlib.sha256(json.dumps([p.__dict__ for p in pairs], sort_keys=True).encode()).hexdigest()


def import_questions(
    s: Session,
    name: str,
    source: str,
    pairs: list[QAPair],
    provenance: dict | None = None,
    origins: list[dict] | None = None,
) -> tuple[QuestionSet, bool]:
    """Create the set; importing the same content again is a no-op, different content under that name is refused.
    A generated set (`ragq questions generate`) comes with its provenance and each question's origin."""
    digest = qa_digest(pairs)
    existing = s.scalar(select(QuestionSet).where(QuestionSet.name == name))
    if existing is not None:
        if existing.sha256 == digest:
            return existing, False
        raise QuestionFileError(f"question set '{name}' exists with other questions: import under another --set name.")
    qset = QuestionSet(name=name, source=source, sha256=digest, provenance=provenance)
    s.add(qset)
    s.flush()
    s.add_all(
        Question(
            set_id=qset.id,
            position=i,
            question=p.question,
            answer=p.answer,
            evidence_pages=p.evidence_pages,
            doc=p.doc,
            origin=origins[i] if origins else None,
        )
        for i, p in enumerate(pairs)
    )
    return qset, True


def check_new_set_name(s: Session, name: str) -> None:
    """Before a long generation: a set of that name would be refused at the end, so say so now."""
    if s.scalar(select(QuestionSet.id).where(QuestionSet.name == name)) is not None:
        raise QuestionFileError(f"question set '{name}' exists: generate under another --set name.")


def get_question_set(s: Session, name: str) -> QuestionSet:
    row = s.scalar(select(QuestionSet).where(QuestionSet.name == name))
    if row is None:
        known = s.scalars(select(QuestionSet.name)).all()
        raise UnknownNameError(
            unknown_name_message("question set", name, known, "Import it with `ragq questions import FILE --set NAME`.")
        )
    return row


def record_model(s: Session, name: str, spec: dict) -> ModelRow:
    """The model's row, holding its latest catalog entry (each run keeps the spec it ran with)."""
    row = s.scalar(select(ModelRow).where(ModelRow.name == name))
    if row is None:
        row = ModelRow(name=name, spec=spec)
        s.add(row)
    elif row.spec != spec:
        row.spec = spec
    s.flush()
    return row


def set_questions(s: Session, name: str) -> tuple[dict, list[dict]]:
    """A question set (name, source, provenance) and its questions, in order, as plain values (what `ragq
    questions show` prints)."""
    qset = get_question_set(s, name)
    rows = s.scalars(select(Question).where(Question.set_id == qset.id).order_by(Question.position)).all()
    return {"set": qset.name, "source": qset.source, "provenance": qset.provenance}, [
        {"position": q.position, "question": q.question, "answer": q.answer, "doc": q.doc,
         "evidence_pages": q.evidence_pages, "origin": q.origin}
        for q in rows
    ]  # fmt: skip


def question_pairs(s: Session, name: str) -> list[QAPair]:
    """A question set's questions, in order, as the pairs a run, a tuning or a retrieval check asks."""
    return [QAPair(q["question"], q["answer"], q["evidence_pages"], q["doc"]) for q in set_questions(s, name)[1]]


def question_sets(s: Session) -> list[tuple[str, str, dict | None, int]]:
    """(name, source, provenance, number of questions) of every set, by name."""
    query = (
        select(QuestionSet.name, QuestionSet.source, QuestionSet.provenance, func.count(Question.id))
        .join(Question, Question.set_id == QuestionSet.id)
        .group_by(QuestionSet.id)
        .order_by(QuestionSet.name)
    )
    return [tuple(row) for row in s.execute(query).all()]
