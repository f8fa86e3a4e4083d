"""A local log file (``--log-file``), followed like ``tail -F``: appends, truncation, rotation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import threading
import time
from typing import Any

from wsmonitor.probes.logs.base import AT_STARTUP, Batch
from wsmonitor.secrets import redact


class FileSource:
    """A local log file, followed like ``tail -F``: appends, truncation and rotation.

    Args:
        path: The file.
        initial_lines: Lines read from the end of the file at start (the rest is skipped).
        max_bytes: Bytes read per run at most (the rest waits for the next run).
        max_line: Longer lines are cut into pieces of this many bytes.
    """

    kind = "file"
    timeout = 10.0
    read_times = True

    def __init__(self, path: str, *, initial_lines: int = 100, max_bytes: int = 1 << 20,
                 max_line: int = 64 << 10) -> None:
        self.path = str(path)
        self.initial_lines = initial_lines
        self.max_bytes = max_bytes
        self.max_line = max_line
        self._fh: Any = None
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._partial_at = 0
        self._first = True
        self.backlog_written_at: float | None = None
        """The file's modification time when the tail started: when its last line was written
        (the probe reads the zone of the file's zone-less times from it, `ZoneGuess.anchor`)."""
        self._startup_end = -1
        """Offset where the file ended when the tail started: lines before it are the backlog
        (stamped `AT_STARTUP`), lines after it were written while we watched."""
        self.rotations = 0
        self.truncations = 0
        self._lock = threading.Lock()

    def interval(self, base: float) -> float:
        return max(base, 0.5)

    def describe(self) -> dict[str, Any]:
        return {"mode": "file", "target": redact(self.path)}

    async def fetch(self) -> Batch:
        return await asyncio.to_thread(self._fetch)

    def _fetch(self) -> Batch:
        with self._lock:
            batch = Batch()
            try:
                self._follow(batch)
            except OSError as exc:
                batch.error = redact(f"cannot read {self.path}: {exc.strerror or exc}")
                batch.error_kind = "file-unreadable"
                self._close_file()
            return batch

    def _follow(self, batch: Batch) -> None:
        if self._fh is None and not self._open(batch):
            return
        budget = self.max_bytes
        st = os.fstat(self._fh.fileno())
        if st.st_size < self._offset:
            # Truncated in place (copytruncate, or `> file`): start over.
            self.truncations += 1
            self._startup_end = -1  # what is there now was written since
            self._seek(0)
        budget -= self._read(batch, budget)
        try:
            now_st = os.stat(self.path)
        except FileNotFoundError:
            return  # renamed away, new one not created yet: keep reading the old one
        if (now_st.st_dev, now_st.st_ino) == self._ident or budget <= 0:
            return
        # Rotated: finish the old file, then follow the new one from its start.
        budget -= self._read(batch, budget)
        if budget <= 0:
            return
        self._flush_partial(batch)
        self._close_file()
        self.rotations += 1
        if self._open(batch, from_start=True):
            self._read(batch, budget)

    def _open(self, batch: Batch, *, from_start: bool = False) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - held open across runs to follow rotation
        except FileNotFoundError:
            batch.error = redact(f"{self.path} does not exist (yet): waiting for it to appear")
            batch.error_kind = "file-not-found"
            self._first = False  # when it appears, it is new: read it from the start
            return False
        st = os.fstat(fh.fileno())
        if stat.S_ISDIR(st.st_mode):
            fh.close()
            batch.error = redact(f"{self.path} is a directory: give a log file")
            batch.error_kind = "file-unreadable"
            return False
        self._fh = fh
        self._ident = (st.st_dev, st.st_ino)
        self._partial = b""
        self._startup_end = -1
        if self._first and not from_start:
            self._first = False
            self._startup_end = st.st_size
            self.backlog_written_at = st.st_mtime
            self._seek_tail(st.st_size)
        else:
            self._seek(0)
        return True

    def _seek(self, offset: int) -> None:
        self._fh.seek(offset)
        self._offset = offset
        self._partial = b""
        self._partial_at = offset

    def _seek_tail(self, size: int) -> None:
        """Position so that the last `initial_lines` complete lines are read next."""
        if self.initial_lines <= 0 or size == 0:
            self._seek(size)
            return
        span = min(size, max(self.max_line, 256 * self.initial_lines))
        self._fh.seek(size - span)
        chunk = self._fh.read(span)
        end = len(chunk)
        if chunk.endswith(b"\n"):
            end -= 1
        pos = end
        for _ in range(self.initial_lines):
            pos = chunk.rfind(b"\n", 0, pos)
            if pos < 0:
                break
        if pos < 0:
            start = 0 if span == size else chunk.find(b"\n") + 1
        else:
            start = pos + 1
        self._seek(size - span + start)

    def _read(self, batch: Batch, budget: int) -> int:
        if budget <= 0:
            return 0
        data = self._fh.read(budget)
        if not data:
            return 0
        now = time.time()
        ino = self._ident[1] if self._ident else 0
        buf = self._partial + data
        base = self._partial_at
        start = 0
        location = self.path
        # Lines that ended before the tail started are the backlog: their age is what is
        # written in them, or unknown.
        startup_end = self._startup_end - base
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            raw = buf[start:nl]
            batch.lines.append((location, AT_STARTUP if nl < startup_end else now,
                                f"{ino}:{base + start}",
                                raw.decode("utf-8", "replace").rstrip("\r")))
            start = nl + 1
        rest = buf[start:]
        self._offset += len(data)
        self._partial_at = base + start
        while len(rest) >= self.max_line:
            piece, rest = rest[: self.max_line], rest[self.max_line:]
            before = self._partial_at + len(piece) <= self._startup_end
            batch.lines.append((location, AT_STARTUP if before else now,
                                f"{ino}:{self._partial_at}",
                                piece.decode("utf-8", "replace")))
            self._partial_at += len(piece)
        self._partial = rest
        return len(data)

    def _flush_partial(self, batch: Batch) -> None:
        if self._partial:
            ino = self._ident[1] if self._ident else 0
            batch.lines.append((self.path, time.time(), f"{ino}:{self._partial_at}",
                                self._partial.decode("utf-8", "replace").rstrip("\r")))
            self._partial = b""

    def _close_file(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()

    async def close(self) -> None:
        with self._lock:
            self._close_file()
