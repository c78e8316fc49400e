"""`ragq rescore RUN...`: the experts' answers' likelihood for results stored without it (before schema 0007),
without answering again. Each result's stored prompt is evaluated once more with the run's own model, loaded as a
worker loads it (producer/loading.py), and the expert's answer read teacher-forced after it, as a job reads it
after its answer (shared/rag/forced.py). Only a model with the settings the run was answered with may score it
(the same spec digest: file, sampling, prompt), or the likelihood would not be the answering model's.

Only results without a likelihood are filled (`--force` scores every result again, replacing what is there), each
result in its own transaction: a rescore stopped halfway keeps what it stored, and running it again finishes the
rest without scoring any result twice.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime

from ragq.producer import loading
from ragq.shared.config import Settings
from ragq.shared.errors import UsageError
from ragq.shared.models import files, identity
from ragq.shared.rag.prompting import Prompt
from ragq.shared.store.door import Store


def _check_spec(settings: Settings, runner, run_id: int, digest: str | None, kind: str, say) -> None:
    if digest is None:
        say(f"run {run_id} predates spec digests: scored with the catalog's settings for '{runner.spec.name}' now")
        return
    mine = identity.identity(runner.spec, files.file_sha256(settings, runner.path), kind).digest
    if mine != digest:
        raise UsageError(
            f"run {run_id} was answered with other settings for '{runner.spec.name}' than the catalog holds now "
            f"(spec {digest[:8]} against {mine[:8]}): its answers' likelihood would not be the answering model's; "
            "restore the catalog entry and file it ran with, or answer again with `ragq run --new-run`."
        )


def rescore(settings: Settings, run_ids: list[int], force: bool = False, say: Callable[[str], None] = print) -> dict:
    """Score every pending result of these runs; {"scored": n, "skipped": n, "seconds": s} per model."""
    done: dict = {}
    store = Store(settings)
    for model, rows in store.unscored(run_ids, force).items():
        start, scored, skipped = time.perf_counter(), 0, 0
        with loading.opened(settings, model) as runner:
            for run_id, digest, kind in sorted({(r[1], r[2], r[3]) for r in rows}):
                _check_spec(settings, runner, run_id, digest, kind, say)
            say(f"{model}: reading the experts' answers after {len(rows)} stored prompt(s) ...")
            for result_id, _, _, _, prompt, expert in rows:
                score, note = runner.score_expert(Prompt(prompt, []), expert or "")
                note = {**note, "by": "ragq rescore", "placement": runner.placement.label()}
                note["at"] = datetime.now(UTC).isoformat(timespec="seconds")
                store.store_score(result_id, score.columns() if score else {}, note, force)
                scored, skipped = scored + (score is not None), skipped + (score is None)
        done[model] = {"scored": scored, "skipped": skipped, "seconds": time.perf_counter() - start}
    return done
