"""One settings object, typed. Precedence: CLI flag > RAGQ_* environment > $RAGQ_HOME/config.toml > defaults.

The environment wins over the file, as in Celery, pydantic-settings and twelve-factor tools: a container's or a
shell's RAGQ_BROKER_URL must not lose to a forgotten config.toml. Each layer is validated on its own, so a bad
value is reported with the place it came from; the file is read strictly (`lease_s = "60"` is an error there),
the environment leniently (every environment value is a string).
"""

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ragq.shared import strict_toml
from ragq.shared.errors import UsageError


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path
    database_url: str | None = Field(None, description="None: SQLite at home/ragq.db")
    broker_url: str | None = Field(None, description="None: the embedded Redis under home/redis")
    debug: bool = False
    lease_s: int = Field(60, ge=1, description="a dead worker's job is free again after this many seconds")
    max_attempts: int = Field(3, ge=1, description="a job that took down its worker this often is marked failed")
    db_outage_s: int = Field(
        300, ge=1, description="workers and `ragq run` wait this long for a database that went away, then stop"
    )
    download_max_mb: int = Field(200, ge=1, description="documents at URLs larger than this are refused")
    download_timeout_s: int = Field(60, ge=1)
    memory_limit_mb: int | None = Field(
        None, ge=1, description="None: the memory available when `ragq run` starts; its models must fit in it"
    )
    embedder_runtime: Literal["onnx", "torch"] = Field(
        "onnx", description="onnx: all-MiniLM-L6-v2 exported once, no torch in workers; torch: sentence-transformers"
    )
    # where each value came from: "default", "config file PATH", "environment RAGQ_X", "option --x"
    origins: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

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


KEYS = [name for name in Settings.model_fields if name not in ("home", "origins")]
# what a config file, the environment or an option may set: Settings' own fields and checks, less home and origins
Layer = create_model(  # type: ignore[call-overload]  # field definitions built from Settings' own
    "Layer",
    __config__=ConfigDict(extra="forbid"),
    **{key: (field.annotation, field) for key, field in Settings.model_fields.items() if key in KEYS},
)


def env_var(key: str) -> str:
    return f"RAGQ_{key.upper()}"


def redact(url: str) -> str:
    """A URL fit for messages and logs: any password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _check(layer: dict[str, Any], origin: str, strict: bool) -> None:
    """Validate one layer's values; the first bad one becomes one line naming the key and where it came from."""
    strict_toml.validate(
        Layer,
        layer,
        origin,
        "fix or remove it",
        lambda loc: f"{loc[0]} = {layer.get(str(loc[0]))!r} is not valid" if loc else "",
        noun="setting",
        strict=strict,
    )


def _from_file(path: Path) -> dict:
    if not path.exists():
        return {}
    data = strict_toml.read_file(path)
    _check(data, f"config file {path}", strict=True)
    return data


def _from_env() -> dict:
    data = {key: os.environ[env_var(key)] for key in KEYS if os.environ.get(env_var(key))}
    for key, value in data.items():  # one at a time: the message names the variable
        _check({key: value}, f"environment {env_var(key)}", strict=False)
    return data


def load_settings(**overrides) -> Settings:
    """Defaults, then the config file, then the environment, then CLI overrides (None = not given)."""
    env = os.environ
    if overrides.get("home"):
        home, home_origin = Path(overrides["home"]), "option --home"
    elif env.get("RAGQ_HOME"):
        home, home_origin = Path(env["RAGQ_HOME"]), "environment RAGQ_HOME"
    else:
        home, home_origin = Path.home() / ".ragq", "default"
    home = home.expanduser()
    file = home / "config.toml"
    origins = {"home": home_origin} | dict.fromkeys(KEYS, "default")
    values: dict[str, Any] = {}
    cli = {k: v for k, v in overrides.items() if v is not None and k != "home"}
    for key, value in cli.items():
        _check({key: value}, f"option --{key.replace('_', '-')}", strict=False)
    layers = [
        (_from_file(file), lambda key: f"config file {file}"),
        (_from_env(), lambda key: f"environment {env_var(key)}"),
        (cli, lambda key: f"option --{key.replace('_', '-')}"),
    ]
    for layer, origin_of in layers:
        values |= layer
        origins |= {key: origin_of(key) for key in layer}
    return Settings.model_validate({"home": home, **values, "origins": origins})


def describe(settings: Settings) -> list[dict]:
    """Every setting with its value (passwords redacted) and where it came from, for `ragq config show`."""
    rows = []
    for key in ["home", *KEYS]:
        value = getattr(settings, key)
        if isinstance(value, str) and "://" in value:
            value = redact(value)
        if isinstance(value, Path):
            value = str(value)
        rows.append({"key": key, "value": value, "origin": settings.origins.get(key, "default")})
    rows.append({"key": "database (in use)", "value": redact(settings.db_url), "origin": "derived"})
    return rows
