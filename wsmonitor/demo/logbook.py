"""The demo service's log: what Daphne and a Django Channels app write, as they work and fail.

Daphne's access log (``WSCONNECTING``, ``WSCONNECT``, ``WSREJECT``, ``WSDISCONNECT``, HTTP
lines), the runbook consumer's messages, and Python tracebacks of real exceptions under
Daphne's ``Exception inside application`` — the lines wsmonitor's logs pane classifies.
Paths are logged without their query string, as Daphne does, so no token reaches the file.
"""

from __future__ import annotations

import os
import threading
import time
import traceback

MAX_BYTES = 4 << 20
"""The log is truncated in place (as ``copytruncate`` would) beyond this size."""


class DemoLog:
    """An append-only log file, safe to write from any thread.

    Args:
        path: The file (created, or appended to).
        max_bytes: Truncate beyond this size.
    """

    def __init__(self, path: str, *, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the demo's life
        self.lines = 0

    def write(self, text: str) -> None:
        """Append text (one or more lines)."""
        if not text.endswith("\n"):
            text += "\n"
        with self._lock:
            if self._fh.closed:
                return
            if self._fh.tell() > self.max_bytes:
                self._fh.truncate(0)
                self._fh.seek(0)
            self._fh.write(text)
            self._fh.flush()
            self.lines += text.count("\n")

    def access(self, client: tuple[str, int] | None, request: str, status: int | None = None,
               length: int | None = None) -> None:
        """A line of Daphne's access log."""
        host = f"{client[0]}:{client[1]}" if client else "-"
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S")
        self.write(f'{host} - - [{stamp}] "{request}" {status or "-"} '
                   f'{length if length is not None else "-"}')

    def app(self, level: str, logger: str, message: str) -> None:
        """A line of the application's logging."""
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        self.write(f"{stamp},{int(now % 1 * 1000):03d} {level.upper()} {logger} {message}")

    def exception(self, logger: str, message: str, exc: BaseException) -> None:
        """An error line followed by the exception's traceback (``logger.exception``)."""
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
        self.app("error", logger, f"{message}\n{tb}")

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()

    def size(self) -> int:
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0
