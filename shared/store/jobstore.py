"""The worker's calls on the store, one method each, each one short transaction waited out across a database
outage (a restart, a lost connection) for up to RAGQ_DB_OUTAGE_S. The job's holder (worker and attempt) fences
every write: work from a worker that lost its lease is refused, never stored."""

import logging
from datetime import timedelta

from sqlalchemy import select

from ragq.shared.config import Settings
from ragq.shared.rag.pipeline import JobResult
from ragq.shared.records import JobContext
from ragq.shared.store import db, jobs
from ragq.shared.store.jobs import Holder, NotClaimed

log = logging.getLogger("ragq.worker")


class JobStore:
    def __init__(self, settings: Settings, worker: str):
        self.worker = worker
        self.lease = timedelta(seconds=settings.lease_s)
        self.max_attempts = settings.max_attempts
        self.outage_limit_s = settings.db_outage_s
        self.outage = db.Outage(settings.lease_s)  # the reaper holds off for a lease after the database was away
        self.engine = db.engine_for(settings)

    def claim(self, job_id: int) -> Holder | NotClaimed:
        return self._retried(lambda s: jobs.claim(s, job_id, self.worker, self.lease, self.max_attempts))

    def context(self, job_id: int) -> JobContext:
        return self._retried(lambda s: jobs.job_context(s, job_id))

    def complete(self, job_id: int, result: JobResult, holder: Holder) -> str:
        return self._retried(lambda s: jobs.complete(s, job_id, jobs.result_columns(result), holder))

    def fail(self, job_id: int, error: str, holder: Holder) -> str:
        return self._retried(lambda s: jobs.fail(s, job_id, error, holder))

    def renew(self, job_id: int, holder: Holder) -> bool:
        """One try, no waiting (the heartbeat tries again at its next beat): whether this holder still holds it."""
        with db.session(self.engine) as s:
            return jobs.renew(s, job_id, holder, self.lease)

    def release_expired(self) -> list[tuple[int, str]]:
        """Free the jobs whose leases ran out, unless the database was away within the last lease (db.Outage):
        one try, no waiting (the reaper tries again at its next round)."""
        with db.session(self.engine) as s:
            s.execute(select(1))  # reaches the database, so an outage and its end show here
            released = jobs.release_expired(s) if self.outage.may_free() else []
        self.outage.over()
        return released

    def missed(self, what: str, exc: Exception) -> None:
        """A failed background round (reaper, heartbeat): an outage in one line, anything else with its traceback."""
        if db.transient(exc):
            self.outage.seen()
        log.warning("%s: %s", what, db.first_line(exc), exc_info=not db.transient(exc))

    def _retried(self, fn):
        """fn(session) in one transaction, tried again while the database is away."""
        return db.transaction(self.engine, fn, limit_s=self.outage_limit_s, outage=self.outage)
