import json

import pytest
from helpers import DEMO_QA, SHARED_DATA

from ragq.producer.questions import parse_qa_file
from ragq.shared.errors import QuestionFileError


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_study_format(tmp_path):
    pairs = parse_qa_file(write(tmp_path, "qa.txt", "Q: What is X?\nA: X is a thing.\nQ: And Y?\nA: Y too.\n"))
    assert [(p.question, p.answer) for p in pairs] == [("What is X?", "X is a thing."), ("And Y?", "Y too.")]


def test_demo_questions_ship_in_study_format():
    assert len(parse_qa_file(DEMO_QA)) == 8


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data (the team folder) is not beside this clone")
def test_the_original_study_file_as_is():
    pairs = parse_qa_file(SHARED_DATA / "seed_qa_format" / "sh_qa_list.txt")
    assert len(pairs) == 10
    assert pairs[0].question == "What is the purpose of SteelHead path selection?"


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data (the team folder) is not beside this clone")
def test_financebench_json_with_evidence_pages():
    pairs = parse_qa_file(SHARED_DATA / "financebench" / "qa_ulta.json")
    assert len(pairs) == 4 and pairs[0].evidence_pages == [1] and pairs[0].doc == "ULTABEAUTY_2023Q4_EARNINGS.pdf"


def test_csv_and_jsonl(tmp_path):
    csv_pairs = parse_qa_file(
        write(tmp_path, "qa.csv", 'question,answer,evidence_pages,doc\n"Q1?",A1,3;4,g.pdf\nQ2?,A2,,\n')
    )
    assert csv_pairs[0].evidence_pages == [3, 4] and csv_pairs[0].doc == "g.pdf" and csv_pairs[1].evidence_pages is None
    rows = [{"question": "Q1?", "answer": "A1", "evidence_pages": [0]}, {"question": "Q2?", "answer": "A2"}]
    jsonl = parse_qa_file(write(tmp_path, "qa.jsonl", "\n".join(json.dumps(r) for r in rows)))
    assert [p.evidence_pages for p in jsonl] == [[0], None]


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("qa.txt", "Q: no answer here?\nQ: second?\nA: yes\n", "no `A:` line"),
        ("qa.txt", "A: answer first\n", "no `Q:` line"),
        ("qa.txt", "", "empty"),
        ("qa.csv", "q,a\nx,y\n", "needs `question` and `answer`"),
        ("qa.csv", "question,answer\nx,\n", "no answer"),
        ("qa.jsonl", '{"question": "x"}\n', "no answer"),
        ("qa.jsonl", "not json\n", "not JSON"),
        ("qa.json", '{"question": "x"}', "list of objects"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, name, content, message):
    with pytest.raises(QuestionFileError, match=message):
        parse_qa_file(write(tmp_path, name, content))


def test_bad_encoding(tmp_path):
    with pytest.raises(QuestionFileError, match="UTF-8"):
        parse_qa_file(write(tmp_path, "qa.txt", "Q: caf\xe9?\nA: yes\n".encode("latin-1"), mode="wb"))
