"""``wsmonitor replay FILE.jsonl``: a recording played through the same dashboard and checks."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from wsmonitor.engine import Engine
from wsmonitor.recorder import HEADER_TYPE
from wsmonitor.samples import Sample, sample_from_dict

# Importing the sample modules registers their sample types for `sample_from_dict` (no probe
# module needed: a replay runs no probe).
import wsmonitor.log_samples  # noqa: E402,F401  isort: skip
import wsmonitor.samples_browser  # noqa: E402,F401  isort: skip
import wsmonitor.samples_http  # noqa: E402,F401  isort: skip
import wsmonitor.samples_layer  # noqa: E402,F401  isort: skip
import wsmonitor.samples_ws  # noqa: E402,F401  isort: skip

MAX_GAP = 60.0
"""Longest wait between two replayed samples, seconds of replay time (gaps are compressed)."""


class ReplayError(ValueError):
    """The recording cannot be replayed; the message names the file, the line and the fault."""


@dataclass(frozen=True, slots=True)
class Recording:
    """A recording's header and samples, oldest first."""

    header: dict[str, Any]
    samples: tuple[Sample, ...]


def load_recording(path: str) -> Recording:
    """Read a ``--record`` file.

    Raises:
        ReplayError: missing or unreadable file, a line that is not JSON, or no samples.
    """
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise ReplayError(f"cannot read recording {path!r} ({exc.strerror}): give a file "
                          "written with --record") from None
    header: dict[str, Any] = {}
    samples: list[Sample] = []
    with fh:
        for number, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
                if obj.get("type") == HEADER_TYPE:
                    header = header or obj
                    continue
                samples.append(sample_from_dict(obj))
            except (ValueError, TypeError) as exc:
                raise ReplayError(f"recording {path!r} line {number} is not a wsmonitor sample "
                                  f"({type(exc).__name__}): was it written with --record?") \
                    from None
    if not samples:
        raise ReplayError(f"recording {path!r} holds no samples: record with "
                          "`wsmonitor --record FILE.jsonl` first")
    samples.sort(key=lambda s: s.at)
    return Recording(header, tuple(samples))


class ReplayProbe:
    """Stands in for a recorded probe: what the panes ask of it, from the header."""

    def __init__(self, name: str, meta: dict[str, Any]) -> None:
        self.name = name
        self.meta = meta
        self.timeout = float(meta.get("timeout", 10.0))
        self.server = str(meta.get("server", ""))
        self.tls = bool(meta.get("tls", False))
        self.commands_per_run = int(meta.get("commands_per_run", 0))
        self.budget_per_day = meta.get("budget_per_day")
        self.warming_up = False

    def steady_interval(self, base: float) -> float:
        return float(self.meta.get("steady_interval", base))

    def interval(self, base: float) -> float:
        return self.steady_interval(base)

    def own_commands_per_day(self, base: float) -> float:
        interval = self.steady_interval(base)
        return self.commands_per_run * 86_400 / interval if interval else 0.0

    async def run(self) -> Sample:  # pragma: no cover - never scheduled
        raise RuntimeError("a replayed probe does not run")

    async def close(self) -> None:
        return None


class ReplayEngine(Engine):
    """Publishes recorded samples on a replay clock instead of running probes.

    Args:
        recording: What to play.
        speed: Replay speed (2 = twice as fast); gaps longer than `MAX_GAP` are shortened.
    """

    def __init__(self, recording: Recording, *, speed: float = 1.0) -> None:
        names = {s.probe for s in recording.samples}
        metas = recording.header.get("probes", {}) if recording.header else {}
        probes = [ReplayProbe(n, metas.get(n, {})) for n in sorted(names)]
        super().__init__(probes, interval=float(recording.header.get("interval", 2.0) or 2.0))
        self.recording = recording
        self.speed = speed
        self.position = 0
        """Samples published so far."""
        self.finished = threading.Event()
        self._clock = recording.samples[0].at
        self._resume = threading.Event()
        self._resume.set()
        self._skip = threading.Event()
        self._halt = threading.Event()

    def now(self) -> float:
        return self._clock

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._play, name="wsmonitor-replay", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        previous = self.recording.samples[0].at
        for sample in self.recording.samples:
            gap = min(MAX_GAP, max(0.0, sample.at - previous)) / self.speed
            deadline = time.monotonic() + gap
            while not self._halt.is_set():
                self._resume.wait(0.2)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._skip.is_set():
                    break
                if self._resume.is_set():
                    self._skip.wait(min(0.2, remaining))
                else:
                    deadline += 0.2  # paused: the replay clock stands still
            if self._halt.is_set():
                return
            self._skip.clear()
            while not self._resume.is_set() and not self._halt.is_set():
                self._resume.wait(0.2)
            previous = sample.at
            self._clock = sample.at
            state = self.states[sample.probe]
            state.runs += 1
            state.last_at = sample.at
            state.failures = 0 if sample.ok else state.failures + 1
            self.publish(sample)
            self.position += 1
        self.finished.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._halt.set()
        self._resume.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def pause(self) -> None:
        self._paused = True
        self._resume.clear()

    def resume(self) -> None:
        self._paused = False
        self._resume.set()

    def run_now(self, name: str | None = None) -> None:
        """Jump to the next sample."""
        self._skip.set()

    def scale_interval(self, factor: float) -> float:
        """``+``/``-`` change the replay speed instead of an interval."""
        self.speed = min(64.0, max(0.25, self.speed / factor))
        return self.interval_factor


def replay_settings(recording: Recording) -> Any:
    """Settings equivalent to the recorded ones (targets redacted, so nothing can connect)."""
    from wsmonitor.config import Settings
    from wsmonitor.plans import load_plans

    h = recording.header
    plan = h.get("plan") if h.get("plan") in load_plans() else None
    redis_url = h.get("redis_url") or ("redis://recorded/0" if "redis" in
                                       {s.probe for s in recording.samples} else None)
    return Settings(
        url=h.get("url"), redis_url=redis_url, redis_plan=plan,
        max_connections=h.get("max_connections"), max_commands=h.get("max_commands"),
        redis_budget=float(h.get("redis_budget", 5.0) or 5.0),
        interval=float(h.get("interval", 2.0) or 2.0), kiosk=False,
        log_group=("recorded",) if h.get("logs") else (),
        page_url=h.get("page_url"),
    )
