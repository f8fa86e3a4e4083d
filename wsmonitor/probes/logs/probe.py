"""The probe over any log source: groups tracebacks, classifies, keeps bounded counts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Any

from wsmonitor.log_rules import (
    AssembledEvent,
    Classification,
    EventAssembler,
    RawLine,
    RuleSet,
    build_rules,
)
from wsmonitor.log_samples import LogEvent, LogsSample
from wsmonitor.probes.logs.base import AT_STARTUP, LogSource
from wsmonitor.probes.logs.cloudwatch import CloudWatchSource
from wsmonitor.probes.logs.command import CommandSource
from wsmonitor.probes.logs.file import FileSource
from wsmonitor.probes.logs.timestamps import FUTURE_SLACK, ZoneGuess, line_time
from wsmonitor.secrets import redact


class _WindowCounts:
    """Events per category over a sliding window, in fixed buckets (bounded by window/bucket).

    An event counts once under each of its categories (a Redis traceback under ``redis-error``
    and ``traceback``), and once under its cause (its first category) for the totals and the
    severities.
    """

    def __init__(self, window: float, bucket: float = 10.0) -> None:
        self.window = window
        self.bucket = bucket
        # bucket -> (events per cause, None for unclassified; events per further category)
        self._buckets: dict[int, tuple[dict[str | None, int], dict[str, int]]] = {}

    def add(self, ts: float, category: str | None, now: float,
            tags: tuple[str, ...] = ()) -> None:
        if ts < now - self.window:
            return
        key = int(min(ts, now) // self.bucket)
        counts = self._buckets.get(key)
        if counts is None:
            counts = self._buckets[key] = ({}, {})
        causes, also = counts
        causes[category] = causes.get(category, 0) + 1
        for tag in tags:
            if tag != category:
                also[tag] = also.get(tag, 0) + 1

    def snapshot(self, now: float) -> tuple[dict[str | None, int], int]:
        """Events per category (each of an event's categories), and events in the window."""
        causes, also = self._totals(now)
        total = dict(causes)
        for tag, count in also.items():
            total[tag] = total.get(tag, 0) + count
        return total, sum(causes.values())

    def causes(self, now: float) -> dict[str | None, int]:
        """Events per cause (first category; None for unclassified) in the window."""
        return self._totals(now)[0]

    def _totals(self, now: float) -> tuple[dict[str | None, int], dict[str, int]]:
        cutoff = int((now - self.window) // self.bucket)
        for key in [k for k in self._buckets if k < cutoff]:
            del self._buckets[key]
        causes: dict[str | None, int] = {}
        also: dict[str, int] = {}
        for first, rest in self._buckets.values():
            for category, count in first.items():
                causes[category] = causes.get(category, 0) + count
            for category, count in rest.items():
                also[category] = also.get(category, 0) + count
        return causes, also


class LogsProbe:
    """Tails a log source, groups tracebacks, classifies events, keeps bounded counts.

    Args:
        source: Where lines come from (`CloudWatchSource`, `FileSource`, `CommandSource`).
        rules: Classification rules (default: the shipped ones).
        window: Seconds the per-category counts cover.
        max_events: Events carried per sample (classified ones kept first).
        history: Events kept by the probe for `recent`.
        hold: Seconds an unfinished traceback waits for its remaining lines.
        name: The probe's name in the engine.
    """

    def __init__(self, source: LogSource, *, rules: RuleSet | None = None,
                 window: float = 900.0, max_events: int = 500, history: int = 2000,
                 hold: float = 1.0, name: str = "logs") -> None:
        self.name = name
        self.source = source
        self.rules = rules or build_rules()
        self.window = window
        self.max_events = max_events
        self.timeout = source.timeout + 5
        self.history_size = 120
        """Samples the engine keeps of this probe: each may carry hundreds of events."""
        self._assembler = EventAssembler(hold=hold)
        self._read_times = getattr(source, "read_times", True)
        self._zone = ZoneGuess()
        self._anchored = False
        self._counts = _WindowCounts(window, bucket=max(1.0, min(10.0, window / 60)))
        self._recent: deque[LogEvent] = deque(maxlen=history)
        self._watching_since = 0.0
        self._lock = threading.Lock()
        self.events_total = 0

    def interval(self, base: float) -> float:
        return self.source.interval(base)

    def recent(self, since: float | None = None, until: float | None = None) -> list[LogEvent]:
        """Events kept by the probe, oldest first, optionally within a time range."""
        with self._lock:
            events = list(self._recent)
        return [e for e in events if (since is None or e.timestamp >= since)
                and (until is None or e.timestamp <= until)]

    async def run(self) -> LogsSample:
        """Take what the source has, classify it, and say so."""
        started = time.perf_counter()
        if not self._watching_since:
            # The first read: what it finds (a file's last lines, a command's first burst,
            # CloudWatch's look-back) was logged before wsmonitor watched.
            self._watching_since = time.time()
        batch = await self.source.fetch()
        if len(batch.lines) > 2000:
            # Big batches are classified off the event loop so other probes keep their cadence.
            events, omitted = await asyncio.to_thread(self._process, batch.lines)
        else:
            events, omitted = self._process(batch.lines)
        now = time.time()
        counts, in_window = self._counts.snapshot(now)
        by_category = {c: counts.get(c, 0) for c in self.rules.categories}
        # Severities count events once, by their cause (a Redis traceback is one error).
        by_severity = {"error": 0, "warning": 0, "info": 0}
        for category, count in self._counts.causes(now).items():
            if category is not None:
                by_severity[self.rules.severity(category)] += count
        return LogsSample(
            probe=self.name, at=time.time(), ok=batch.error is None, error=batch.error,
            error_kind=batch.error_kind, duration_ms=(time.perf_counter() - started) * 1000,
            source=self.source.kind, events=events, by_category=by_category,
            by_severity=by_severity, window_seconds=self.window, events_in_window=in_window,
            events_total=self.events_total, events_omitted=omitted,
            watching_since=self._watching_since,
            **self.source.describe(),
        )

    def _process(self, lines: list[RawLine]) -> tuple[tuple[LogEvent, ...], int]:
        assembled = self._assembler.feed(lines, time.monotonic())
        if not assembled:
            return (), 0
        now = time.time()
        classify = self.rules.classify
        add = self._counts.add
        written = self._written(assembled, now)
        classified: list[tuple[AssembledEvent, Classification, str]] = []
        for (location, read, event_id, text), found in zip(assembled, written):
            result = classify(text)
            ts, clock = self._when(read, found, now)
            if clock != "unknown":
                # An event of unknown age is in no window: it is history, shown but not counted.
                add(ts, result.category, now, result.tags)
            classified.append(((location, ts, event_id, text), result, clock))
        self.events_total += len(classified)
        kept = _cap(classified, self.max_events)
        events = tuple(self._event(event, result, clock) for event, result, clock in kept)
        with self._lock:
            self._recent.extend(events)
        return events, len(classified) - len(kept)

    def _written(self, assembled: list[AssembledEvent],
                 now: float) -> list[tuple[float, bool] | None]:
        """The time written in each event (`line_time`), after learning the source's zone from
        the lines of this batch read as they were written, and from the backlog's last event
        against the file's modification time (`ZoneGuess`)."""
        if not self._read_times:
            return [None] * len(assembled)
        found = [line_time(text, read if read > AT_STARTUP else now)
                 for _, read, _, text in assembled]
        zone = self._zone
        last_backlog: tuple[float, bool] | None = None
        backlog = False
        for (_, read, _, _), when in zip(assembled, found):
            if read > AT_STARTUP:
                if when is not None and when[1]:
                    zone.observe(when[0], read)
            else:
                backlog, last_backlog = True, when
        written_at = getattr(self.source, "backlog_written_at", None)
        if backlog and written_at is not None and not self._anchored:
            # Once: the backlog's last event against the moment the file was last written.
            self._anchored = True
            if last_backlog is not None and last_backlog[1]:
                zone.anchor(last_backlog[0], written_at)
        return found

    def _when(self, read: float, found: tuple[float, bool] | None,
              now: float) -> tuple[float, str]:
        """The event's time and where it comes from (`LogEvent.clock`).

        Args:
            read: The source's timestamp: CloudWatch's, or when the line was read, or
                `AT_STARTUP`.
            found: The time written in the event's first line, and whether it named no zone.
            now: The time of this run.
        """
        if not self._read_times:
            return (read, "logged") if read > AT_STARTUP else (now, "unknown")
        if found is not None:
            written, naive = found
            if naive:
                written = self._zone.correct(written)
                if read > AT_STARTUP and self._zone.unexplained(written, read):
                    # Read as it was written, yet whole quarter hours off: the source logs in
                    # another zone, not yet learned. The read time is the better guess.
                    return read, "read"
            if written <= (read if read > AT_STARTUP else now) + FUTURE_SLACK:
                return written, "logged"
            # Ahead of the moment it was read: its zone was misread, so the time is not
            # believed (an old line must not pass for a new one).
        return (read, "read") if read > AT_STARTUP else (now, "unknown")

    def _event(self, event: AssembledEvent, result: Classification, clock: str) -> LogEvent:
        location, ts, event_id, text = event
        category = result.category
        return LogEvent(
            timestamp=ts, location=redact(location), message=redact(text), category=category,
            event_id=redact(event_id), tags=result.tags,
            label=self.rules.label(category) if category else None,
            severity=self.rules.severity(category) if category else None, clock=clock,
        )

    async def close(self) -> None:
        await self.source.close()


def _cap(items: list[tuple[AssembledEvent, Classification, str]],
         limit: int) -> list[tuple[AssembledEvent, Classification, str]]:
    """The newest `limit` items, classified ones first; original order kept."""
    if len(items) <= limit:
        return items
    flagged = [i for i, (_, c, _) in enumerate(items) if c.category is not None]
    if len(flagged) >= limit:
        chosen = flagged[-limit:]
    else:
        room = limit - len(flagged)
        plain = [i for i, (_, c, _) in enumerate(items) if c.category is None][-room:]
        chosen = sorted(flagged + plain)
    return [items[i] for i in chosen]


def build_logs_probe(settings: Any, *, rules: RuleSet | None = None,
                     **options: Any) -> LogsProbe | None:
    """The logs probe the settings ask for, or None when no log source is configured.

    A local file or command wins over CloudWatch. User rules come from ``settings.log_rules``
    (a ``[[log-rules]]`` array) when the settings have it.

    Args:
        settings: `wsmonitor.config.Settings` (``log_group``, ``log_file``, ``log_command``,
            ``apprunner_service``, ``aws_endpoint_url``, optionally ``log_rules``).
        rules: Rules to use instead of the defaults plus ``settings.log_rules``.
        options: Passed to `LogsProbe` (``window``, ``max_events`` …).

    Raises:
        ValueError: A user rule is malformed (the message names it).
    """
    if rules is None:
        rules = build_rules(getattr(settings, "log_rules", None) or None)
    source: LogSource
    if getattr(settings, "log_file", None):
        source = FileSource(settings.log_file)
    elif getattr(settings, "log_command", None):
        source = CommandSource(settings.log_command)
    elif getattr(settings, "log_group", None) or getattr(settings, "apprunner_service", None):
        source = CloudWatchSource(tuple(settings.log_group or ()),
                                  apprunner_service=settings.apprunner_service,
                                  endpoint_url=getattr(settings, "aws_endpoint_url", None))
    else:
        return None
    return LogsProbe(source, rules=rules, **options)
