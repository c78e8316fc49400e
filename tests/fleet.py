"""A fleet on one machine, for fault tests and the soak benchmark: hosts as network namespaces joined by a bridge
(each with a link that can be cut), a TCP relay that lets them reach a database in the root namespace, and a
PostgreSQL server of the test's own (initdb, pg_ctl) that may be stopped and restarted, never the machine's.

Traffic goes only to the link-local addresses made here; everything made is removed by `down`/`stop`, and a
killed run's leftovers are removed by the next one.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

NET = "169.254.77"  # link-local: no route leaves the machine
TAG = f"rq{os.getpid() % 100000}"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def can_make_hosts() -> str | None:
    """None, or why namespaces cannot be made here."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian: iproute2, util-linux)"
    if shutil.which("redis-server") is None:
        return "no redis-server binary for the broker host"
    return None


def remove_leftovers() -> None:
    """A run that was killed (SIGKILL: no `finally`) leaves its namespaces and bridge behind, and a second bridge on
    the same addresses would take the broker host's traffic: remove those whose test process is gone."""
    names = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.split("\n")
    names += subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
    for match in {re.search(r"\brq(\d+)(br|-[a-z0-9]+)\b", line) for line in names} - {None}:
        if match and match.group(1) != TAG[2:] and not os.path.exists(f"/proc/{match.group(1)}"):
            kind = "link" if match.group(2) == "br" else "netns"
            subprocess.run(["ip", kind, "del", match.group(0)], capture_output=True)


