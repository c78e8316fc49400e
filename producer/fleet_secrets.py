"""A fleet's secrets, made once on one machine: a CA, the servers' certificate (Redis and PostgreSQL on the broker
host), a client certificate every ragq host presents, the broker's and the database's passwords, and the lines each
server and host needs. Every file is written 0600 in a 0700 folder; passwords reach servers only as hashes (the
Redis ACL's sha256, PostgreSQL's SCRAM-SHA-256 verifier).

`ragq fleet secrets` is its command; docs/security.md what each piece protects against."""

import base64
import datetime
import hashlib
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ragq.shared.errors import UsageError

DAYS = 825  # the longest TLS server certificate life browsers and most clients accept
BROKER_PORT, DATABASE_PORT = 6380, 5432
USER = "ragq"
# what a ragq account may do on the broker: every command Celery's Redis transport uses on its own keys, no server
# administration (CONFIG, FLUSHALL, SHUTDOWN, DEBUG, MODULE, ACL, ...: Redis's @dangerous and @admin categories)
ACL_RULES = "~* &* +@all -@dangerous -@admin +info"


@dataclass(frozen=True)
class Fleet:
    folder: Path  # where the files are written
    install_dir: str  # where hosts will keep them (the paths the printed lines use)
    hosts: list[str]  # names and addresses the servers answer to; the first is the broker's in the URLs
    fleet_id: str
    database_host: str | None = None  # where PostgreSQL runs, when not on the broker's host

    def path(self, name: str) -> str:
        return f"{self.install_dir.rstrip('/')}/{name}"


def _name(common: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ragq fleet"), x509.NameAttribute(NameOID.COMMON_NAME, common)]
    )


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _rsa_key():
    """Celery's `auth` serializer signs with RSA keys only."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _certificate(subject, key, issuer, issuer_key, *, ca: bool, sans=None, client=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=DAYS if not ca else 3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        purpose = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _sans(hosts: list[str]) -> list:
    from cryptography import x509

    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5803), so the server never sees the password."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def _write(folder: Path, name: str, data: bytes | str) -> None:
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def _certificates(hosts: list[str]) -> tuple[dict[str, bytes | str], str]:
    """Every certificate and key, by file name, and the fleet's id (the CA certificate's sha256, shortened)."""
    ca_key = _key()
    ca_name = _name(f"ragq fleet CA {secrets.token_hex(4)}")  # a name of its own: another fleet's CA is not it
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    server_key, client_key = _key(), _key()
    server = _certificate(_name(hosts[0]), server_key, ca.subject, ca_key, ca=False, sans=_sans(hosts))
    client = _certificate(_name("ragq host"), client_key, ca.subject, ca_key, ca=False, client=True)
    signer_key = _rsa_key()
    signer = _certificate(_name("ragq message signer"), signer_key, ca.subject, ca_key, ca=False, client=True)
    files: dict[str, bytes | str] = {"ca.pem": _pem(ca), "ca.key": _key_pem(ca_key), "server.pem": _pem(server)}
    files |= {"server.key": _key_pem(server_key), "client.pem": _pem(client), "client.key": _key_pem(client_key)}
    files |= {"signer.pem": _pem(signer), "signer.key": _key_pem(signer_key)}
    return files, hashlib.sha256(_pem(ca)).hexdigest()[:12]


def make(folder: Path, hosts: list[str], install_dir: str | None = None, database_host: str | None = None) -> Fleet:
    """Write a new fleet's secrets into `folder` (which must not hold one) and return what the lines need."""
    if not hosts:
        raise UsageError("name the broker and database host: --host NAME (repeat it for every name it answers to).")
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"{folder} is not empty: give a new folder (a fleet's secrets are never overwritten).")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    files, fleet_id = _certificates(hosts)
    if database_host and database_host not in hosts:
        hosts = [*hosts, database_host]  # the server certificate must name it too
    fleet = Fleet(folder, install_dir or str(folder.resolve()), hosts, fleet_id, database_host)
    broker_password, database_password = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    files |= {"broker-password": broker_password + "\n", "database-password": database_password + "\n"}
    files |= server_files(fleet, broker_password, database_password)
    files["ragq.env"] = "\n".join(f"{k}='{v}'" for k, v in host_settings(fleet).items()) + "\n"
    for name, data in files.items():
        _write(folder, name, data)
    return fleet


def server_files(fleet: Fleet, broker_password: str, database_password: str) -> dict[str, str]:
    """The broker's and the database server's configuration, with hashes of the passwords only."""
    acl = f"user default off\nuser {USER} on #{hashlib.sha256(broker_password.encode()).hexdigest()} {ACL_RULES}\n"
    redis = [
        "port 0",
        f"tls-port {BROKER_PORT}",
        f"tls-cert-file {fleet.path('server.pem')}",
        f"tls-key-file {fleet.path('server.key')}",
        f"tls-ca-cert-file {fleet.path('ca.pem')}",
        "tls-auth-clients yes",
        f"aclfile {fleet.path('users.acl')}",
        "appendonly yes",
    ]
    postgres = [
        "ssl = on",
        f"ssl_cert_file = '{fleet.path('server.pem')}'",
        f"ssl_key_file = '{fleet.path('server.key')}'",
        f"ssl_ca_file = '{fleet.path('ca.pem')}'",
        "password_encryption = 'scram-sha-256'",
    ]
    hba = [
        "local   all  all                 peer",
        f"hostssl ragq {USER} 0.0.0.0/0  scram-sha-256 clientcert=verify-ca",
        f"hostssl ragq {USER} ::/0       scram-sha-256 clientcert=verify-ca",
    ]
    sql = f"CREATE ROLE {USER} LOGIN PASSWORD '{scram_verifier(database_password)}';\nCREATE DATABASE ragq OWNER {USER};\n"
    return {
        "users.acl": acl,
        "redis.conf": "\n".join(redis) + "\n",
        "postgresql.conf": "\n".join(postgres) + "\n",
        "pg_hba.conf": "\n".join(hba) + "\n",
        "database.sql": sql,
    }


def host_settings(
    fleet: Fleet, broker_port: int = BROKER_PORT, database_port: int = DATABASE_PORT, database_host: str | None = None
) -> dict[str, str]:
    """The environment every ragq host of the fleet sets: URLs without secrets, the secrets' files by name."""
    host, database = fleet.hosts[0], database_host or fleet.database_host or fleet.hosts[0]
    tls = f"ssl_cert_reqs=required&ssl_ca_certs={fleet.path('ca.pem')}"
    tls += f"&ssl_certfile={fleet.path('client.pem')}&ssl_keyfile={fleet.path('client.key')}"
    pg = f"sslmode=verify-full&sslrootcert={fleet.path('ca.pem')}"
    pg += f"&sslcert={fleet.path('client.pem')}&sslkey={fleet.path('client.key')}"
    return {
        "RAGQ_BROKER_URL": f"rediss://{USER}@{host}:{broker_port}/0?{tls}",
        "RAGQ_BROKER_PASSWORD_FILE": fleet.path("broker-password"),
        "RAGQ_DATABASE_URL": f"postgresql+psycopg://{USER}@{database}:{database_port}/ragq?{pg}",
        "RAGQ_DATABASE_PASSWORD_FILE": fleet.path("database-password"),
        "RAGQ_SIGNING_KEY_FILE": fleet.path("signer.key"),
        "RAGQ_SIGNING_CERT_FILE": fleet.path("signer.pem"),
        "RAGQ_FLEET": fleet.fleet_id,
    }
