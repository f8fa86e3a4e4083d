"""Daphne serving the companion project, on a loopback port chosen at run time, stopped by PID;
and its manage.py, run as a one-off process the way a container task runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.handshake.processes import _stop
from wsmonitor.tokens import mint_access_token

TESTS_DIR = Path(__file__).resolve().parent.parent
"""``tests/``: where the ``companion`` package lives."""

ROOT = TESTS_DIR.parent
"""The worktree: its wsmonitor is the one the companion imports."""

SECRET_KEY = "wsmonitor-companion-secret-key-0123456789abcdefghij"

_LISTENING = re.compile(r"Listening on TCP address 127\.0\.0\.1:(\d+)"
                        r"|Uvicorn running on http://127\.0\.0\.1:(\d+)")

SERVER_COMMANDS = {
    "daphne": ["-m", "daphne", "-e", "tcp:port=0:interface=127.0.0.1",
               "companion.asgi:application"],
    "uvicorn": ["-m", "uvicorn", "--host", "127.0.0.1", "--port", "0",
                "companion.asgi:application"],
}


def companion_env(db: Path, redis_url: str, **options: Any) -> dict[str, str]:
    """The environment of the companion's processes (``COMPANION_*`` from `options`)."""
    env = dict(os.environ, COMPANION_DB=str(db), COMPANION_REDIS_URL=redis_url,
               COMPANION_SECRET_KEY=SECRET_KEY, DJANGO_SETTINGS_MODULE="companion.settings",
               PYTHONPATH=os.pathsep.join([str(TESTS_DIR), str(ROOT)]))
    for key, value in options.items():
        env[f"COMPANION_{key.upper()}"] = str(value)
    return env


def setup_db(db: Path) -> dict[str, str]:
    """Migrate the database; the users' ids and their session keys."""
    out = subprocess.run([sys.executable, "-m", "companion.setup_db"], cwd=TESTS_DIR,
                         env=companion_env(db, "redis://127.0.0.1:1/0"), capture_output=True,
                         text=True, timeout=180)
    if out.returncode != 0:
        raise RuntimeError(f"companion setup failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def manage(db: Path, redis_url: str, *args: str, timeout: float = 120,
           **options: Any) -> subprocess.CompletedProcess[str]:
    """``python manage.py ARGS`` in tests/companion."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=TESTS_DIR / "companion",
                          env=companion_env(db, redis_url, **options), capture_output=True,
                          text=True, timeout=timeout)


class CompanionDaphne:
    """``daphne -e tcp:port=0:interface=127.0.0.1 companion.asgi:application`` (or uvicorn)."""

    def __init__(self, workdir: Path, db: Path, redis_url: str, *, name: str = "companion",
                 server: str = "daphne", **options: Any) -> None:
        self.server = server
        self.log_path = workdir / f"{name}.log"
        self.env = companion_env(db, redis_url, **options)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 30.0) -> CompanionDaphne:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, *SERVER_COMMANDS[self.server]],
            cwd=TESTS_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log())
            if match:
                self.port = int(match.group(1) or match.group(2))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"daphne did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, 8.0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/notifications/"


@dataclass
class Users:
    """The companion database's users and sessions."""

    db: Path
    user_id: str
    staff_id: str
    user_session: str
    staff_session: str

    def token(self, user_id: str | None = None, **kwargs: Any) -> str:
        return mint_access_token(SECRET_KEY, user_id or self.user_id, **kwargs)
