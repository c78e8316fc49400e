"""docker-compose.yml, checked without a Docker engine: `docker-compose config` validates and resolves it."""

import shutil
import subprocess

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
    assert "--appendonly" in services["redis"]["command"] and services["migrate"]["command"] == ["db", "upgrade"]
    shipped = [s.name for s in catalog.load_catalog(load_settings()).values() if s.source.kind == "package"]
    served = {tuple(svc["command"][:3]) for name, svc in services.items() if name.startswith("worker-")}
    assert served == {("worker", "--model", model) for model in shipped}  # one worker per model that ships
    for name in ("migrate", "producer", *(n for n in services if n.startswith("worker-"))):
        env = services[name]["environment"]
        assert env["RAGQ_BROKER_URL"].startswith("redis://redis") and "@postgres" in env["RAGQ_DATABASE_URL"]
