"""A fleet secured as `ragq fleet secrets` sets it up: Redis over TLS with an ACL user and client certificates,
PostgreSQL over TLS with scram-sha-256 (sslmode=verify-full), secrets read from files. It answers every job once,
no secret appears in a file ragq wrote or on a command line, and each way of getting it wrong is refused in one
line that names the fix, with nothing written."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fleet import PgServer, TlsRedis, fleet_id_of, free_port, secure_env
from helpers import DEMO_PDF, demo_questions, ragq, start_worker, stop
from sqlalchemy import create_engine, func, select, text

from ragq.shared.store.schema import Job, Run

pytestmark = pytest.mark.integration


def _pg_missing() -> str | None:
    return PgServer.missing()


@pytest.fixture(scope="module")
def secrets(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fleet") / "secrets"
    ragq("fleet", "secrets", str(folder), "--host", "127.0.0.1")
    return folder


@pytest.fixture(scope="module")
def broker(secrets):
    server = TlsRedis(secrets)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def database(secrets):
    if (why := _pg_missing()) is not None:
        pytest.skip(why)
    server = PgServer().init().secure(secrets)
    yield server
    server.remove()


def fleet_env(secrets: Path, broker: TlsRedis, database: PgServer) -> dict[str, str]:
    return secure_env(secrets, "127.0.0.1", ("127.0.0.1", database.port), broker_port=broker.port)


def _admin_engine(database: PgServer):
    return create_engine(f"postgresql+psycopg://postgres@/ragq?host={database.dir}&port={database.port}")


def store_counts(database: PgServer) -> dict:
    """Rows in the fleet's database, read as the server's own admin over its unix socket."""
    with _admin_engine(database).connect() as conn:
        tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
        return {t: conn.scalar(text(f'SELECT COUNT(*) FROM "{t}"')) for t in tables}


def command_lines() -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return found


def files_holding(folders: list[Path], secret: str) -> list[str]:
    hits = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink() and secret.encode() in path.read_bytes():
                hits.append(str(path))
    return hits


def test_a_secured_fleet_answers_every_job_once_and_keeps_its_secrets_out_of_sight(
    home, tmp_path, secrets, broker, database
):
    env = fleet_env(secrets, broker, database)
    qa = demo_questions(tmp_path / "qa.txt", 3)
    ragq("db", "upgrade", env=env)
    ragq("ingest", str(DEMO_PDF), "--index", "guide", env=env)
    ragq("questions", "import", str(qa), "--set", "qs", env=env)
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:  # every process's command line, sampled while the fleet works
        while not done.is_set():
            seen.extend(command_lines())
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()  # through the run, a standalone worker, `ragq workers` and Flower
    worker = None
    try:
        run = ragq("run", "--model", "smollm2-135m", "--ratio", "0.3", "--index", "guide", "--questions", "qs",
                   env=env, timeout=900)  # fmt: skip
        worker = start_worker("smollm2-135m", tmp_path / "worker.log", env=env, index="guide")
        pages = flower_pages(tmp_path, env)  # Flower's pages and API over the fleet's broker, once it sees the worker
        listed = ragq("workers", "--json", "--timeout", "10", env=env).stdout
        attacks = forge_and_replay(env, tmp_path / "worker.log")
    finally:
        done.set()
        watcher.join()
        if worker is not None:
            stop(worker)
    assert "smollm2-135m" in listed and "smollm2-135m@" in pages
    # a message without the fleet's signature is refused before it is read; a signed one replayed finds its job done
    assert attacks == {"forged": "refused unsigned", "replayed": "not taken: done"}
    out = tmp_path / "out"
    out.mkdir()
    ragq("export", "--format", "jsonl", "-o", str(out / "results.jsonl"), env=env)
    ragq("report", "-o", str(out / "report.html"), env=env)
    shown = ragq("config", "show", "--json", env=env).stdout
    counts = store_counts(database)
    assert counts["jobs"] == counts["results"] == 3, run.stdout  # every job answered once, in the fleet's database
    with _admin_engine(database).connect() as conn:
        assert conn.scalar(text("SELECT COUNT(DISTINCT job_id) FROM results")) == 3  # no duplicate
        assert conn.scalar(text("SELECT COUNT(*) FROM jobs WHERE state = 'done'")) == 3  # none lost
        stored = " ".join(str(row) for t in counts for row in conn.execute(text(f'SELECT * FROM "{t}"')))
        assert conn.scalar(text("SELECT id FROM fleet")) == fleet_id_of(secrets)  # the database knows its fleet
    for name in ("broker-password", "database-password"):
        secret = (secrets / name).read_text().strip()
        assert len(secret) >= 32
        assert files_holding([home, out, broker.dir], secret) == []  # logs, indexes, exports, report, AOF
        assert secret not in stored  # provenance, results, runs
        assert not [line for line in seen if secret in line]  # no process's command line
        assert secret not in run.stdout + run.stderr + shown + listed + pages
    assert any("ragq.worker" in line for line in seen) and any("flower" in line for line in seen)  # it saw them


def forge_and_replay(env: dict, worker_log: Path) -> dict:
    """Push to the worker's queue a message a stranger with broker access could write (plain JSON, unsigned) and a
    copy of a legitimate signed message for a job already answered; what the worker did with each."""
    from kombu import Connection

    from ragq.shared.celery_app import TASK_NAME, make_app, publish
    from ragq.shared.store.queues import queue_name

    settings = _settings_from(env)
    queue = queue_name("smollm2-135m")
    with Connection(settings.broker_connection_url) as conn:  # the stranger's message: a task for job 1
        conn.Producer(serializer="json").publish(
            [[1], {}, {}], routing_key=queue, exchange="", headers={"task": TASK_NAME, "id": "forged-1"}
        )
    publish(make_app(settings.broker_connection_url, settings.signing), [(1, queue)])  # the replay
    said: dict = {}
    deadline = time.monotonic() + 60
    while len(said) < 2 and time.monotonic() < deadline:
        log = worker_log.read_text()
        if "untrusted content" in log:
            said["forged"] = "refused unsigned"
        if "job 1 not taken: done" in log:
            said["replayed"] = "not taken: done"
        time.sleep(0.3)
    return said


def _settings_from(env: dict):
    from unittest import mock

    from ragq.shared.config import load_settings

    with mock.patch.dict(os.environ, env):
        return load_settings()


def flower_pages(tmp_path: Path, env: dict) -> str:
    """`ragq monitor` on a free loopback port, once it lists a worker: the text of its pages and API answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "ragq.producer.cli", "monitor", "--port", str(port)]
    log = tmp_path / "flower.log"
    flower = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, **env})
    get = lambda path: urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read().decode()  # noqa: E731
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if json.loads(get("/api/workers?refresh=1")):
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("Flower never listed a worker: " + log.read_text()[-2000:])
        paths = ["/api/workers", "/", "/workers", "/broker", "/tasks", "/api/tasks", "/api/queues/length"]
        time.sleep(0.5)  # the command-line watch samples every 0.2 s
        return "\n".join(get(path) for path in paths) + log.read_text()
    finally:
        stop(flower)


