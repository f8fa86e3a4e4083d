"""Samples of the logs probe: one log event, and one run of the probe.

They live here, beside `wsmonitor.samples`, so that the UI, the rules and replay read them
without importing the probe (and its boto3/subprocess machinery).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wsmonitor.samples import Sample, register_sample_type


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One log event: a line, or a traceback with the line that introduced it."""

    timestamp: float
    """When it was logged, epoch seconds: the time written in the line (or CloudWatch's event
    timestamp); for a line with no time, when it was read (see `clock`)."""
    location: str
    """``group/stream`` for CloudWatch, the path for a file, the program for a command."""
    message: str
    """The text, redacted; a traceback's lines joined by newlines."""
    category: str | None = None
    """The first matching rule's category (``redis-error`` …), or None."""
    event_id: str = ""
    """CloudWatch's eventId, ``inode:offset`` for a file, ``run:line`` for a command."""
    tags: tuple[str, ...] = ()
    """Every matching category, in priority order."""
    label: str | None = None
    """The one word shown for the category."""
    severity: str | None = None
    """``error``, ``warning`` or ``info`` for a classified event."""
    clock: str = "logged"
    """Where `timestamp` comes from: ``logged`` (written in the line, or CloudWatch's),
    ``read`` (no time in the line; read as it was written, so the read time stands for it) or
    ``unknown`` (no time in the line, read at start-up: its age is unknown, so it is history,
    never a recent error; `timestamp` is then the read time)."""

    @property
    def categories(self) -> tuple[str, ...]:
        """Every category the event carries (a Redis traceback is ``redis-error`` and
        ``traceback``), the cause first."""
        return self.tags or ((self.category,) if self.category else ())

    def logged_since(self, cutoff: float) -> bool:
        """Whether the event is known to have been logged at or after `cutoff`."""
        return self.clock != "unknown" and self.timestamp >= cutoff


@register_sample_type
@dataclass(frozen=True, slots=True)
class LogsSample(Sample):
    """One run of the logs probe: the new events since the last run, and the counts so far."""

    source: str = ""
    """``cloudwatch``, ``file`` or ``command``."""
    mode: str = ""
    """``live-tail``, ``polling``, ``file`` or ``command``."""
    target: str = ""
    """What is tailed: the log groups, the path, or the command (redacted)."""
    groups: tuple[str, ...] = ()
    """CloudWatch log groups tailed (after App Runner discovery)."""
    events: tuple[LogEvent, ...] = ()
    """New events this run (at most the probe's ``max_events``; classified ones first)."""
    by_category: dict[str, int] = field(default_factory=dict)
    """Events per category over the window; every known category, zeros included. An event
    counts under each of its categories (a Redis traceback: ``redis-error`` and
    ``traceback``); events of unknown age (`LogEvent.clock`) are in no window."""
    by_severity: dict[str, int] = field(default_factory=dict)
    """Classified events per severity (``error``, ``warning``, ``info``) over the window, each
    event once, by its cause (first category)."""
    window_seconds: float = 0.0
    """The window of the counts."""
    events_in_window: int = 0
    """All events (classified or not) over the window."""
    events_total: int = 0
    """Events seen since the probe started."""
    watching_since: float = 0.0
    """When the probe started watching (its first read, epoch seconds; 0 when unknown, as in
    older recordings). Events logged before it were history when wsmonitor started: the rules
    judge them apart (`wsmonitor.rules.logs.ended_categories`)."""
    events_omitted: int = 0
    """New events this run not carried in `events` (over the per-sample cap)."""
    dropped_total: int = 0
    """Lines lost because a bounded queue was full (command output, Live Tail), since start."""
    sampled: bool = False
    """Live Tail sampled since the last run (more than 500 events a second): counts are low."""
    fallback_kind: str | None = None
    """Why polling instead of Live Tail: ``access-denied``, ``limit-exceeded``,
    ``live-tail-unavailable``, ``session-ended``, ``too-many-groups``, ``disabled``."""
    fallback_reason: str | None = None
    """The same, for a person."""
    live_tail_retry_at: float | None = None
    """When Live Tail is tried again (epoch seconds), while polling."""
    notice: str | None = None
    """A one-time remark for the pane (Live Tail's per-minute billing)."""
    api_calls: int = 0
    """CloudWatch requests made since start."""
    restarts: int = 0
    """Times the command was restarted."""

    def __post_init__(self) -> None:
        # Replayed recordings carry events as dicts; make them events again.
        if any(not isinstance(e, LogEvent) for e in self.events):
            object.__setattr__(self, "events", tuple(
                e if isinstance(e, LogEvent) else _event_from_dict(e) for e in self.events))


def _event_from_dict(data: Mapping[str, Any]) -> LogEvent:
    known = {k: v for k, v in data.items() if k in LogEvent.__dataclass_fields__}
    if isinstance(known.get("tags"), list):
        known["tags"] = tuple(known["tags"])
    return LogEvent(**known)


__all__ = ["LogEvent", "LogsSample"]
