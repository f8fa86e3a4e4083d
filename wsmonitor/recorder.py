"""``--record FILE.jsonl``: every sample appended as one redacted JSON line, as it is published.

Each recording session starts with a header line (``"type": "RecordingHeader"``) that says what
was watched — plan, targets (redacted), probes and their cadence — so ``wsmonitor replay`` can
show the same panes and judge the same checks.
"""

from __future__ import annotations

import json
import threading
import time
from typing import IO, Any

from wsmonitor import __version__
from wsmonitor.samples import Sample
from wsmonitor.secrets import redact, redact_obj

HEADER_TYPE = "RecordingHeader"


class RecordError(OSError):
    """The record file cannot be opened."""


def recording_header(settings: Any, engine: Any) -> dict[str, Any]:
    """The header line for a recording of this engine under these settings."""
    base = engine.base_interval * engine.interval_factor
    probes = {}
    for name, probe in engine.probes.items():
        describe = getattr(probe, "describe", None)
        meta = describe(base) if describe else {}
        meta.setdefault("steady_interval", probe.interval(base))
        meta.setdefault("timeout", probe.timeout)
        probes[name] = meta
    from wsmonitor.redis_url import RedisUrlError, parse_redis_url

    redis_url = None
    if settings.redis_url:
        try:
            redis_url = parse_redis_url(settings.redis_url).masked_with_query()
        except RedisUrlError:
            redis_url = "(malformed)"
    return redact_obj({
        "type": HEADER_TYPE, "version": __version__, "started_at": time.time(),
        "interval": settings.interval, "kiosk": settings.kiosk,
        "plan": settings.redis_plan or settings.default_plan_name,
        "max_connections": settings.max_connections, "max_commands": settings.max_commands,
        "redis_budget": settings.redis_budget,
        "redis_url": redis_url, "url": redact(settings.url) if settings.url else None,
        "page_url": redact(settings.page_url) if getattr(settings, "page_url", None) else None,
        "logs": bool(settings.log_group or settings.log_file or settings.log_command
                     or settings.apprunner_service),
        "probes": probes,
    })


class Recorder:
    """An engine subscriber that appends samples to a JSONL file (flushed per line).

    Args:
        path: The file; created if missing, appended to if present.
        header: Written first, when given.
    """

    def __init__(self, path: str, header: dict[str, Any] | None = None) -> None:
        self.path = path
        try:
            self._fh: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise RecordError(f"cannot write --record file {path!r} ({exc.strerror}): "
                              "pick a writable path") from None
        self._lock = threading.Lock()
        self.written = 0
        if header is not None:
            self._write(header)

    def _write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(redact_obj(obj), ensure_ascii=False)
        with self._lock:
            if self._fh is None:
                return
            self._fh.write(line + "\n")
            self._fh.flush()

    def __call__(self, sample: Sample) -> None:
        self._write(sample.to_dict())
        self.written += 1

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
