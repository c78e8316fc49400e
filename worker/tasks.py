"""The one task: a thin shell over WorkerRuntime.process. Running it twice is harmless."""

from ragq.worker import runtime


def answer(job_id: int) -> str:
    return runtime.current().process(int(job_id))
