"""A generated question set against an expert set (`ragq questions check`): the runs of the same variants on both,
the checks stored, and where a generated set stands (checked and passed, or provisional)."""

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ragq.shared.errors import UsageError
from ragq.shared.records import RunSettings
from ragq.shared.store.inputs import get_question_set
from ragq.shared.store.schema import Job, ModelRow, QuestionSet, Run, SetCheck

# what makes two runs the same variant, apart from the question set they ran on (and their settings, below)
_VARIANT = (Run.model_id, Run.spec_digest, Run.index_id, Run.ratio, Run.prompt_kind)


@dataclass(frozen=True)
class Matched:
    label: str  # "smollm2-135m r0.3"
    expert_run: int
    generated_run: int


def _latest_runs(s: Session, set_id: int) -> dict[tuple, tuple[int, str]]:
    """variant -> (run id, label) of the newest run on this set that has a finished job."""
    finished = select(Job.run_id).where(Job.state == "done")
    query = (select(Run.id, ModelRow.name, Run.settings, *_VARIANT).join(ModelRow, Run.model_id == ModelRow.id)
             .where(Run.set_id == set_id, Run.id.in_(finished)).order_by(Run.id))  # fmt: skip
    out = {}
    for run_id, model, stored, *variant in s.execute(query).all():
        settings = RunSettings.from_dict(stored)
        label = f"{model} {settings.retrieval.fusion} r{variant[3]:g}"
        out[(*variant, json.dumps(settings.as_dict(), sort_keys=True))] = (run_id, label)
    return out


def matched_runs(s: Session, generated: str, expert: str) -> list[Matched]:
    gen, exp = get_question_set(s, generated), get_question_set(s, expert)
    if not gen.provenance:
        raise UsageError(f"question set '{generated}' was imported, not generated: check a set made by "
                         "`ragq questions generate`.")  # fmt: skip
    on_gen, on_exp = _latest_runs(s, gen.id), _latest_runs(s, exp.id)
    both = [v for v in on_exp if v in on_gen]
    if len(both) < 2:
        raise UsageError(
            f"'{generated}' and '{expert}' share {len(both)} variant(s) with answers: run the same models and ratios "
            f"on both (ragq run --model M --ratio R --index I --questions {generated}, then --questions {expert})."
        )
    return [Matched(on_exp[v][1], on_exp[v][0], on_gen[v][0]) for v in both]


def record(s: Session, generated: str, expert: str, passed: bool, figures: dict) -> SetCheck:
    gen, exp = get_question_set(s, generated), get_question_set(s, expert)
    row = SetCheck(generated_set_id=gen.id, expert_set_id=exp.id, generator=(gen.provenance or {})["generator_key"],
                   passed=passed, figures=figures)  # fmt: skip
    s.add(row)
    s.flush()
    return row


def standing(s: Session, set_names: list[str]) -> dict[str, dict | None]:
    """For each generated set among these: the newest passing check of the set or of its generator on the same
    documents ({"expert": name, "tau": ..., "on": measure, "same_set": bool}), or None (provisional). Sets imported
    from files are left out: their verdicts need no label."""
    out: dict[str, dict | None] = {}
    for qset in s.scalars(select(QuestionSet).where(QuestionSet.name.in_(set_names))).all():
        if not qset.provenance:
            continue
        key = qset.provenance.get("generator_key")
        query = (select(SetCheck, QuestionSet.name).join(QuestionSet, SetCheck.expert_set_id == QuestionSet.id)
                 .where(SetCheck.passed.is_(True), SetCheck.generator == key).order_by(SetCheck.id.desc()))  # fmt: skip
        found = s.execute(query).first()
        if found is None:
            out[qset.name] = None
            continue
        check, expert = found
        on = check.figures["decides_on"]
        out[qset.name] = {"expert": expert, "tau": check.figures["tau"][on], "on": on,
                        "same_set": check.generated_set_id == qset.id}  # fmt: skip
    return out
