"""Which queue a run's jobs go to, resolved in one place: the run's own (`ragq enqueue --queue NAME`), else its
model's (celery_app.queue_name)."""

from sqlalchemy import func, literal

from ragq.shared.celery_app import queue_name
from ragq.shared.store.schema import ModelRow, Run

# the same rule in SQL, for queries that join runs to their model
QUEUE = func.coalesce(Run.queue, literal(queue_name("")) + ModelRow.name).label("queue")


def run_queue(queue: str | None, model: str) -> str:
    return queue or queue_name(model)
