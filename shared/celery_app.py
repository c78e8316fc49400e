"""The Celery app as producer and worker both configure it: JSON only, late acks, prefetch 1.

A message carries a job id and nothing else; the database holds the job.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragq.shared import fault_injection
from ragq.shared.errors import UsageError

if TYPE_CHECKING:  # Celery is imported where an app is made, not by every reader of queue names
    from celery import Celery

TASK_NAME = "ragq.answer"
# Above the longest job we expect, so Redis does not hand a running job to a second worker.
VISIBILITY_TIMEOUT_S = 3 * 3600


@dataclass(frozen=True)
class WorkerName:
    """One worker process's two names, made in one place: `id` (`model@host:pid`) is how job and result rows, host
    presence and `ragq workers` name it, and how `ragq run` releases the jobs of a worker it started (if the two
    drifted apart, a dead worker's jobs would wait for their lease); `node` (`model@host-pid`) is its Celery node
    name, as control commands address it."""

    model: str
    host: str
    pid: int

    @property
    def id(self) -> str:
        return f"{self.model}@{self.host}:{self.pid}"

    @property
    def node(self) -> str:
        return f"{self.model}@{self.host}-{self.pid}"


def activate(app: "Celery", node: str, queue: str, timeout_s: float = 0.5) -> bool:
    """Tell a standby worker to consume `queue` (Celery's add_consumer); True once it has answered. A worker still
    loading has no control queue yet and misses the call: ask again later."""
    replies = app.control.add_consumer(queue, destination=[node], reply=True, timeout=timeout_s)
    return bool(replies)


def make_app(broker_url: str | None, signing: tuple[str, str] | None = None) -> "Celery":
    """ragq's Celery app; with signing (key file, certificate file), every message it sends is signed and every
    message it receives must be signed by that certificate (Celery's `auth` serializer)."""
    from celery import Celery

    app = Celery("ragq", broker=broker_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_reject_on_worker_lost=False,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue="ragq.default",
        broker_use_ssl=tls_options(broker_url),
    )
    if signing is not None:
        sign_messages(app, *signing)
    return app


def sign_messages(app: "Celery", key_file: str, cert_file: str) -> None:
    """Tasks, control messages (`ragq workers`, standby activation) and events signed with the fleet's RSA key and
    checked against its certificate; unsigned or otherwise signed messages are refused ("untrusted content")."""
    from celery.exceptions import SecurityError

    app.conf.update(
        task_serializer="auth",
        event_serializer="auth",
        accept_content=["auth"],
        security_key=key_file,
        security_certificate=cert_file,
        security_cert_store=cert_file,
        security_digest="sha256",
    )
    try:
        app.setup_security(allowed_serializers=["json"], serializer="json")
    except (SecurityError, OSError) as exc:
        raise UsageError(
            f"messages cannot be signed with {key_file} and {cert_file} ({exc}): set RAGQ_SIGNING_KEY_FILE and "
            "RAGQ_SIGNING_CERT_FILE to the fleet's signer.key and signer.pem (an RSA pair `ragq fleet secrets` makes)."
        ) from exc


def tls_options(broker_url: str | None) -> dict | None:
    """A rediss:// URL's TLS query (ssl_cert_reqs, ssl_ca_certs, ssl_certfile, ssl_keyfile) as Celery's
    broker_use_ssl: kombu reads the URL itself, but Flower's queue view reads only this setting."""
    import ssl
    from urllib.parse import parse_qs, urlsplit

    if not broker_url or not broker_url.startswith("rediss://"):
        return None
    query = {k: v[-1] for k, v in parse_qs(urlsplit(broker_url).query).items()}
    reqs = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL}.get(query.get("ssl_cert_reqs", "").lower())
    options: dict = {"ssl_cert_reqs": ssl.CERT_REQUIRED if reqs is None else reqs}
    options |= {k: query[k] for k in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile") if k in query}
    return options


def publish(app: "Celery", jobs: list[tuple[int, str]]) -> int:
    """Send (job id, queue) pairs, each to its queue."""
    with app.producer_or_acquire() as producer:
        for count, (job_id, queue) in enumerate(jobs, start=1):
            app.send_task(TASK_NAME, args=[job_id], queue=queue, producer=producer)
            fault_injection.after_publish(count)
    return len(jobs)


def fleet(app: "Celery", timeout_s: float) -> list[dict]:
    """Every live ragq worker that answers within timeout_s, asked over the broker (Celery's inspect)."""
    replies = app.control.broadcast("ragq_worker", reply=True, timeout=timeout_s)
    infos = [info for reply in replies for info in reply.values() if isinstance(info, dict) and "worker" in info]
    return sorted(infos, key=lambda info: info["worker"])
