"""A question with its reference answer, as question sets store them (parsing the files: producer/questions.py)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    evidence_pages: list[int] | None = None  # 0-based, as pypdf counts
    doc: str | None = None
