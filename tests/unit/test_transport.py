"""Secure by default across machines: which URLs are refused, how secrets are read and joined, what is shown."""

import ssl
import stat

import pytest
from pydantic import SecretStr

from ragq.producer import fleet_secrets
from ragq.shared import transport
from ragq.shared.celery_app import tls_options
from ragq.shared.config import describe, load_settings, with_password
from ragq.shared.errors import UsageError
from ragq.shared.transport import redact

CA = "ssl_ca_certs=/etc/ragq/ca.pem"


@pytest.mark.parametrize(
    "url, gap",
    [
        ("redis://127.0.0.1:6379/0", None),
        ("redis://localhost:6379/0", None),
        ("redis://[::1]:6379/0", None),
        ("redis+socket:///tmp/r.sock", None),
        ("redis://10.0.0.5:6379/0", "plain text"),
        ("redis://broker.example:6379/0", "plain text"),
        (f"rediss://ragq@broker.example:6380/0?ssl_cert_reqs=required&{CA}", None),
        (f"rediss://ragq@broker.example:6380/0?{CA}", None),  # kombu's default for rediss is required
        ("rediss://ragq@broker.example:6380/0?ssl_cert_reqs=none", "does not check"),
        ("rediss://ragq@broker.example:6380/0?ssl_cert_reqs=optional", "does not check"),
    ],
)
def test_broker_urls_that_would_expose_their_traffic(url, gap):
    found = transport.broker_gap(url)
    assert (found is None) if gap is None else (gap in found)


@pytest.mark.parametrize(
    "url, gap",
    [
        ("sqlite:////home/u/.ragq/ragq.db", None),
        ("postgresql+psycopg://ragq@127.0.0.1/ragq", None),
        ("postgresql+psycopg://ragq@/ragq?host=/var/run/postgresql", None),
        ("postgresql+psycopg://ragq@db.example/ragq", "sslmode=prefer"),
        ("postgresql+psycopg://ragq@db.example/ragq?sslmode=disable", "plain text"),
        ("postgresql+psycopg://ragq@db.example/ragq?sslmode=require", "does not check"),
        ("postgresql+psycopg://ragq@db.example/ragq?sslmode=verify-ca&sslrootcert=/ca.pem", None),
        ("postgresql+psycopg://ragq@db.example/ragq?sslmode=verify-full&sslrootcert=/ca.pem", None),
    ],
)
def test_database_urls_that_would_expose_their_traffic(url, gap):
    found = transport.database_gap(url)
    assert (found is None) if gap is None else (gap in found)


def test_plain_text_to_another_host_is_refused_unless_allowed_by_name():
    with pytest.raises(UsageError, match="allow_plaintext = true"):
        transport.check("redis://:secret@10.0.0.5:6379/0", None, allow_plaintext=False)
    with pytest.raises(UsageError) as refused:
        transport.check(None, "postgresql://ragq:s3cr3t-pw@db.example/ragq", allow_plaintext=False)
    assert "s3cr3t-pw" not in str(refused.value) and "ragq:***@" in str(refused.value)
    transport.check("redis://10.0.0.5:6379/0", "postgresql://db.example/ragq", allow_plaintext=True)


def test_secrets_come_from_files_and_are_joined_into_urls_but_never_shown(tmp_path, monkeypatch):
    secret_file = tmp_path / "pw"
    secret_file.write_text("p@ss/w:rd\n")
    monkeypatch.setenv("RAGQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGQ_BROKER_URL", "rediss://ragq@b.example:6380/0?ssl_cert_reqs=required")
    monkeypatch.setenv("RAGQ_BROKER_PASSWORD_FILE", str(secret_file))
    monkeypatch.setenv("RAGQ_DATABASE_URL", "postgresql+psycopg://ragq@d.example/ragq?sslmode=verify-full")
    monkeypatch.setenv("RAGQ_DATABASE_PASSWORD", "db-secret")
    monkeypatch.setenv("RAGQ_ALLOW_PLAINTEXT", "1")
    settings = load_settings()
    assert settings.broker_connection_url == "rediss://ragq:p%40ss%2Fw%3Ard@b.example:6380/0?ssl_cert_reqs=required"
    assert settings.db_url == "postgresql+psycopg://ragq:db-secret@d.example/ragq?sslmode=verify-full"
    rows = {r["key"]: r for r in describe(settings)}
    assert rows["broker_password"]["value"] == "*** (set)" and str(secret_file) in rows["broker_password"]["origin"]
    assert rows["database_password"]["origin"] == "environment RAGQ_DATABASE_PASSWORD"
    assert (
        rows["allow_plaintext"]["value"] is True
        and rows["allow_plaintext"]["origin"] == "environment RAGQ_ALLOW_PLAINTEXT"
    )
    shown = repr(settings) + str(rows)
    assert "p@ss" not in shown and "db-secret" not in shown
    assert redact(settings.db_url) == "postgresql+psycopg://ragq:***@d.example/ragq?sslmode=verify-full"


