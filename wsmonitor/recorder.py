"""``--record FILE.jsonl``: every sample appended as one redacted JSON line, as it is published."""

from __future__ import annotations

import json
import threading
from typing import IO

from wsmonitor.samples import Sample
from wsmonitor.secrets import redact_obj


class RecordError(OSError):
    """The record file cannot be opened."""


class Recorder:
    """An engine subscriber that appends samples to a JSONL file (flushed per line).

    Args:
        path: The file; created if missing, appended to if present.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._fh: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise RecordError(f"cannot write --record file {path!r} ({exc.strerror}): "
                              "pick a writable path") from None
        self._lock = threading.Lock()
        self.written = 0

    def __call__(self, sample: Sample) -> None:
        line = json.dumps(redact_obj(sample.to_dict()), ensure_ascii=False)
        with self._lock:
            if self._fh is None:
                return
            self._fh.write(line + "\n")
            self._fh.flush()
            self.written += 1

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
