"""Question/answer files -> QA pairs. Formats: the study's `Q:`/`A:` lines, CSV, JSONL, JSON array."""

import csv
import io
import json
from pathlib import Path

from ragq.shared.errors import QuestionFileError
from ragq.shared.records import QAPair


def parse_qa_file(path: Path) -> list[QAPair]:
    if not path.is_file():
        raise QuestionFileError(f"{path} does not exist: check the path.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QuestionFileError(f"{path.name} is not UTF-8 text (byte {exc.start}): save it as UTF-8.") from exc
    if not text.strip():
        raise QuestionFileError(f"{path.name} is empty: it needs at least one question and answer.")
    parser = {".csv": parse_csv, ".jsonl": parse_jsonl, ".json": parse_json}.get(path.suffix.lower(), parse_qa_lines)
    pairs = parser(text)
    if not pairs:
        raise QuestionFileError(f"{path.name} holds no question: see `ragq questions import --help` for the formats.")
    return pairs


def parse_qa_lines(text: str) -> list[QAPair]:
    """The study's format: a `Q: ` line, then an `A: ` line. Other lines continue the one before."""
    pairs: list[QAPair] = []
    question: str | None = None
    answer: str | None = None
    where = 0

    def close() -> None:
        if question is not None:
            if not answer:
                raise QuestionFileError(f"question on line {where} has no `A:` line: add its answer after it.")
            pairs.append(QAPair(question.strip(), answer.strip()))

    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("Q:"):
            close()
            question, answer, where = line[2:], None, number
        elif line.startswith("A:"):
            if question is None or answer is not None:
                raise QuestionFileError(f"line {number}: an `A:` line with no `Q:` line before it: add the question.")
            answer = line[2:]
        elif line.strip():
            if question is None:
                raise QuestionFileError(f"line {number} is neither `Q:` nor `A:`: start each question with `Q: `.")
            if answer is None:
                question += " " + line.strip()
            else:
                answer += " " + line.strip()
    close()
    return pairs


def _record(row: dict, where: str) -> QAPair:
    missing = [k for k in ("question", "answer") if not str(row.get(k) or "").strip()]
    if missing:
        raise QuestionFileError(f"{where} has no {' and no '.join(missing)}: every row needs `question` and `answer`.")
    pages = _pages(row.get("evidence_pages", row.get("evidence_page_index")), where)
    doc = row.get("doc") or None
    if doc is not None and not isinstance(doc, str):
        raise QuestionFileError(f"{where}: doc must be a document's file name, got {doc!r}.")
    return QAPair(str(row["question"]).strip(), str(row["answer"]).strip(), pages or None, doc)


def _pages(value, where: str) -> list[int] | None:
    """evidence_pages as a file may hold it: 3, "3;4", "[3, 4]" or [3, 4]; 0-based page numbers or nothing."""
    if value is None:
        return None
    pages = value
    try:
        if isinstance(value, str):
            text = value.strip()
            pages = json.loads(text) if text.startswith("[") else [int(p) for p in text.split(";") if p.strip()]
        elif isinstance(value, int) and not isinstance(value, bool):
            pages = [value]
    except ValueError:  # json.JSONDecodeError is one
        pages = value
    if not isinstance(pages, list) or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in pages):
        raise QuestionFileError(f"{where}: evidence_pages must be 0-based page numbers (e.g. 3;4), got {value!r}.")
    return pages


def parse_csv(text: str) -> list[QAPair]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"question", "answer"} <= set(reader.fieldnames):
        raise QuestionFileError(
            f"CSV columns are {reader.fieldnames}: it needs `question` and `answer` (optional `evidence_pages`, `doc`)."
        )
    try:
        return [_record(row, f"CSV row {i}") for i, row in enumerate(reader, start=2)]
    except ValueError as exc:
        raise QuestionFileError(f"CSV evidence_pages is not a list of numbers ({exc}): write e.g. 3;4.") from exc


def parse_jsonl(text: str) -> list[QAPair]:
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"JSONL line {number} is not JSON ({exc.msg}): one object per line.") from exc
        if not isinstance(row, dict):
            raise QuestionFileError(f'JSONL line {number} is not an object: write {{"question": ..., "answer": ...}}.')
        pairs.append(_record(row, f"JSONL line {number}"))
    return pairs


def parse_json(text: str) -> list[QAPair]:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QuestionFileError(f"the JSON file is not valid JSON ({exc.msg}, line {exc.lineno}).") from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise QuestionFileError("a .json question file must be a list of objects with `question` and `answer`.")
    return [_record(row, f"JSON item {i}") for i, row in enumerate(rows)]