class Network:
    """A bridge in the root namespace (.1) and one namespace per host (.2, .3, ...), each on a veth pair."""

    def __init__(self, hosts: dict[str, int]):
        self.hosts, self.bridge, self.made = hosts, f"{TAG}br", []

    def up(self) -> None:
        remove_leftovers()
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", self.bridge))
        sh("ip", "addr", "add", f"{NET}.1/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for host, last in self.hosts.items():
            ns, outside, inside = self.namespace(host), f"{TAG}{host}o", f"{TAG}{host}i"
            sh("ip", "netns", "add", ns)
            self.made.append(("netns", ns))
            sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            self.made.append(("link", outside))
            sh("ip", "link", "set", outside, "master", self.bridge)
            sh("ip", "link", "set", outside, "up")
            sh("ip", "link", "set", inside, "netns", ns)
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{NET}.{last}/24", "dev", inside)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    def namespace(self, host: str) -> str:
        return f"{TAG}-{host}"

    def address(self, host: str) -> str:
        return f"{NET}.{self.hosts[host]}"

    def link(self, host: str, up: bool) -> None:
        """Cut a host off the network (its cable pulled: packets are dropped, connections stay open) or restore it."""
        sh("ip", "link", "set", f"{TAG}{host}o", "up" if up else "down")

    def down(self) -> None:
        for kind, name in reversed(self.made):
            subprocess.run(["ip", kind, "del", name], capture_output=True)

    def run(self, host: str, cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
        """cmd on `host`: in its namespace, with a hostname of its own (a UTS namespace)."""
        name = self.namespace(host)
        wrapped = ["ip", "netns", "exec", name, "unshare", "--uts", "sh", "-c", f'hostname {name} && exec "$@"', "sh"]
        return subprocess.Popen(wrapped + cmd, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT)


class Relay:
    """A TCP relay from the bridge address to a server on 127.0.0.1, so the namespace hosts reach it. While the
    server is down a new connection is refused (closed at once), as the server itself would."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]):
        self.server = socket.create_server(listen)
        self.target, self.stopped = target, threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped.set()
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread, which holds the socket open
        except OSError:
            pass
        self.server.close()


def redis_command(address: str, append_only_dir: Path | None = None) -> list[str]:
    """redis-server for a broker host (no password: a link-local network that only this machine's namespaces
    reach); with append_only_dir, every write kept on disk there, so that a restart loses nothing."""
    cmd = ["redis-server", "--bind", address, "--port", "6379", "--protected-mode", "no", "--save", ""]
    return cmd + (["--appendonly", "yes", "--dir", str(append_only_dir)] if append_only_dir else [])


BROKER_TLS_PORT = 6380


def make_secrets(folder: Path, hosts: list[str]) -> Path:
    """A fleet's secrets as a user makes them (`ragq fleet secrets`), for servers answering to `hosts`."""
    args = [arg for host in hosts for arg in ("--host", host)]
    cmd = [sys.executable, "-m", "ragq.producer.cli", "fleet", "secrets", str(folder), *args]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return folder


def tls_redis_command(address: str, secrets: Path, data_dir: Path, append_only: bool = False) -> list[str]:
    """redis-server with the fleet's configuration (TLS only, client certificates, its ACL file) on `address`."""
    cmd = ["redis-server", str(secrets / "redis.conf"), "--bind", address, "--tls-port", str(BROKER_TLS_PORT)]
    return cmd + ["--save", "", "--dir", str(data_dir), "--appendonly", "yes" if append_only else "no"]


def fleet_id_of(secrets: Path) -> str:
    """The fleet's id, as `ragq fleet secrets` wrote it into ragq.env."""
    return next(
        line.split("=", 1)[1].strip("'")
        for line in (secrets / "ragq.env").read_text().splitlines()
        if line.startswith("RAGQ_FLEET=")
    )


def secure_env(
    secrets: Path, broker: str, database: tuple[str, int], broker_port: int = BROKER_TLS_PORT
) -> dict[str, str]:
    """The settings `ragq fleet secrets` prints for a host, for a broker at `broker` and a database at (host, port)."""
    from ragq.producer import fleet_secrets

    made = fleet_secrets.Fleet(secrets, str(secrets), [broker], fleet_id_of(secrets))
    return fleet_secrets.host_settings(made, broker_port, database[1], database_host=database[0])


class Capture:
    """Every frame on an interface (an AF_PACKET socket, as tcpdump reads them), kept in memory until `stop`."""

    def __init__(self, interface: str):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.bind((interface, 0))
        self.sock.settimeout(0.2)
        self.frames: list[bytes] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stopped.is_set():
            try:
                self.frames.append(self.sock.recv(65535))
            except TimeoutError:
                continue
            except OSError:
                return

    def stop(self) -> bytes:
        self.stopped.set()
        self.thread.join()
        self.sock.close()
        return b"".join(self.frames)


def worker_command(model: str, shift: str | None = None) -> tuple[list[str], dict]:
    """`ragq worker` with one thread as a worker host runs it, and the environment it adds; shift: its wall clock
    moved by libfaketime ("+120s"), the monotonic clock left real (timed waits would stall otherwise)."""
    cmd = [sys.executable, "-m", "ragq.producer.cli", "worker", "--model", model, "--threads", "1"]
    if shift is None:
        return cmd, {}
    return ["faketime", "-f", shift, *cmd], {"FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A PostgreSQL server of its own on a free port of 127.0.0.1 (database `test`, user `postgres`, trust), run as
    the `postgres` user (the server refuses root), so a test may stop and restart it."""

    def __init__(self):
        self.bin = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
        self.dir = Path(tempfile.mkdtemp(prefix="ragq-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data, self.port = self.dir / "data", free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/test"

    @staticmethod
    def missing() -> str | None:
        """None, or why no server of its own can be started here."""
        if os.geteuid() != 0:
            return "starting a PostgreSQL server of the test's own needs root (to run it as `postgres`)"
        if shutil.which("pg_config") is None or shutil.which("runuser") is None:
            return "no pg_config/runuser (Debian: postgresql, util-linux)"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "no `postgres` user to run a server as"
        return None

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, check=check)

    def init(self) -> "PgServer":
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        self._as_postgres(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "test")
        return self

    def secure(self, secrets: Path) -> "PgServer":
        """As `ragq fleet secrets` configures a fleet's server: TLS with the fleet's certificate, the `ragq` role
        and database from its SQL, and only TLS with a password and a client certificate over TCP. The server's
        key is copied where the `postgres` user owns it (the server refuses a key others can read)."""
        tls = self.dir / "tls"
        tls.mkdir()
        for name in ("server.pem", "server.key", "ca.pem"):
            shutil.copy(secrets / name, tls / name)
            shutil.chown(tls / name, "postgres", "postgres")
        shutil.chown(tls, "postgres", "postgres")
        conf = (secrets / "postgresql.conf").read_text().replace(str(secrets), str(tls))
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(conf)
        psql = [str(self.bin / "psql"), "-h", str(self.dir), "-p", str(self.port), "-U", "postgres", "-v"]
        self._as_postgres(*psql, "ON_ERROR_STOP=1", "-f", str(self._readable(secrets / "database.sql")), "postgres")
        hba = "local all all trust\n" + (secrets / "pg_hba.conf").read_text().split("\n", 1)[1]
        (self.data / "pg_hba.conf").write_text(hba)
        self.stop()
        self.start()
        return self

    def _readable(self, path: Path) -> Path:
        copy = self.dir / path.name
        shutil.copy(path, copy)
        shutil.chown(copy, "postgres", "postgres")
        return copy

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """fast: every session is ended at once (what a restart does to clients); immediate: as if it crashed."""
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, down_s: float, mode: str = "fast") -> None:
        self.stop(mode)
        time.sleep(down_s)
        self.start()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class TlsRedis:
    """redis-server as `ragq fleet secrets` configures a fleet's broker (TLS only, client certificates, the ACL
    file), on a free port of 127.0.0.1."""

    def __init__(self, secrets: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="ragq-redis-"))
        self.port = free_port()
        conf = self.dir / "redis.conf"
        conf.write_text(
            f"include {secrets / 'redis.conf'}\ntls-port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f'logfile {self.dir / "log"}\ndaemonize yes\npidfile {self.dir / "pid"}\nappendonly no\nsave ""\n'
        )
        subprocess.run(["redis-server", str(conf)], check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the TLS redis-server did not start: {(self.dir / 'log').read_text()}")

    def stop(self) -> None:
        """SIGTERM, then wait for the server to be gone before its folder is removed (it writes there as it exits)."""
        try:
            pid = int((self.dir / "pid").read_text())
            os.kill(pid, 15)
        except (OSError, ValueError):
            pid = None
        deadline = time.monotonic() + 10
        while pid is not None and os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
