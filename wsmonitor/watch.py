"""``wsmonitor watch``: the probes and checks with no screen, for a server, a container, a CI runner.

Each target runs on an engine of its own (its own thread and event loop, its own Redis
connection and budgets), so a target whose service hangs never delays another's probes. Every
target's verdicts reach two subscribers: the line printer (one line on stdout per change of
diagnosis) and, with ``--metrics``, the Prometheus exporter (`wsmonitor.metrics`), which reads
the latest verdict and the sample counts and never judges on its own.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

from wsmonitor.config import Settings
from wsmonitor.engine import Engine
from wsmonitor.secrets import redact
from wsmonitor.verdict import Verdict, VerdictPipeline, VerdictSubscriber

log = logging.getLogger(__name__)

STOP_WITHIN = 4.0
"""Seconds the engines get to close their connections on SIGINT/SIGTERM (SPEC: exit within 5)."""


def subscribe_verdicts(settings: Settings, engine: Engine,
                       on_verdict: VerdictSubscriber) -> Callable[[], None]:
    """Deliver this target's verdicts to `on_verdict` (its own `VerdictPipeline`, judging on a
    thread of its own); returns a function that stops them."""
    pipeline = VerdictPipeline(engine, settings)
    unsubscribe = pipeline.subscribe(on_verdict)
    pipeline.start()

    def stop() -> None:
        unsubscribe()
        pipeline.stop()

    return stop


def _format_exc() -> str:
    import traceback

    return traceback.format_exc()


def iso(ts: float) -> str:
    """``2026-12-06T03:04:05.123Z``: UTC, milliseconds."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")\
        .replace("+00:00", "Z")


def verdict_line(target: str, verdict: Verdict) -> str:
    """One logfmt line for a change of diagnosis: time, target, layer, confidence, summary.

    Redacted, no newline inside: what a container's log collector (Loki, CloudWatch) indexes.
    """
    d = verdict.shown
    fields = [("time", iso(verdict.at)), ("target", target), ("layer", d.layer),
              ("confidence", d.confidence)]
    if not verdict.confirmed:
        fields.append(("confirmed", "false"))
    if verdict.failing:
        fields.append(("failing", ",".join(verdict.failing)))
    fields.append(("summary", d.summary))
    return redact(" ".join(f"{k}={_logfmt(v)}" for k, v in fields))


def _logfmt(value: str) -> str:
    value = " ".join(str(value).split())
    if value and all(c.isalnum() or c in "-_.:,+/" for c in value):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass
class TargetRun:
    """One watched target: its engine, its recorder, its latest verdict and sample counts."""

    name: str
    settings: Settings
    engine: Engine
    stats: Any
    """A `wsmonitor.metrics.SampleStats` fed by the engine."""
    recorder: Any = None
    verdict: Verdict | None = None
    """The latest published verdict (read by the exporter)."""
    stop_verdicts: Callable[[], None] | None = None
    _key: tuple[Any, ...] | None = field(default=None, repr=False)


class Watch:
    """Every target's engine and verdicts; the lines on `out`.

    Args:
        targets: ``(name, settings)`` per target.
        out: Where the lines go (stdout).
        engine_factory: Builds a target's engine (default ``runtime.build_engine``).
    """

    def __init__(self, targets: Sequence[tuple[str, Settings]], out: IO[str], *,
                 engine_factory: Callable[[Settings], Engine] | None = None) -> None:
        from wsmonitor.metrics import SampleStats
        from wsmonitor.runtime import build_engine

        factory = engine_factory or build_engine
        self.out = out
        self._out_lock = threading.Lock()
        self.runs: list[TargetRun] = []
        for name, settings in targets:
            engine = factory(settings)
            stats = SampleStats()
            engine.subscribe(stats.add)
            self.runs.append(TargetRun(name, settings, engine, stats))

    def start(self) -> None:
        """Start every engine and its verdicts."""
        for run in self.runs:
            run.engine.start()
            run.stop_verdicts = subscribe_verdicts(run.settings, run.engine,
                                                   self._on_verdict(run))

    def _on_verdict(self, run: TargetRun) -> VerdictSubscriber:
        def on_verdict(verdict: Verdict) -> None:
            run.verdict = verdict
            d = verdict.shown
            # A change of diagnosis: the layer, how sure, or which checks fail (not the
            # wording of a summary whose figures move on every judgement).
            key = (d.layer, d.confidence, verdict.confirmed, verdict.failing)
            if key != run._key:
                run._key = key
                self.emit(verdict_line(run.name, verdict))
        return on_verdict

    def emit(self, line: str) -> None:
        """Write one line and flush it (a container's log reads it at once)."""
        with self._out_lock:
            try:
                self.out.write(line + "\n")
                self.out.flush()
            except (OSError, ValueError):
                pass  # stdout closed (a pipe's reader went away): keep watching

    def stop(self, within: float = STOP_WITHIN) -> None:
        """Stop verdicts, then every engine at once, each given what is left of `within`."""
        for run in self.runs:
            if run.stop_verdicts is not None:
                run.stop_verdicts()
        deadline = time.monotonic() + within
        # Signal every engine first: their probes close concurrently, not one after another.
        threads = [threading.Thread(target=run.engine.stop, args=(within,), daemon=True)
                   for run in self.runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for run in self.runs:
            if run.recorder is not None:
                try:
                    run.recorder.close()
                except OSError:
                    pass


def record_paths(path: str, names: Sequence[str]) -> dict[str, str]:
    """``--record FILE.jsonl`` per target: the file itself for one target, else
    ``FILE.<name>.jsonl`` for each (a recording replays one target)."""
    if len(names) == 1:
        return {names[0]: path}
    stem, dot, ext = path.rpartition(".")
    if not dot or "/" in ext:
        stem, ext = path, "jsonl"
    return {n: f"{stem}.{n}.{ext}" for n in names}
