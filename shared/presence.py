"""Which ragq workers are alive on a host, through the broker's Redis: each worker keeps a key with a short expiry
(`ragq:alive:HOST:WORKER`), renewed while it lives. `ragq run` warns when its host is already busy, and each result
records how many workers shared its host while it ran (`host_workers` in its provenance)."""

import threading

PREFIX = "ragq:alive:"
TTL_S = 15


def client(url: str):
    import redis

    if url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=url.removeprefix("redis+socket://"), socket_timeout=2)
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def key(host: str, worker: str) -> str:
    return f"{PREFIX}{host}:{worker}"


def announce(conn, host: str, worker: str) -> None:
    conn.set(key(host, worker), "1", ex=TTL_S)


def leave(conn, host: str, worker: str) -> None:
    conn.delete(key(host, worker))


def on_host(conn, host: str) -> list[str]:
    """The live workers' ids on this host."""
    prefix = f"{PREFIX}{host}:"
    return sorted(k.decode().removeprefix(prefix) for k in conn.scan_iter(match=prefix + "*", count=500))


def keep_alive(conn, host: str, worker: str, stop: threading.Event) -> threading.Thread:
    def beat() -> None:
        while True:
            try:
                announce(conn, host, worker)
            except Exception:  # noqa: BLE001 - a missed beat only lets the key expire early; the next one restores it
                pass
            if stop.wait(TTL_S / 3):
                return

    thread = threading.Thread(target=beat, name="presence", daemon=True)
    thread.start()
    return thread


def others_on_host(url: str, host: str) -> list[str]:
    """ragq workers already live on this host, of any run or home that shares this broker ([] when it cannot say:
    a warning we cannot give is no reason to stop a run)."""
    try:
        return on_host(client(url), host)
    except Exception:  # noqa: BLE001
        return []
