"""Planning and publishing, from any machine: a request becomes runs and jobs in the database, and the new jobs'
ids go to their queues. `ragq enqueue`, `ragq requeue`, and the first step of `ragq run`."""

from dataclasses import dataclass, field

from ragq.shared.broker import broker_url
from ragq.shared.celery_app import make_app, publish
from ragq.shared.config import Settings
from ragq.shared.corpus.index import load_index
from ragq.shared.errors import UsageError
from ragq.shared.models import catalog, identity
from ragq.shared.models.identity import RunWork, SpecIdentity
from ragq.shared.rag.retrieval import check_ratio
from ragq.shared.records import RunSettings
from ragq.shared.store.door import Store
from ragq.shared.store.runs import RunPlan


@dataclass(frozen=True)
class Plan:
    runs: list[RunPlan]
    published: int
    changes: list[str] = field(default_factory=list)  # "smollm2-135m: top_k unset -> 40: new runs"

    @property
    def run_ids(self) -> list[int]:
        return [r.run_id for r in self.runs]


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What work to do: every (model, prompt kind, ratio) becomes one run over the question set, each with the same
    settings (passed whole: a new setting needs nothing here)."""

    models: list[str]
    ratios: list[float]
    index: str
    questions: str
    settings: RunSettings = RunSettings()
    new_run: bool = False
    prompts: list[str] = field(default_factory=lambda: ["chat"])
    queue: str | None = None  # None: each model's own queue


def _change_line(last: tuple | None, model: str, ms: SpecIdentity) -> str | None:
    """What changed in the model's settings since its last run with this prompt kind (`last`: its digest and
    identity then), in one line."""
    if last is None or last[0] == ms.digest:
        return None
    changed = identity.changes(last[1] or {}, ms.identity)
    return f"{model}: {', '.join(changed) or 'settings changed'}: new runs"


def _work(req: RunRequest, model: str, spec: SpecIdentity, ratio: float) -> RunWork:
    return RunWork(model=model, spec=spec, index=req.index, questions=req.questions, ratio=ratio, settings=req.settings)


def enqueue(settings: Settings, req: RunRequest) -> Plan:
    """Check everything, write every run and job row, then publish the new jobs to their models' queues."""
    specs = [catalog.get_model(settings, m) for m in dict.fromkeys(req.models)]
    settings_of = {
        (sp.name, kind): identity.resolve(settings, sp, kind) for sp in specs for kind in dict.fromkeys(req.prompts)
    }
    for ratio in req.ratios:
        check_ratio(ratio)
    if req.settings.repeat < 1:
        raise UsageError(f"--repeat {req.settings.repeat}: give 1 or more timed repetitions.")
    load_index(settings.indexes_dir, req.index)
    # before any row is written: an unreachable broker or a signing key that cannot sign leaves nothing behind
    app = make_app(broker_url(settings), settings.signing)
    store = Store(settings)
    works = [
        (_work(req, sp.name, settings_of[(sp.name, kind)], ratio), catalog.as_dict(sp))
        for sp in specs
        for kind in dict.fromkeys(req.prompts)
        for ratio in dict.fromkeys(req.ratios)
    ]
    plans, before = store.plan_runs(works, req.index, req.questions, req.new_run, req.queue)
    changes = [
        line for (name, kind), ms in settings_of.items() if (line := _change_line(before.get((name, kind)), name, ms))
    ]
    new_jobs = [(job_id, plan.queue) for plan in plans if plan.created for job_id in plan.job_ids]
    unfinished = store.unpublished(plans)  # an earlier enqueue may have died while publishing: finish its work
    return Plan(plans, publish(app, new_jobs + unfinished), list(dict.fromkeys(changes)))


def requeue(settings: Settings, run_ids: list[int]) -> int:
    """Publish again every job of these runs that is neither finished nor held by a live lease."""
    pending = Store(settings).pending_jobs(run_ids)
    return publish(make_app(broker_url(settings), settings.signing), pending)
