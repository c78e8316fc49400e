"""One settings object. Precedence: CLI flag > $RAGQ_HOME/config.toml > RAGQ_* environment > defaults."""

import os
import tempfile
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ragq.shared.errors import UsageError


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None = None  # None: SQLite at home/ragq.db
    broker_url: str | None = None  # None: the embedded Redis under home/redis
    debug: bool = False
    lease_s: int = 60  # a worker renews its job's lease every lease_s/3; a dead worker's job is free after this
    max_attempts: int = 3  # a job that took down its worker this many times is marked failed
    download_max_mb: int = 200  # documents at URLs larger than this are refused
    download_timeout_s: int = 60

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'ragq.db'}"

    @property
    def indexes_dir(self) -> Path:
        return self.home / "indexes"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def redis_dir(self) -> Path:
        return self.home / "redis"

    @property
    def downloads_dir(self) -> Path:
        return self.home / "downloads"

    def ensure_home(self) -> None:
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            # a probe of its own: workers starting together must not delete each other's
            with tempfile.NamedTemporaryFile(dir=self.home, prefix=".write-check-"):
                pass
        except OSError as exc:
            raise UsageError(
                f"RAGQ_HOME {self.home} is not writable ({exc.strerror}): set RAGQ_HOME to a folder you can write."
            ) from exc


def redact(url: str) -> str:
    """A URL fit for messages and logs: any password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _from_file(home: Path) -> dict:
    path = home / "config.toml"
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML ({exc}): fix or delete it.") from exc
    known = {f.name for f in fields(Settings)} - {"home"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{path} has unknown keys {sorted(unknown)}: known keys are {sorted(known)}.")
    return data


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{name}={value!r} is not a positive whole number: fix or unset it.")
    return int(value)


def load_settings(**overrides) -> Settings:
    """Build the settings from defaults, environment, config file and CLI overrides (None = not given)."""
    env = os.environ
    home = Path(overrides.get("home") or env.get("RAGQ_HOME") or Path.home() / ".ragq").expanduser()
    settings = Settings(
        home=home,
        database_url=env.get("RAGQ_DATABASE_URL") or None,
        broker_url=env.get("RAGQ_BROKER_URL") or None,
        debug=env.get("RAGQ_DEBUG", "") not in ("", "0"),
        lease_s=_int_env("RAGQ_LEASE_S", 60),
        max_attempts=_int_env("RAGQ_MAX_ATTEMPTS", 3),
        download_max_mb=_int_env("RAGQ_DOWNLOAD_MAX_MB", 200),
        download_timeout_s=_int_env("RAGQ_DOWNLOAD_TIMEOUT_S", 60),
    )
    settings = replace(settings, **_from_file(home))
    given = {k: v for k, v in overrides.items() if v is not None and k != "home"}
    return replace(settings, **given)
