"""`ragq questions`: question/answer sets."""

from pathlib import Path

import click

from ragq.producer.cli.output import fmt, json_option, print_json, print_table, progress_bar
from ragq.producer.questions import parse_qa_file
from ragq.producer.testset import build
from ragq.producer.testset.filters import FILTERS
from ragq.producer.testset.generate import ANSWERS, Request
from ragq.shared.errors import UsageError
from ragq.shared.store.door import Store


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
    created = Store(settings).import_questions(name, str(file), pairs)
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
    store = Store(settings)
    if name:
        keys = ("position", "question", "answer", "evidence_pages", "doc")
        data = [{key: q[key] for key in keys} for q in store.set_questions(name)[1]]
    else:
        data = [
            {"set": n, "source": src, "kind": _kind(prov), "questions": c} for n, src, prov, c in store.question_sets()
        ]
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
            "Question sets",
            ["set", "questions", "kind", "source"],
            [[d["set"], d["questions"], d["kind"], d["source"]] for d in data],
        )


def _kind(provenance: dict | None) -> str:
    if not provenance:
        return "imported"
    model = provenance.get("model")
    return "generated (" + (f"{model['name']} + cloze" if model else "cloze") + ")"


@questions.command("generate")
@click.argument("index")
@click.option("--set", "name", required=True, help="Name of the new question set.")
@click.option("--count", default=30, show_default=True, type=int, help="Questions wanted.")
@click.option("--model", help="Catalog model that writes the questions (default: cloze questions, no model).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the pages, spans and sampling.")
@click.option("--k", default=4, show_default=True, type=int, help="Retrievable: evidence page in this top k.")
@click.option("--round-trip", help="Catalog model that must find the answer from the page alone (optional filter).")
@click.option("--answer", type=click.Choice(ANSWERS), default="span", show_default=True,
              help="The reference answer: the span, or the whole sentence that holds it.")  # fmt: skip
@click.option("--without", multiple=True, type=click.Choice([f for f in FILTERS if f != "on_page"]),
              help="Measure this filter but do not enforce it (repeatable).")  # fmt: skip
@json_option
@click.pass_obj
def generate(settings, index, name, count, model, seed, k, round_trip, answer, without, as_json) -> None:
    """Generate the question set NAME from INDEX: each answer a span of a page (numbers with their units, dates,
    amounts, names, a defining sentence's predicate), each question a cloze of its sentence or written by --model
    under a grammar, kept where it passes every filter (answer on its page, answer not in the question, no
    "the table"/"above", no near-duplicate, evidence page retrievable by BM25 or dense). Nothing is stored until
    the whole set is made. --answer sentence makes the span's sentence the reference (the experts' answers are
    sentences: the likelihood of a few bytes of span is noisy)."""
    request = Request(count=count, seed=seed, k=k, skip=frozenset(without), answer=answer)
    with progress_bar(enabled=not as_json) as progress:
        made = build.generate(settings, index, name, request, (model, round_trip), progress)
    prov = made.provenance
    if as_json:
        print_json({"set": name, "questions": len(made.made), "provenance": prov})
        return
    click.echo(f"question set '{name}': {len(made.made)} generated questions from index '{index}' "
               f"({_written(prov)}; {prov['seconds_per_question']:.2f} s per question)")  # fmt: skip
    removed = ", ".join(f"{f} {n}" for f, n in sorted(prov["removed"].items())) or "none"
    retr = prov["retrievable"]
    click.echo(f"removed by filter: {removed}; evidence page in the top {prov['k']}: BM25 {retr['bm25']}, "
               f"dense {retr['dense']} of {retr['questions']}")  # fmt: skip
    if len(made.made) < count:
        click.echo(f"Note: {count} wanted, {len(made.made)} made: every page with text was visited.")


