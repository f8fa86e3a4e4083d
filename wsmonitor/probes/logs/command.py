"""A command's output (``--log-command``): stdout and stderr, restarted with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from typing import Any

from wsmonitor.probes.logs.base import AT_STARTUP, Batch, _BoundedQueue
from wsmonitor.secrets import redact


def parse_command(command: str) -> list[str]:
    """Split ``--log-command`` like a shell would (no shell is run).

    Raises:
        ValueError: Empty, or unbalanced quotes; the message says so.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"--log-command {redact(command)!r} cannot be split into words "
                         f"({exc}): check its quotes") from None
    if not argv:
        raise ValueError("--log-command is empty: give a command such as "
                         "'kubectl logs -f deploy/web'")
    return argv


class CommandSource:
    """A command's output (``kubectl logs -f …``, ``docker logs -f …``, ``journalctl -fu …``).

    The command runs without a shell in its own process group; stdout and stderr are read by a
    thread into a bounded queue (oldest lines dropped and counted when full). When it exits it is
    started again after a backoff that doubles while it keeps exiting quickly.

    Args:
        command: The command line (split like a shell, not run by one).
        queue: Lines buffered between runs.
        restart_backoff: First wait before a restart, seconds.
        max_backoff: Longest wait before a restart.
        max_line: Longer lines are cut.
        max_lines_per_run: Lines handed to the probe per run (the rest wait).
        first_wait: On the first run, wait up to this long for the command's first burst of
            output (``kubectl logs -f --tail=100`` prints its backlog at once), so a one-shot
            ``check`` sees it.

    Each run's first burst of output (``--tail=100``, journalctl's last lines) is the backlog:
    those lines are stamped `AT_STARTUP`, so a line of it with no time written in it is history,
    never a recent error — even when a restarted ``kubectl logs -f`` prints it again.
    """

    kind = "command"
    timeout = 5.0
    read_times = True
    STABLE_AFTER = 30.0
    """A run this long resets the restart backoff."""
    BURST_GAP = 0.3
    """A pause this long (seconds) ends a run's first burst of output (its backlog)."""
    MAX_BURST = 10.0
    """Seconds after a start beyond which no line counts as backlog."""

    def __init__(self, command: str, *, queue: int = 20_000, restart_backoff: float = 1.0,
                 max_backoff: float = 60.0, max_line: int = 64 << 10,
                 max_lines_per_run: int = 20_000, first_wait: float = 2.0) -> None:
        self.command = command
        self.first_wait = first_wait
        self.restart_backoff = restart_backoff
        self.max_backoff = max_backoff
        self.max_line = max_line
        self.max_lines_per_run = max_lines_per_run
        self.queue = _BoundedQueue(queue)
        self.argv: list[str] | None = None
        self._argv_error: str | None = None
        try:
            self.argv = parse_command(command)
        except ValueError as exc:
            self._argv_error = str(exc)
        self.program = os.path.basename(self.argv[0]) if self.argv else "command"
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.starts = 0
        self.last_exit: int | None = None
        self.start_error: str | None = None
        self.start_error_kind: str | None = None
        self.next_start_at: float | None = None
        """Monotonic time of the next restart while the command is not running."""

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def interval(self, base: float) -> float:
        return max(base, 0.5)

    def describe(self) -> dict[str, Any]:
        return {"mode": "command", "target": redact(self.command), "restarts": self.restarts,
                "dropped_total": self.queue.dropped}

    async def fetch(self) -> Batch:
        batch = Batch()
        if self._argv_error:
            batch.error, batch.error_kind = redact(self._argv_error), "bad-command"
            return batch
        if self._thread is None:
            self._thread = threading.Thread(target=self._supervise, daemon=True,
                                            name="wsmonitor-log-command")
            self._thread.start()
            await self._first_output()
        batch.lines = self.queue.drain(self.max_lines_per_run)
        if self.start_error is not None and not self.running:
            batch.error, batch.error_kind = self.start_error, self.start_error_kind
        elif not self.running and self.starts:
            wait = max(0.0, (self.next_start_at or time.monotonic()) - time.monotonic())
            batch.error = redact(f"{self.program} exited with status {self.last_exit}; "
                                 f"restarting in {wait:.0f} s")
            batch.error_kind = "command-exited"
        return batch

    async def _first_output(self) -> None:
        """Wait for the command to start (or fail), then for its first burst to end."""
        started = time.monotonic()
        deadline = started + max(1.0, self.first_wait)
        while self.starts == 0 and self.start_error is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        deadline = started + self.first_wait
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline and self.start_error is None:
            count = len(self.queue) + self.queue.dropped
            if count != seen:
                seen, quiet_since = count, time.monotonic()
            elif count and time.monotonic() - quiet_since >= 0.3:
                return
            elif not self.running and self.starts:
                return
            await asyncio.sleep(0.02)

    def _supervise(self) -> None:
        assert self.argv is not None
        backoff = self.restart_backoff
        run = 0
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        while not self._stop.is_set():
            run += 1
            started = time.monotonic()
            try:
                proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, env=env)
            except OSError as exc:
                missing = isinstance(exc, FileNotFoundError)
                self.start_error_kind = "command-not-found" if missing else "command-failed"
                self.start_error = redact(
                    f"cannot run {self.argv[0]!r}: "
                    f"{'not found on PATH' if missing else exc.strerror or exc}")
            else:
                with self._lock:
                    if self._stop.is_set():
                        _kill_group(proc)
                        return
                    self._proc = proc
                self.start_error = self.start_error_kind = None
                self.starts += 1
                self.next_start_at = None
                self._pump(proc, run)
                self.last_exit = proc.wait()
            if self._stop.is_set():
                return
            if time.monotonic() - started >= self.STABLE_AFTER:
                backoff = self.restart_backoff
            self.next_start_at = time.monotonic() + backoff
            self._stop.wait(backoff)
            backoff = min(self.max_backoff, backoff * 2)

    def _pump(self, proc: subprocess.Popen[bytes], run: int) -> None:
        assert proc.stdout is not None
        location = self.program
        line_no = 0
        readline = proc.stdout.readline
        put = self.queue.put
        started = previous = time.monotonic()
        # The first line may take a while (kubectl connects first); then the backlog comes in
        # one go, and the first pause ends it.
        gap = max(self.first_wait, self.BURST_GAP)
        burst = True
        with contextlib.suppress(OSError, ValueError):
            while True:
                raw = readline(self.max_line)
                if not raw:
                    break
                line_no += 1
                if burst:
                    arrived = time.monotonic()
                    burst = arrived - previous <= gap and arrived - started <= self.MAX_BURST
                    previous, gap = arrived, self.BURST_GAP
                put((location, AT_STARTUP if burst else time.time(), f"{run}:{line_no}",
                     raw.decode("utf-8", "replace").rstrip("\r\n")))

    async def close(self) -> None:
        """Stop the command (its whole process group) and the reader."""
        self._stop.set()
        with self._lock:
            proc = self._proc
        if proc is not None:
            await asyncio.to_thread(_kill_group, proc)
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, 3.0)


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()
