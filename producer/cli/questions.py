"""`ragq questions`: question/answer sets."""

from pathlib import Path

import click
from sqlalchemy import func, select

from ragq.producer.cli.output import json_option, print_json, print_table
from ragq.producer.questions import parse_qa_file
from ragq.shared.store import db, inputs
from ragq.shared.store.schema import Question, QuestionSet


@click.group()
def questions() -> None:
    """Question/answer sets: import, list."""


@questions.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--set", "name", required=True, help="Name of the question set.")
@json_option
@click.pass_obj
def import_(settings, file: Path, name: str, as_json: bool) -> None:
    """Import FILE as the question set NAME.

    \b
    Formats: the study's text (a `Q: ` line, then an `A: ` line), CSV or JSONL with columns
    `question`, `answer` and optional `evidence_pages` (0-based) and `doc`, or a JSON list of such objects.
    """
    pairs = parse_qa_file(file)
    with db.session(db.engine_for(settings)) as s:
        qset, created = inputs.import_questions(s, name, str(file), pairs)
    if as_json:
        print_json({"set": name, "questions": len(pairs), "created": created})
    else:
        click.echo(f"question set '{name}': {len(pairs)} questions " + ("imported" if created else "unchanged"))


@questions.command("list")
@click.option("--set", "name", help="Show the questions of this set.")
@json_option
@click.pass_obj
def list_(settings, name: str | None, as_json: bool) -> None:
    """List question sets, or the questions of one set."""
    with db.session(db.engine_for(settings)) as session:
        if name:
            qset = inputs.get_question_set(session, name)
            rows = session.scalars(select(Question).where(Question.set_id == qset.id).order_by(Question.position)).all()
            data = [
                {
                    "position": q.position,
                    "question": q.question,
                    "answer": q.answer,
                    "evidence_pages": q.evidence_pages,
                    "doc": q.doc,
                }
                for q in rows
            ]
        else:
            counts = session.execute(
                select(QuestionSet.name, QuestionSet.source, func.count(Question.id))
                .join(Question, Question.set_id == QuestionSet.id)
                .group_by(QuestionSet.id)
                .order_by(QuestionSet.name)
            ).all()
            data = [{"set": n, "source": src, "questions": c} for n, src, c in counts]
    if as_json:
        print_json(data)
    elif name:
        print_table(
            f"Questions of {name}",
            ["#", "question", "answer"],
            [[d["position"], d["question"], d["answer"][:80]] for d in data],
        )
    else:
        print_table(
            "Question sets", ["set", "questions", "source"], [[d["set"], d["questions"], d["source"]] for d in data]
        )


COMMANDS = [questions]