def _written(prov: dict) -> str:
    text = ", ".join(f"{n} {m}" for m, n in sorted(prov["written"].items()))
    if prov["model"]:
        text += f"; {prov['fallbacks_to_cloze']} fell back to the cloze, {prov['model_outputs_cut']} outputs cut"
    return text


@questions.command("show")
@click.argument("name")
@json_option
@click.pass_obj
def show(settings, name, as_json) -> None:
    """Show question set NAME: where it came from (generated: by what, the filters and what each removed) and its
    questions with their answers, evidence pages and, for a generated set, how each was written."""
    qset, rows = Store(settings).set_questions(name)
    data = {"set": qset["set"], "source": qset["source"], "kind": _kind(qset["provenance"]),
            "provenance": qset["provenance"], "questions": rows}  # fmt: skip
    if as_json:
        print_json(data)
        return
    click.echo(f"question set '{name}': {len(rows)} questions, {data['kind']}, from {qset['source']}")
    for key, value in (qset["provenance"] or {}).items():
        click.echo(f"  {key}: {value}")
    print_table(
        f"Questions of {name}",
        ["#", "question", "answer", "doc", "pages", "written"],
        [[q["position"], q["question"], q["answer"][:60], q["doc"] or "-", q["evidence_pages"] or "-",
          (q["origin"] or {}).get("method", "-")] for q in rows],
    )  # fmt: skip


@questions.command("check")
@click.argument("generated")
@click.option("--against", "expert", required=True, help="The expert question set (imported) to check against.")
@click.option("--draws", default=200, show_default=True, type=int, help="Random subsets per size (the curve).")
@json_option
@click.pass_obj
def check(settings, generated, expert, draws, as_json) -> None:
    """Check the generated set GENERATED against an expert set over runs of the same variants on both (same index,
    models, ratios): Kendall's tau between the runs' orderings by each measure, the pairwise verdicts (as `ragq
    compare` makes them) that agree, and how tau grows with the generated questions. Passes where tau by the
    experts' answers' likelihood (else token F1) is 0.7 or more and no verdict of the expert set is missed or
    contradicted; verdicts on the set (and on sets of its generator) then lose their provisional label."""
    if draws < 1:
        raise UsageError(f"--draws {draws}: give 1 or more.")
    figures = build.check_sets(settings, generated, expert, draws)
    if as_json:
        print_json(figures)
        return
    print_check(figures)


def print_check(f: dict) -> None:
    names = {"expert_bpb": "likelihood (bits/byte)", "token_f1": "token F1", "cosine": "cosine"}
    print_table(
        f"Runs on '{f['expert']}' (expert) and '{f['generated']}' (generated)",
        ["variant", *[f"{names[m]} {side}" for m in names for side in ("expert", "generated")]],
        [[label, *[fmt(f["means"][m][side][i]) for m in names for side in ("expert", "generated")]]
         for i, label in enumerate(f["runs"])],
    )  # fmt: skip
    taus = ", ".join(f"{names[m]} {fmt(t, 2)}" for m, t in f["tau"].items())
    click.echo(f"Kendall tau between the runs' orderings: {taus}")
    a = f["agreement"]
    click.echo(f"pairwise verdicts: {fmt(a['verdicts_agree'], 2)} agree over {a['pairs']} pairs; the expert set "
               f"decides {a['expert_decided']}, the generated set {a['generated_decided']}; missed {a['missed']}, "
               f"contradicted {a['contradicted']}")  # fmt: skip
    curve = "; ".join(f"{p['questions']}: {p['median']:.2f} [{p['p10']:.2f}, {p['p90']:.2f}]" for p in f["curve"])
    click.echo(f"tau by {names[f['decides_on']]} with n generated questions (median [10th, 90th]): {curve}")
    verdict = "passed" if f["passed"] else "not passed: verdicts on this set stay provisional"
    click.echo(f"check {verdict} (tau >= {f['min_tau']} needed, no expert verdict missed or contradicted)")


COMMANDS = [questions]