def _refused(env: dict, database: PgServer | None, *phrases: str) -> None:
    """One line naming the fix, a non-zero exit, no traceback, and the store as it was."""
    before = store_counts(database) if database else None
    proc = ragq("enqueue", "--model", "smollm2-135m", "--index", "guide", "--questions", "qs", env=env, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    if database:
        assert store_counts(database) == before


@pytest.fixture
def enqueue_ready(home, tmp_path):
    """An index and a question set in a SQLite home: a broker refusal must come before any row is written."""
    ragq("ingest", str(DEMO_PDF), "--index", "guide")
    ragq("questions", "import", str(demo_questions(tmp_path / "qa.txt", 2)), "--set", "qs")
    return home


def _sqlite_counts(home: Path) -> tuple[int, int]:
    engine = create_engine(f"sqlite:///{home / 'ragq.db'}")
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Run)), conn.scalar(select(func.count()).select_from(Job))


def broker_only(secrets: Path, broker: TlsRedis) -> dict:
    env = secure_env(secrets, "127.0.0.1", ("127.0.0.1", 5432), broker_port=broker.port)
    return {k: v for k, v in env.items() if k.startswith("RAGQ_BROKER")}


def test_broker_refusals_name_the_fix_and_write_nothing(enqueue_ready, tmp_path, secrets, broker):
    home, env = enqueue_ready, broker_only(secrets, broker)
    other = tmp_path / "other-fleet"
    ragq("fleet", "secrets", str(other), "--host", "127.0.0.1")
    wrong_ca = env["RAGQ_BROKER_URL"].replace(f"ssl_ca_certs={secrets}/ca.pem", f"ssl_ca_certs={other}/ca.pem")
    cases = [
        ({**env, "RAGQ_BROKER_PASSWORD_FILE": str(other / "broker-password")}, ["refused the password of user ragq"]),
        ({**env, "RAGQ_BROKER_URL": wrong_ca}, ["not signed by the CA in", str(other / "ca.pem"), "ca.pem"]),
        ({**env, "RAGQ_BROKER_URL": f"redis://127.0.0.1:{broker.port}/0"}, ["closed a plain-text connection", "rediss://"]),
        ({**env, "RAGQ_BROKER_URL": "redis://ragq@192.0.2.7:6379/0"}, ["plain text", "allow_plaintext"]),
        ({**env, "RAGQ_BROKER_PASSWORD_FILE": str(tmp_path / "nope")}, ["RAGQ_BROKER_PASSWORD_FILE", "cannot be read"]),
    ]  # fmt: skip
    before = _sqlite_counts(home)
    for case_env, phrases in cases:
        _refused(case_env, None, *phrases)
        assert _sqlite_counts(home) == before
    secret = (other / "broker-password").read_text().strip()
    assert files_holding([home], secret) == []


