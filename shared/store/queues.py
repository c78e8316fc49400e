"""Queue names, in one place: a model's own queue, the queue a run's jobs go to (the run's own, `ragq enqueue
--queue NAME`, else its model's), and a standby worker's queue."""

from sqlalchemy import func, literal

from ragq.shared.store.schema import ModelRow, Run


def queue_name(model: str) -> str:
    """A model's own queue; `ragq enqueue --queue NAME` routes a run's jobs elsewhere (workers: `--queue NAME`)."""
    return f"ragq.{model}"


def standby_queue(worker: str) -> str:
    """A queue no job is published to: a worker started with --standby consumes it until told to take its model's."""
    return f"ragq.standby.{worker}"


# the same rule in SQL, for queries that join runs to their model
QUEUE = func.coalesce(Run.queue, literal(queue_name("")) + ModelRow.name).label("queue")


def run_queue(queue: str | None, model: str) -> str:
    return queue or queue_name(model)
