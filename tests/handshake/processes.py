"""Real servers for the handshake tests: redis-server and Daphne serving `tests/target`, on
loopback ports chosen at run time, stopped by PID."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port
from wsmonitor.tokens import mint_access_token

__all__ = ["DaphneProcess", "RedisProcess", "Target", "free_port", "setup_target_db"]

TESTS_DIR = Path(__file__).resolve().parent.parent
"""``tests/``: where the ``target`` package lives (Daphne imports ``target.asgi``)."""

SECRET_KEY = "wsmonitor-test-target-secret-key-0123456789abcdefghij"
"""The target's Django SECRET_KEY (simplejwt's signing key); 50 bytes, as Django's are."""

_LISTENING = re.compile(r"Listening on TCP address 127\.0\.0\.1:(\d+)")


def _stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGCONT)  # a paused process cannot act on SIGTERM
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


class RedisProcess:
    """A throw-away redis-server on a loopback port (no persistence)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, port: int | None = None) -> None:
        """Start (again, on the same port when restarting); fail if it does not answer."""
        for attempt in range(3):
            self.port = port or free_port()
            log = open(self.workdir / f"redis-{self.port}.log", "ab")
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
            if self._wait_ready():
                return
            _stop(self.proc)
            if port is not None:
                break
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _wait_ready(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


def setup_target_db(path: Path) -> str:
    """Migrate the target's SQLite database and create its user; returns the user's id."""
    env = dict(os.environ, TARGET_DB=str(path), PYTHONPATH=str(TESTS_DIR),
               DJANGO_SETTINGS_MODULE="target.settings")
    out = subprocess.run([sys.executable, "-m", "target.setup_db"], cwd=TESTS_DIR, env=env,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"target setup failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


class DaphneProcess:
    """``daphne -e tcp:port=0:interface=127.0.0.1 target.asgi:application``."""

    def __init__(self, workdir: Path, *, db: Path, redis_url: str,
                 reject_style: str = "close-before-accept", connect_errors: str = "close-4500",
                 name: str = "daphne") -> None:
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.env = dict(os.environ, TARGET_DB=str(db), TARGET_REDIS_URL=redis_url,
                        TARGET_SECRET_KEY=SECRET_KEY, TARGET_REJECT_STYLE=reject_style,
                        TARGET_CONNECT_ERRORS=connect_errors,
                        PYTHONPATH=str(TESTS_DIR), DJANGO_SETTINGS_MODULE="target.settings")
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 20.0) -> None:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-e", "tcp:port=0:interface=127.0.0.1",
             "target.asgi:application"],
            cwd=TESTS_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"daphne did not start:\n{self.log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, 8.0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Target:
    """A running target: Daphne, its Redis, and what a probe needs to reach it."""

    daphne: DaphneProcess
    redis: RedisProcess
    user_id: str
    secret_key: str = SECRET_KEY

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.daphne.port}/ws/notifications/"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.daphne.port}"

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.daphne.port}"

    def token(self, **kwargs: object) -> str:
        """A fresh access token for the test user."""
        return mint_access_token(self.secret_key, self.user_id, **kwargs)  # type: ignore[arg-type]