def test_the_broker_account_may_not_administer_the_server(secrets, broker):
    """The ACL `ragq fleet secrets` writes: ragq's account works its queues but cannot empty or reconfigure the
    server, and the default (passwordless) account is off."""
    import redis

    url = _settings_from(broker_only(secrets, broker)).broker_connection_url
    client = redis.Redis.from_url(url)
    assert client.ping() and client.acl_whoami() == "ragq"
    assert client.lpush("ragq.acl-probe", "x") == 1 and client.delete("ragq.acl-probe") == 1
    for command in (client.flushall, client.flushdb, lambda: client.config_get("*"), client.shutdown, client.acl_list):
        with pytest.raises(redis.exceptions.NoPermissionError):
            command()
    anonymous = redis.Redis.from_url(re.sub(r"rediss://[^@]+@", "rediss://", url))
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()


def test_database_refusals_name_the_fix_and_change_nothing(home, tmp_path, secrets, broker, database):
    env = fleet_env(secrets, broker, database)
    ragq("db", "upgrade", env=env)  # the fleet's database exists and is claimed by the fleet
    ragq("ingest", str(DEMO_PDF), "--index", "guide", env=env)
    other = tmp_path / "other-fleet"
    ragq("fleet", "secrets", str(other), "--host", "127.0.0.1")
    url = env["RAGQ_DATABASE_URL"]
    cases = [
        ({**env, "RAGQ_DATABASE_PASSWORD_FILE": str(other / "database-password")}, ["refused the password of user ragq"]),
        ({**env, "RAGQ_DATABASE_URL": url.replace(f"sslrootcert={secrets}", f"sslrootcert={other}")}, ["not signed by the CA"]),
        ({**env, "RAGQ_DATABASE_URL": url.split("?")[0] + "?sslmode=disable"}, ["accepts only TLS", "sslmode=verify-full"]),
        ({**env, "RAGQ_DATABASE_URL": url.replace("127.0.0.1", "192.0.2.7").split("?")[0]}, ["plain text", "allow_plaintext"]),
        ({**env, "RAGQ_FLEET": "0123456789ab"}, [f"belongs to fleet {fleet_id_of(secrets)}", "RAGQ_DATABASE_URL"]),
    ]  # fmt: skip
    for case_env, phrases in cases:
        _refused(case_env, database, *phrases)