def test_a_config_file_names_its_secrets_files(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "pw").write_text("from-file\n")
    (home / "config.toml").write_text(f'broker_password_file = "{tmp_path / "pw"}"\n')
    monkeypatch.setenv("RAGQ_HOME", str(home))
    for var in ("RAGQ_BROKER_PASSWORD", "RAGQ_BROKER_PASSWORD_FILE"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings()
    assert settings.broker_password == SecretStr("from-file")
    assert settings.origins["broker_password"].startswith("file named by broker_password_file in config file")


@pytest.mark.parametrize("content, phrase", [(None, "cannot be read"), ("", "is empty"), ("\n\n", "is empty")])
def test_a_secret_file_that_cannot_serve_gets_one_line(tmp_path, monkeypatch, content, phrase):
    path = tmp_path / "pw"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("RAGQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGQ_DATABASE_PASSWORD_FILE", str(path))
    monkeypatch.delenv("RAGQ_DATABASE_PASSWORD", raising=False)
    with pytest.raises(UsageError, match=f"RAGQ_DATABASE_PASSWORD_FILE names {path}, which {phrase}"):
        load_settings()


def test_a_password_is_quoted_and_a_url_that_carries_one_keeps_it():
    assert with_password("redis://h:1/0", SecretStr("a b")) == "redis://:a%20b@h:1/0"
    assert with_password("redis://u:own@h:1/0", SecretStr("x")) == "redis://u:own@h:1/0"
    assert with_password("sqlite:///x.db", SecretStr("x")) == "sqlite:///x.db"


def test_a_rediss_url_gives_flower_its_tls_options():
    url = "rediss://ragq@h:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/c/ca.pem&ssl_certfile=/c/a.pem&ssl_keyfile=/c/a.key"
    assert tls_options(url) == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/c/ca.pem", "ssl_certfile": "/c/a.pem",
        "ssl_keyfile": "/c/a.key",
    }  # fmt: skip
    assert tls_options("redis://h:6379/0") is None and tls_options(None) is None


@pytest.mark.parametrize(
    "error, phrase",
    [
        ("WRONGPASS invalid username-password pair or user is disabled.", "refused the password of user ragq"),
        ("NOAUTH Authentication required.", "asks for a password"),
        ("Error 1 connecting. [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
         "issuer certificate", "not signed by the CA in /c/ca.pem"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address mismatch", "names another host"),
    ],
)  # fmt: skip
def test_broker_refusals_name_their_fix(error, phrase):
    said = transport.broker_refusal("rediss://ragq:pw@h:6380/0?ssl_ca_certs=/c/ca.pem", Exception(error))
    assert phrase in said and ":pw@" not in said


def test_the_fleets_files_are_private_and_its_servers_get_only_hashes(tmp_path):
    made = fleet_secrets.make(tmp_path / "s", ["broker.lan", "10.0.0.5"])
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o700
    files = list((tmp_path / "s").iterdir())
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600} and len(files) == 16
    for name in ("broker-password", "database-password"):
        secret = (tmp_path / "s" / name).read_text().strip()
        holding = sorted(f.name for f in files if secret in f.read_text())
        assert holding == [name]  # the ACL and the SQL carry hashes, ragq.env names the file
    assert "SCRAM-SHA-256$4096:" in (tmp_path / "s" / "database.sql").read_text()
    assert made.fleet_id in (tmp_path / "s" / "ragq.env").read_text()
    with pytest.raises(UsageError, match="not empty"):
        fleet_secrets.make(tmp_path / "s", ["broker.lan"])


def test_the_server_certificate_names_the_hosts_and_chains_to_the_fleets_ca(tmp_path):
    from cryptography import x509

    fleet_secrets.make(tmp_path / "s", ["broker.lan", "10.0.0.5"])
    ca = x509.load_pem_x509_certificate((tmp_path / "s" / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((tmp_path / "s" / "server.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["broker.lan", "localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5", "127.0.0.1"]


def test_a_broker_url_with_a_parameter_redis_does_not_take_gets_one_line():
    from ragq.shared.broker import check_broker
    from ragq.shared.errors import BrokerUnavailable

    with pytest.raises(BrokerUnavailable, match="holds a parameter Redis does not take .*fix RAGQ_BROKER_URL"):
        check_broker("redis://127.0.0.1:1/0?ssl_ca_cert=/x.pem")


def test_messages_are_signed_only_with_an_rsa_pair_and_a_wrong_one_gets_one_line(tmp_path):
    """Celery's auth serializer takes RSA keys only: the fleet's signer is RSA, its TLS client key (EC) is refused."""
    from ragq.shared.celery_app import make_app

    fleet_secrets.make(tmp_path / "s", ["broker.lan"])
    s = tmp_path / "s"
    app = make_app("redis://127.0.0.1:1/0", (str(s / "signer.key"), str(s / "signer.pem")))
    assert app.conf.task_serializer == "auth" and app.conf.accept_content == ["auth"]
    with pytest.raises(UsageError, match="cannot be signed with .*RAGQ_SIGNING_KEY_FILE"):
        make_app("redis://127.0.0.1:1/0", (str(s / "client.key"), str(s / "client.pem")))
