"""The one door to the database for the producer, its commands and bench: each method is one transaction over
the store's functions (which take a session); nothing outside shared/store/ opens a session or reads the ORM
schema (tests/unit/test_layout.py). The worker's door, with its holder fencing, is shared/store/jobstore.py.

`Store(settings)` fails at once when the database is away (a command says so in one line); `Store(settings,
waiting=True)`, for `ragq run`'s loop, waits out a restart for up to RAGQ_DB_OUTAGE_S and tells its `outage` when
the database was away (the reaper holds off for a lease after one)."""

import logging
from collections.abc import Callable
from datetime import datetime

from ragq.shared.config import Settings
from ragq.shared.models.identity import RunWork
from ragq.shared.records import QAPair
from ragq.shared.store import checks, db, drift, expert, export, inputs, jobs, runs, standing, summaries
from ragq.shared.store.checks import Matched
from ragq.shared.store.results import ResultRow, result_rows, select_runs, timespan
from ragq.shared.store.runs import RunPlan
from ragq.shared.store.summaries import RunFacts

log = logging.getLogger("ragq.db")


class Store:
    def __init__(self, settings: Settings, *, waiting: bool = False, say: Callable[[str], None] = log.warning):
        self.engine = db.engine_for(settings)
        self.outage = db.Outage(settings.lease_s)
        self.limit_s = settings.db_outage_s if waiting else None
        self.say = say

    def _in(self, fn, *args):
        """fn(session, *args) in one transaction (waited out across an outage when the store was made waiting)."""
        if self.limit_s is None:
            with db.session(self.engine) as s:
                return fn(s, *args)
        return db.transaction(self.engine, fn, *args, limit_s=self.limit_s, say=self.say, outage=self.outage)

    # inputs: indexes, question sets, models
    def record_index(self, manifest: dict, path: str) -> None:
        self._in(inputs.record_index, manifest, path)

    def import_questions(self, name: str, source: str, pairs: list[QAPair], provenance=None, origins=None) -> bool:
        """Whether the set was created (False: the same set was there already)."""
        return self._in(lambda s: inputs.import_questions(s, name, source, pairs, provenance, origins)[1])

    def check_new_set_name(self, name: str) -> None:
        self._in(inputs.check_new_set_name, name)

    def question_pairs(self, name: str) -> list[QAPair]:
        return self._in(inputs.question_pairs, name)

    def set_questions(self, name: str) -> tuple[dict, list[dict]]:
        return self._in(inputs.set_questions, name)

    def question_sets(self) -> list[tuple[str, str, dict | None, int]]:
        return self._in(inputs.question_sets)

    # runs and jobs
    def plan_runs(self, works: list[tuple[RunWork, dict]], index: str, questions: str, new_run: bool, queue):
        """(plans, the latest spec each (model, prompt kind) ran with before these): runs.plan_runs."""
        return self._in(runs.plan_runs, works, index, questions, new_run, queue)

    def spec_history(self, model: str) -> list[dict]:
        return self._in(runs.spec_history, model)

    def pending_jobs(self, run_ids: list[int]) -> list[tuple[int, str]]:
        """(job id, queue) of every job of these runs (ids checked) neither finished nor held by a live lease."""
        return self._in(lambda s: jobs.pending(s, standing.resolve_runs(s, run_ids)))

    def unpublished(self, plans: list[RunPlan]) -> list[tuple[int, str]]:
        return self._in(jobs.pending, [plan.run_id for plan in plans if not plan.created])

    def pending_models(self, run_ids: list[int]) -> set[str]:
        return self._in(jobs.pending_models, run_ids)

    def release_workers(self, workers: list[str]) -> list[tuple[int, str]]:
        return self._in(jobs.release_workers, workers)

    def release_expired(self, run_ids: list[int]) -> list[tuple[int, str]]:
        return self._in(jobs.release_expired, run_ids)

    # where runs stand
    def select_runs(self, ids, model=None, ratio=None, index=None, questions=None, since: datetime | None = None):
        return self._in(select_runs, ids, model, ratio, index, questions, since)

    def progress(self, run_ids: list[int]) -> dict[int, dict[str, int]]:
        return self._in(standing.progress, run_ids)

    def standing(self, ids: list[int]) -> tuple[list[int], dict, list[dict], dict[int, int]]:
        """(run ids, jobs per state, holders, refused late results) of these runs (all when none are given)."""
        return self._in(_standing, ids)

    def failure_reasons(self, run_ids: list[int]) -> list[tuple[str, int, list[int]]]:
        return self._in(standing.failure_reasons, run_ids)

    # results
    def answers(self, run_ids: list[int]) -> list[ResultRow]:
        return self._in(result_rows, run_ids)

    def results(self, ids: list[int]) -> tuple[list[int], list[ResultRow], list[RunFacts]]:
        """(run ids checked, their answers, what their summaries are made of), read together."""
        return self._in(_results, ids)

    def timespan(self, run_ids: list[int]) -> tuple[datetime | None, datetime | None]:
        """When the first answer of these runs started and the last one finished."""
        return self._in(timespan, run_ids)

    def export_records(self, run_ids: list[int]) -> list[dict]:
        return self._in(export.export_records, run_ids)

    def set_checks(self, set_names: list[str]) -> dict[str, dict | None]:
        return self._in(checks.standing, set_names)

    def matched_answers(self, generated: str, expert_set: str) -> tuple[list[Matched], list[ResultRow]]:
        """The runs of one variant on both sets (checks.matched_runs) and their answers."""
        return self._in(_matched_answers, generated, expert_set)

    def record_check(self, generated: str, expert_set: str, passed: bool, figures: dict) -> None:
        self._in(checks.record, generated, expert_set, passed, figures)

    # figures added after the answers: drift, the experts' answers' likelihood
    def reference_answers(self, run_ids: list[int]) -> list[tuple[int, str, str]]:
        return self._in(drift.reference_answers, run_ids)

    def replace_drift(self, model: str, spec: dict, digest: str, rows: list[dict]) -> None:
        self._in(lambda s: drift.replace_pass(s, inputs.record_model(s, model, spec).id, digest, rows))

    def unscored(self, run_ids: list[int], force: bool) -> dict[str, list]:
        return self._in(expert.unscored, run_ids, force)

    def store_score(self, result_id: int, columns: dict, note: dict, force: bool) -> None:
        self._in(expert.store_score, result_id, columns, note, force)


def _standing(s, ids: list[int]):
    run_ids = standing.resolve_runs(s, ids)
    return run_ids, standing.progress(s, run_ids), standing.holders(s, run_ids), standing.refused(s, run_ids)


def _results(s, ids: list[int]):
    run_ids = standing.resolve_runs(s, ids)
    rows = result_rows(s, run_ids)
    return run_ids, rows, summaries.run_facts(s, run_ids, rows)


def _matched_answers(s, generated: str, expert_set: str):
    matched = checks.matched_runs(s, generated, expert_set)
    return matched, result_rows(s, [m.expert_run for m in matched] + [m.generated_run for m in matched])
