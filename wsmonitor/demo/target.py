"""The demo's Redis: the system's ``redis-server`` when installed, else an embedded one.

The embedded Redis is fakeredis's ``TcpFakeServer`` (a core dependency): real sockets, real
RESP, EVAL through Lua, blocking commands, so redis-py and channels_redis talk to it as to a
redis-server. It has no INFO; the demo's Redis front answers INFO for it (see `redis_front`).

`DemoRedis.start(workers=N)` also runs N simulated channels_redis workers on it, so the Redis
pane has a service load to show even before anything connects.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis

BACKENDS = ("auto", "redis-server", "embedded")
"""What ``--redis`` accepts: ``auto`` takes redis-server when it is on PATH."""

MAXCLIENTS = 100
"""The demo Redis's connection cap (both backends)."""


class DemoUnavailable(Exception):
    """The demo cannot start here; the message says what to install."""


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=0.5,
                                socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def embedded_available() -> bool:
    """Whether the embedded Redis (fakeredis with Lua) can be imported."""
    try:
        import fakeredis  # noqa: F401
        import lupa  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class DemoRedis:
    """A Redis started for the demo: a redis-server process, or fakeredis in this process."""

    url: str
    """``redis://127.0.0.1:PORT/0?socket_timeout=10`` of the backend itself."""
    kind: str = "redis-server"
    """``redis-server`` or ``embedded``."""
    process: subprocess.Popen[bytes] | None = None
    """The redis-server process (None for the embedded one)."""
    workdir: str | None = None
    port: int = 0
    _server: Any = None
    _server_thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def synthesizes_info(self) -> bool:
        """The backend has no INFO of its own (the front must answer it)."""
        return self.kind == "embedded"

    @classmethod
    def start(cls, workers: int = 2, *, backend: str = "auto") -> DemoRedis:
        """Start a Redis on a free loopback port.

        Args:
            workers: Simulated idle channels_redis workers to run on it.
            backend: ``auto`` (redis-server when on PATH, else embedded), ``redis-server`` or
                ``embedded``.

        Raises:
            DemoUnavailable: Neither backend can run here (the message says what to install).
        """
        if backend not in BACKENDS:
            raise DemoUnavailable(f"unknown Redis backend {backend!r}: use one of "
                                  f"{', '.join(BACKENDS)}")
        binary = shutil.which("redis-server") if backend != "embedded" else None
        if binary is not None:
            demo = cls._start_server(binary)
        elif backend == "redis-server":
            raise DemoUnavailable("redis-server is not on PATH: install it (Debian: apt-get "
                                  "install -y redis-server) or use --redis embedded")
        elif embedded_available():
            demo = cls._start_embedded()
        else:
            raise DemoUnavailable("the demo needs a Redis and the embedded one cannot be "
                                  "imported: reinstall wsmonitor (pip install --force-reinstall "
                                  "wsmonitor brings fakeredis[lua]) or install redis-server "
                                  "(Debian: apt-get install -y redis-server)")
        demo.start_workers(demo.url, workers)
        return demo

    @classmethod
    def _start_server(cls, binary: str) -> DemoRedis:
        workdir = tempfile.mkdtemp(prefix="wsmonitor-demo-redis-")
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir, "--maxclients", str(MAXCLIENTS)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait(5)
                shutil.rmtree(workdir, ignore_errors=True)
                raise DemoUnavailable(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        return cls(f"redis://127.0.0.1:{port}/0?socket_timeout=10", "redis-server", proc,
                   workdir, port)

    @classmethod
    def _start_embedded(cls) -> DemoRedis:
        from fakeredis import TcpFakeServer

        server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
        port = int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="demo-embedded-redis", daemon=True)
        thread.start()
        demo = cls(f"redis://127.0.0.1:{port}/0?socket_timeout=10", "embedded", port=port)
        demo._server, demo._server_thread = server, thread
        deadline = time.monotonic() + 10
        while not _answers(port):
            if time.monotonic() > deadline:
                demo.stop()
                raise DemoUnavailable(f"the embedded Redis did not start on port {port}")
            time.sleep(0.05)
        return demo

    def start_workers(self, url: str, workers: int) -> None:
        """Run simulated idle channels_redis workers against `url` (this Redis, or a front)."""
        for i in range(workers):
            t = threading.Thread(target=self._worker, args=(url, len(self._threads)),
                                 daemon=True, name=f"demo-worker-{i}")
            t.start()
            self._threads.append(t)

    def _worker(self, url: str, index: int) -> None:
        """What an idle channels_redis receiver does: EVAL, then BZPOPMIN with a 5 s timeout."""
        client = redis.Redis.from_url(url.split("?")[0], socket_timeout=10,
                                      socket_connect_timeout=2)
        key = f"asgi:demo-worker-{index}"
        while not self._stop.is_set():
            try:
                client.eval("return redis.call('ZCARD', KEYS[1])", 1, key)
                client.bzpopmin([key], timeout=5)
            except redis.RedisError:
                self._stop.wait(1)
        client.close()

    def _unblock_all(self) -> None:
        # The embedded server joins its connection threads on close, and a thread blocked in
        # BZPOPMIN for a client that has gone would hold it for the command's whole timeout.
        try:
            client = redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)
            for info in client.client_list():
                client.execute_command("CLIENT", "UNBLOCK", info["id"])
            client.close()
        except redis.RedisError:
            pass

    def stop(self) -> None:
        """Stop the workers and the server (the process by PID), and remove its directory."""
        self._stop.set()
        for t in self._threads:
            t.join(0.2)
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._server is not None:
            self._unblock_all()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
