"""The local demo target: a redis-server of its own, and a little load that looks like a service.

Until the full demo stack exists (WebSocket endpoint, logs, fault switches), the demo is a Redis
with two simulated channels_redis workers on it, so every figure of the Redis pane moves.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

import redis


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


@dataclass
class DemoRedis:
    """A redis-server started for the demo (or an existing one on 127.0.0.1:6379)."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    workdir: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, workers: int = 2) -> DemoRedis:
        """Start redis-server on a free port, or use one that answers on 6379."""
        binary = shutil.which("redis-server")
        if binary is None:
            if _answers(6379):
                demo = cls("redis://127.0.0.1:6379/0")
                demo._start_workers(workers)
                return demo
            raise DemoUnavailable("the demo needs redis-server: install it (Debian: apt-get "
                                  "install -y redis-server) or start one on 127.0.0.1:6379")
        workdir = tempfile.mkdtemp(prefix="wsmonitor-demo-")
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir, "--maxclients", "100"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise DemoUnavailable(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        demo = cls(f"redis://127.0.0.1:{port}/0?socket_timeout=10", proc, workdir)
        demo._start_workers(workers)
        return demo

    def _start_workers(self, workers: int) -> None:
        for i in range(workers):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True,
                                 name=f"demo-worker-{i}")
            t.start()
            self._threads.append(t)

    def _worker(self, index: int) -> None:
        """What an idle channels_redis receiver does: EVAL, then BZPOPMIN with a 5 s timeout."""
        client = redis.Redis.from_url(self.url.split("?")[0], socket_timeout=10)
        key = f"asgi:demo-worker-{index}"
        while not self._stop.is_set():
            try:
                client.eval("return redis.call('ZCARD', KEYS[1])", 1, key)
                client.bzpopmin([key], timeout=1 if self._stop.is_set() else 5)
            except redis.RedisError:
                self._stop.wait(1)
        client.close()

    def stop(self) -> None:
        """Stop the workers and the server (by PID), and remove its directory."""
        self._stop.set()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
