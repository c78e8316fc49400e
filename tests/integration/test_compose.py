"""docker-compose.yml, checked without a Docker engine: `docker-compose config` validates and resolves it."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import REPO

from ragq.shared.config import load_settings
from ragq.shared.models import catalog

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def compose() -> dict:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("no docker-compose here (Debian: apt-get install docker-compose); .ci/run installs it")
    done = subprocess.run(
        [tool, "-f", str(REPO / "docker-compose.yml"), "config"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_file_is_valid_and_complete(compose, home):
    services = compose["services"]
    assert {"redis", "postgres", "migrate", "producer"} <= set(services)
    assert "--appendonly yes" in services["redis"]["command"][0] and services["migrate"]["command"] == ["db", "upgrade"]
    shipped = [s.name for s in catalog.load_catalog(load_settings()).values() if s.source.kind == "package"]
    served = {tuple(svc["command"][:3]) for name, svc in services.items() if name.startswith("worker-")}
    assert served == {("worker", "--model", model) for model in shipped}  # one worker per model that ships
    for name in ("migrate", "producer", *(n for n in services if n.startswith("worker-"))):
        env = services[name]["environment"]
        assert (
            env["RAGQ_BROKER_URL"].startswith("rediss://ragq@redis:6380/") and "@postgres" in env["RAGQ_DATABASE_URL"]
        )
        assert "ssl_cert_reqs=required" in env["RAGQ_BROKER_URL"] and "sslmode=verify-full" in env["RAGQ_DATABASE_URL"]
        assert env["RAGQ_BROKER_PASSWORD_FILE"] == "/run/secrets/broker-password"


def test_compose_holds_no_password_and_takes_every_secret_from_ragq_fleet_secrets(compose, tmp_path):
    """No default password anywhere; every secret is a file `ragq fleet secrets` makes with the command in the
    file's header, and the hosts' settings it prints are the ones compose gives the ragq services."""
    from helpers import ragq

    text = (REPO / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:" not in text and ":ragq@" not in text and "requirepass" not in text
    folder = tmp_path / "secrets"
    ragq(
        "fleet",
        "secrets",
        str(folder),
        "--host",
        "redis",
        "--database-host",
        "postgres",
        "--install-dir",
        "/run/secrets",
    )
    made = {p.name for p in folder.iterdir()}
    declared = {name: Path(spec["file"]).name for name, spec in compose["secrets"].items()}
    assert all(name == file for name, file in declared.items()) and set(declared) <= made
    assert made - set(declared) == {"ca.key", "ragq.env", "postgresql.conf"}  # the CA's key stays with its maker
    for service in compose["services"].values():
        for secret in service.get("secrets", []):
            assert (secret if isinstance(secret, str) else secret["source"]) in declared
    printed = dict(line.split("=", 1) for line in (folder / "ragq.env").read_text().splitlines())
    env = compose["services"]["migrate"]["environment"]
    for key, value in printed.items():
        if key != "RAGQ_FLEET":
            assert env[key] == value.strip("'"), key
