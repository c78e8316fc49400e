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

from pydantic import BaseModel, ConfigDict, Field, SecretStr, create_model

from ragq.shared import strict_toml
from ragq.shared.errors import UsageError
from ragq.shared.transport import redact


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path
    database_url: str | None = Field(None, description="None: SQLite at home/ragq.db")
    broker_url: str | None = Field(None, description="None: the embedded Redis under home/redis")
    # secrets: from RAGQ_X or a file named by RAGQ_X_FILE (the *_FILE convention of Docker secrets); never shown
    broker_password: SecretStr | None = Field(
        None, description="the broker account's password (RAGQ_BROKER_URL's user)"
    )
    database_password: SecretStr | None = Field(None, description="the database user's password")
    signing_key_file: Path | None = Field(
        None, description="an RSA key that signs every Celery message (with the cert)"
    )
    signing_cert_file: Path | None = Field(None, description="its certificate: messages not signed by it are refused")
    fleet: str | None = Field(None, description="the fleet this host belongs to (`ragq fleet secrets` printed it)")
    allow_plaintext: bool = Field(
        False, description="allow a broker or database on another host without verified TLS (a network you trust)"
    )
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
    pdf_reader: Literal["pdfium", "pypdf"] = Field(
        "pdfium",
        description="how new indexes read PDFs: pdfium (native, fast; tables a row per line) or pypdf (the study's "
        "PyPDFLoader, page for page)",
    )
    embedder: Literal["fp32", "int8"] = Field(
        "int8",
        description="the variant new indexes are built with (queries use their index's own); int8: quantized, 2.1x "
        "as fast in bulk, the same top 4 as fp32 for 92 % of questions (bench: int8); fp32: the exact model, as the "
        "study embedded",
    )
    embedder_runtime: Literal["onnx", "torch"] = Field(
        "onnx", description="onnx: all-MiniLM-L6-v2 exported once, no torch in workers; torch: sentence-transformers"
    )
    # where each value came from: "default", "config file PATH", "environment RAGQ_X", "option --x"
    origins: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    @property
    def db_url(self) -> str:
        """The database URL to connect with: the password joined in (show it through `redact` only)."""
        if self.database_url is None:
            return f"sqlite:///{self.home / 'ragq.db'}"
        return with_password(self.database_url, self.database_password)

    @property
    def signing(self) -> tuple[str, str] | None:
        """(key file, certificate file) when Celery messages are signed and checked (both set), else None."""
        if self.signing_key_file is None or self.signing_cert_file is None:
            return None
        return str(self.signing_key_file), str(self.signing_cert_file)

    @property
    def broker_connection_url(self) -> str | None:
        """RAGQ_BROKER_URL with the broker password joined in (show it through `redact` only)."""
        return None if self.broker_url is None else with_password(self.broker_url, self.broker_password)

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
SECRETS = [name for name, field in Settings.model_fields.items() if field.annotation == SecretStr | None]
# what a config file, the environment or an option may set: Settings' own fields and checks, less home and origins
Layer = create_model(  # type: ignore[call-overload]  # field definitions built from Settings' own
    "Layer",
    __config__=ConfigDict(extra="forbid"),
    **{key: (field.annotation, field) for key, field in Settings.model_fields.items() if key in KEYS},
)


def env_var(key: str) -> str:
    return f"RAGQ_{key.upper()}"


def with_password(url: str, password: SecretStr | None) -> str:
    """The URL with the password in its user part (quoted); a URL that carries one keeps its own."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if password is None or parts.password is not None or not parts.netloc:
        return url
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password.get_secret_value(), safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _shown(key: str, value: Any) -> str:
    return "***" if key in SECRETS else repr(value)


def _check(layer: dict[str, Any], origin: str, strict: bool) -> None:
    """Validate one layer's values; the first bad one becomes one line naming the key and where it came from."""
    strict_toml.validate(
        Layer,
        layer,
        origin,
        "fix or remove it",
        lambda loc: f"{loc[0]} = {_shown(str(loc[0]), layer.get(str(loc[0])))} is not valid" if loc else "",
        noun="setting",
        strict=strict,
    )


def read_secret(path: str, named_by: str) -> str:
    """A secret from a file (its first line, as Docker secrets and `ragq fleet secrets` write them)."""
    try:
        lines = Path(path).expanduser().read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not text"
        raise UsageError(
            f"{named_by} names {path}, which cannot be read ({reason}): fix the path or unset it."
        ) from exc
    if not lines or not lines[0].strip():
        raise UsageError(f"{named_by} names {path}, which is empty: write the secret there or unset it.")
    return lines[0].strip()


def _from_file(path: Path) -> tuple[dict, dict]:
    """(values, origins) of the config file; `broker_password_file = "..."` reads that secret from its file."""
    if not path.exists():
        return {}, {}
    data = strict_toml.read_file(path)
    origins = dict.fromkeys(data, f"config file {path}")
    for key in SECRETS:
        if isinstance(data.get(f"{key}_file"), str):
            named_by = f"{key}_file in config file {path}"
            data[key] = read_secret(data.pop(f"{key}_file"), named_by)
            origins.pop(f"{key}_file", None)
            origins[key] = f"file named by {named_by}"
    _check(data, f"config file {path}", strict=True)
    return data, origins


def _from_env() -> tuple[dict, dict]:
    data = {key: os.environ[env_var(key)] for key in KEYS if os.environ.get(env_var(key))}
    origins = {key: f"environment {env_var(key)}" for key in data}
    for key in SECRETS:
        named = os.environ.get(f"{env_var(key)}_FILE")
        if named and key not in data:
            data[key] = read_secret(named, f"{env_var(key)}_FILE")
            origins[key] = f"file {named} (environment {env_var(key)}_FILE)"
    for key, value in data.items():  # one at a time: the message names the variable
        _check({key: value}, origins[key], strict=False)
    return data, origins


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
    layers = [_from_file(file), _from_env(), (cli, {key: f"option --{key.replace('_', '-')}" for key in cli})]
    for layer, layer_origins in layers:
        values |= layer
        origins |= layer_origins
    return Settings.model_validate({"home": home, **values, "origins": origins})


def describe(settings: Settings) -> list[dict]:
    """Every setting with its value (passwords redacted) and where it came from, for `ragq config show`."""
    rows = []
    for key in ["home", *KEYS]:
        value = getattr(settings, key)
        if isinstance(value, SecretStr):
            value = "*** (set)"
        elif isinstance(value, str) and "://" in value:
            value = redact(value)
        if isinstance(value, Path):
            value = str(value)
        rows.append({"key": key, "value": value, "origin": settings.origins.get(key, "default")})
    rows.append({"key": "database (in use)", "value": redact(settings.db_url), "origin": "derived"})
    return rows
