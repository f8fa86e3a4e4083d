"""A ``wsmonitor watch`` subprocess for the tests: its stdout lines as they come, its /metrics,
and a stop by PID (SIGTERM)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
"""The worktree: the watch subprocess imports this copy of wsmonitor."""


def parse_line(line: str) -> dict[str, str]:
    """The logfmt fields of one watch line (quoted values unquoted)."""
    import json

    out: dict[str, str] = {}
    for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line):
        value = m.group(2)
        out[m.group(1)] = json.loads(value) if value.startswith('"') else value
    return out


class WatchProcess:
    """``python -m wsmonitor watch ARGS`` with its lines collected on a thread."""

    def __init__(self, args: Sequence[str], *, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        environ = dict(os.environ if env is None else env)
        environ["PYTHONPATH"] = str(ROOT)
        environ.pop("REDIS_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsmonitor", "watch", *args], cwd=cwd, env=environ,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_line(self, predicate: Callable[[dict[str, str]], bool],
                  timeout: float = 90.0) -> dict[str, str]:
        """The first line (as fields) that satisfies `predicate`, polling until `timeout`."""
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if predicate(parse_line(line)):
                return parse_line(line)
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if predicate(parse_line(line)):
                return parse_line(line)
        raise AssertionError(f"no such line within {timeout:g} s; lines: {self.lines}; "
                             f"exit {self.proc.poll()}; stderr: {self._stderr_now()}")

    def _stderr_now(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def drain(self) -> list[str]:
        """Every line read so far."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return self.lines
            if line is None:
                return self.lines
            self.lines.append(line)

    def scrape(self, port: int, timeout: float = 30.0) -> str:
        """GET /metrics, retrying until the server answers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
                r.raise_for_status()
                return r.text
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.2)

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` by PID and wait for the exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise
        self._reader.join(5)
        self.drain()
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
