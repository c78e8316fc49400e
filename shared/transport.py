"""Where a broker or database URL sends its traffic, and what a refusal from the other end means.

Across machines ragq is secure by default: a URL to a host other than this one must encrypt and check the server's
certificate (`rediss://...?ssl_cert_reqs=required&ssl_ca_certs=CA`, `postgresql://...?sslmode=verify-full`), unless
the user allows plain text by name (`allow_plaintext`). Loopback and unix sockets never leave the machine.
A server's refusal (a wrong password, a certificate from another CA, plain text to a TLS-only port) becomes one
line that names the fix, through `broker_refusal` and `database_refusal`."""

import ipaddress
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ragq.shared.errors import UsageError

ALLOW = "or, on a network you trust, set allow_plaintext = true (RAGQ_ALLOW_PLAINTEXT=1)"
SECRETS_HINT = "`ragq fleet secrets` makes a fleet's CA, certificates and passwords"


def is_local(host: str | None) -> bool:
    if host is None or host == "" or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _query(url: str) -> dict[str, str]:
    return {k.lower(): v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def broker_gap(url: str) -> str | None:
    """Why this broker URL would expose its traffic (None: it does not): plain text, or TLS that checks nothing."""
    parts = urlsplit(url)
    if parts.scheme in ("redis+socket", "unix", "socket") or is_local(parts.hostname):
        return None
    if parts.scheme == "redis":
        return "sends job ids and the password in plain text"
    if parts.scheme == "rediss" and _query(url).get("ssl_cert_reqs", "required").lower() not in (
        "required",
        "cert_required",
    ):
        return "encrypts but does not check the server's certificate (ssl_cert_reqs is not required)"
    return None


def database_gap(url: str) -> str | None:
    """Why this database URL would expose its traffic (None: it does not)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres") or is_local(parts.hostname) or "host" in _query(url):
        return None  # SQLite is a file; a `host=` query is a unix socket folder
    mode = _query(url).get("sslmode", "prefer")
    if mode in ("disable", "allow", "prefer"):
        return f"may send questions, answers and the password in plain text (sslmode={mode})"
    if mode == "require":
        return "encrypts but does not check the server's certificate (sslmode=require)"
    return None


def check(broker_url: str | None, database_url: str | None, allow_plaintext: bool) -> None:
    """Refuse, in one line, a URL to another host that does not encrypt and verify, unless plain text is allowed."""
    if allow_plaintext:
        return
    if broker_url and (gap := broker_gap(broker_url)):
        raise UsageError(
            f"the broker URL {redact(broker_url)} {gap}: use rediss://USER@HOST:PORT/0?ssl_cert_reqs=required"
            f"&ssl_ca_certs=CA.pem ({SECRETS_HINT}), {ALLOW}."
        )
    if database_url and (gap := database_gap(database_url)):
        raise UsageError(
            f"the database URL {redact(database_url)} {gap}: add ?sslmode=verify-full&sslrootcert=CA.pem "
            f"({SECRETS_HINT}), {ALLOW}."
        )


def _user(url: str) -> str:
    return urlsplit(url).username or "default"


def broker_refusal(url: str, exc: BaseException) -> str | None:
    """What a broker's refusal means and how to fix it, or None when it is not one of these (it does not answer)."""
    text, where = str(exc), redact(url)
    refused = "WRONGPASS" in text or "invalid username-password" in text or "invalid password" in text
    if "NOAUTH" in text or "Authentication required" in text or (refused and urlsplit(url).password is None):
        return (
            f"the broker at {where} asks for a password: set RAGQ_BROKER_PASSWORD_FILE (or RAGQ_BROKER_PASSWORD) "
            "to this fleet's broker password."
        )
    if refused:
        return (
            f"the broker at {where} refused the password of user {_user(url)}: set RAGQ_BROKER_PASSWORD_FILE "
            "(or RAGQ_BROKER_PASSWORD) to this fleet's broker password, and the URL's user to its account."
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text or "signature failure" in text:
        if "mismatch" in text:
            return (
                f"the broker's certificate at {where} names another host: connect by a name it holds, or make it "
                "with this host's name (`ragq fleet secrets --host NAME`)."
            )
        ca = _query(url).get("ssl_ca_certs", "the system's store")
        return (
            f"the broker's certificate at {where} is not signed by the CA in {ca}: set ssl_ca_certs in "
            "RAGQ_BROKER_URL to this fleet's ca.pem."
        )
    plain = urlsplit(url).scheme == "redis"
    if plain and ("Connection closed by server" in text or "reset by peer" in text or "Error 104" in text):
        return (
            f"the broker at {where} closed a plain-text connection at once, as a TLS-only server does: use "
            "rediss://...?ssl_cert_reqs=required&ssl_ca_certs=CA.pem with this fleet's ca.pem."
        )
    return None


def database_refusal(url: str, exc: BaseException) -> str | None:
    """What a database server's refusal means and how to fix it, or None."""
    text, where = str(exc), redact(url)
    if "password authentication failed" in text:
        return (
            f"the database at {where} refused the password of user {_user(url)}: set RAGQ_DATABASE_PASSWORD_FILE "
            "(or RAGQ_DATABASE_PASSWORD) to this fleet's database password."
        )
    if "no password supplied" in text:
        return (
            f"the database at {where} asks for a password: set RAGQ_DATABASE_PASSWORD_FILE "
            "(or RAGQ_DATABASE_PASSWORD) to this fleet's database password."
        )
    if "certificate verify failed" in text or "signature failure" in text:
        ca = _query(url).get("sslrootcert", "~/.postgresql/root.crt")
        return (
            f"the database server's certificate at {where} is not signed by the CA in {ca}: set sslrootcert in "
            "RAGQ_DATABASE_URL to this fleet's ca.pem."
        )
    if "server certificate for" in text and "does not match" in text:
        return (
            f"the database server's certificate at {where} names another host: connect by a name its certificate "
            "holds, or make its certificate with this host's name (`ragq fleet secrets --host`)."
        )
    if "no encryption" in text and "pg_hba.conf" in text:
        return (
            f"the database at {where} accepts only TLS: add ?sslmode=verify-full&sslrootcert=CA.pem to "
            "RAGQ_DATABASE_URL, with this fleet's ca.pem."
        )
    return None


def redact(url: str) -> str:
    """A URL fit for messages and logs: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
