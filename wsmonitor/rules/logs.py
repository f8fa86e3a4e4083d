"""The consumer-errors check and the log vocabulary the diagnosis reads (categories,
what has ended, what is history).

Pure rules: samples in, check results out. No I/O, no Textual, no clock of its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence

from wsmonitor.log_samples import LogEvent, LogsSample
from wsmonitor.rules.base import FAIL, PASS, UNKNOWN, WARN, CheckContext, CheckResult, is_stale, \
    sample_age, stale_result
from wsmonitor.samples import Sample


LOG_REMEDY = {
    "plan-quota": "The service hits the Redis plan's quota: see redis-commands.",
    "max-clients": "The service cannot open Redis connections: see redis-connections.",
    "redis-error": "The service loses Redis: see redis-reachable.",
    "channels-timeout": "redis-py 8's 5 s socket_timeout races channels_redis's 5 s BZPOPMIN: set "
                        "socket_timeout above 5 s in REDIS_URL / CHANNEL_LAYERS.",
    "auth-rejected": "Sockets are rejected as anonymous: see jwt-valid.",
    "ws-reject": "Daphne rejects handshakes: see allowed-hosts and jwt-valid.",
    "exception-in-app": "A consumer raises: read the traceback (Enter on the logs pane's line).",
    "traceback": "A consumer raises: read the traceback.",
    "connect-error": "connect() fails: read the logged exception (often group_add on Redis).",
}
"""What to do per log category (the most frequent cause, an event's first category, decides
the remedy)."""


def consumer_errors(ctx: CheckContext, logs: Sequence[Sample], now: float,
                    ended: Mapping[str, tuple[str, ...]] | None = None) -> CheckResult:
    """Are the service logs free of consumer errors (over the probe's window)?

    Errors of the `ended` categories (`ended_categories`: an outage the Redis checks have
    since seen end, or errors logged before wsmonitor started of a category whose end the
    checks see now) warn instead of failing, so the window does not keep a layer named after
    the fault is gone; any newer error fails again.
    """
    ended = ended or {}
    cid = "consumer-errors"
    samples = [s for s in logs if isinstance(s, LogsSample)]
    if not samples:
        return CheckResult(cid, UNKNOWN, "waiting for the first read of the logs")
    last = samples[-1]
    if is_stale(last, ctx, now):
        return stale_result(cid, last, now)
    counts = {k: v for k, v in last.by_category.items() if v}
    window = _span(last.window_seconds) if last.window_seconds else "the window"
    where = f"{last.source} {last.target}".strip()
    if last.error_kind and not last.events_total:
        return CheckResult(cid, UNKNOWN, f"the logs cannot be read: {last.error_kind}",
                           (f"logs probe {sample_age(last, now)}: {last.error}",),
                           "Fix access to the logs (credentials, region, group name, path).",
                           last.at)
    evidence = [f"{where}: {last.events_in_window} event(s) in the last {window}"]
    if counts:
        evidence.append("by category: " + ", ".join(f"{k} {v}" for k, v in
                                                     sorted(counts.items(),
                                                            key=lambda kv: -kv[1])))
    recent = [e for s in samples[-20:] for e in s.events if e.severity in ("error", "warning")]
    for event in recent[-3:]:
        first = event.message.splitlines()[0] if event.message else ""
        last_line = event.message.splitlines()[-1] if "\n" in event.message else ""
        evidence.append(f"{event.label or event.category}: {first[:160]}"
                        + (f" … {last_line[:120]}" if last_line else ""))
    if last.error_kind:
        evidence.append(f"the tail has a fault now: {last.error_kind}")
    # Judge errors by how recent they are: a 15-minute window must not keep a wall display red
    # for 15 minutes after the incident ended.
    recent_window = recent_errors_window(last)
    # An event is judged at the time written in it; one read at start-up with no time in it is
    # history (`LogEvent.logged_since`).
    recent_all = [e for s in samples for e in s.events
                  if e.severity == "error" and e.logged_since(now - recent_window)]
    untimed = sum(1 for s in samples for e in s.events
                  if e.clock == "unknown" and e.severity == "error")
    if untimed:
        evidence.append(f"{untimed} error(s) read at start-up with no time written in them: "
                        "history, not judged")
    # A consumer without a handler for wsmonitor's notification type logs the exception its
    # group_send caused: wsmonitor's own doing, judged by notification-delivery alone.
    own_type = own_delivery_error(ctx)
    caused = [e for s in samples for e in s.events if e.severity == "error"
              and own_type is not None and own_type.search(e.message or "")
              and e.logged_since(now - (last.window_seconds or recent_window))]
    if caused:
        recent_all = [e for e in recent_all if e not in caused]
        evidence.append(f"{len(caused)} error(s) caused by wsmonitor's own group_send (the "
                        "consumer has no handler for its type): see notification-delivery")
    recent_errors = [e for e in recent_all if (e.category or "error") not in ended]
    # Ended categories whose errors were all logged before wsmonitor watched are history
    # (`ended_categories`); the others ended while it watched.
    since = watching_since(samples)
    newest: dict[str, float] = {}
    for e in recent_all:
        key = e.category or "error"
        if key in ended:
            newest[key] = max(newest.get(key, e.timestamp), e.timestamp)
    history_cats = {c for c, t in newest.items() if since and t < since}
    before = [e for e in recent_all if (e.category or "error") in history_cats]
    history_text = _history_text(before, now)
    if before:
        seeing = sorted({c for k in history_cats for c in ended[k]})
        evidence.append(
            f"{len(before)} error(s) logged before wsmonitor started watching "
            f"({time.strftime('%H:%M:%S', time.localtime(since))}): history, as "
            f"{', '.join(seeing)} {'passes' if len(seeing) == 1 else 'pass'} now")
    outage_cats = {k: v for k, v in ended.items() if k not in history_cats}
    past_outage = len(recent_all) - len(recent_errors) - len(before)
    if past_outage:
        names = sorted({c for checks in outage_cats.values() for c in checks})
        evidence.append(f"{past_outage} error(s) from an outage that has ended: "
                        f"{', '.join(sorted(outage_cats))}, logged before {', '.join(names)} "
                        "passed again")
    errors = max(0, last.by_severity.get("error", 0) - len(caused))
    warnings = last.by_severity.get("warning", 0)
    # The most frequent cause (an event's first category): a Redis traceback also counts as a
    # traceback, but Redis is what to fix. Severities count events by cause too.
    causes = _causes(samples, now - (last.window_seconds or RECENT_ERRORS)) or counts
    if ctx.url_configured:
        # wsmonitor's own no-token / no-origin / wrong-origin probes are rejected on purpose.
        own = sum(causes.get(c, 0) for c in SELF_INFLICTED)
        if own:
            evidence.append(f"{own} rejection(s) expected: wsmonitor's own no-token, no-origin "
                            "and wrong-origin probes are rejected on purpose")
        warnings = max(0, warnings - own)
    error_counts = {k: v for k, v in causes.items() if _log_severity(k) == "error"}
    top = max(error_counts, key=lambda k: error_counts[k]) if error_counts else (
        max(causes, key=lambda k: causes[k]) if causes else None)
    remedy = LOG_REMEDY.get(top or "", "Read the events in the logs pane.")
    if recent_errors:
        recent_top: dict[str, int] = {}
        for e in recent_errors:
            recent_top[e.category or "error"] = recent_top.get(e.category or "error", 0) + 1
        top = max(recent_top, key=lambda k: recent_top[k])
        remedy = LOG_REMEDY.get(top, "Read the events in the logs pane.")
        return CheckResult(cid, FAIL, f"{len(recent_errors)} consumer error(s) in the last "
                           f"{_span(recent_window)}, mostly {top}", tuple(evidence), remedy,
                           last.at)
    if past_outage or before:
        parts = [history_text] if before else []
        if past_outage:
            names = sorted({c for checks in outage_cats.values() for c in checks})
            parts.append(f"{past_outage} error(s) in the last {_span(recent_window)}, all "
                         f"from before {', '.join(names)} passed again")
        remedy = ("Errors from an outage that has ended" + (", logged before wsmonitor "
                  "started" if not past_outage else "") + ": watch that no new ones come.")
        return CheckResult(cid, WARN, "; also ".join(parts), tuple(evidence), remedy, last.at)
    if errors:
        return CheckResult(cid, WARN, f"{errors} consumer error(s) in the last {window}, none in "
                           f"the last {_span(recent_window)}"
                           + (f" (mostly {top})" if top else ""), tuple(evidence), remedy,
                           last.at)
    if warnings:
        return CheckResult(cid, WARN, f"{warnings} warning(s) in the last {window}"
                           + (f", mostly {top}" if top else ""), tuple(evidence), remedy,
                           last.at)
    return CheckResult(cid, PASS, f"no consumer errors in the last {window}", tuple(evidence),
                       "", last.at)


HISTORY_NOUN = {
    "redis-error": "Redis error(s)",
    "channels-timeout": "channel-layer timeout(s)",
    "max-clients": "connection-cap error(s)",
    "plan-quota": "quota error(s)",
    "app-killed": "killed consumer(s)",
    "connect-error": "connect() error(s)",
}


def _history_text(events: Sequence[LogEvent], now: float) -> str:
    """``3 Redis error(s) logged before wsmonitor started, the last 2 min ago; Redis answers
    now``: per category, for errors `ended_categories` found to be history."""
    by_category: dict[str, list[float]] = {}
    for e in events:
        by_category.setdefault(e.category or "error", []).append(e.timestamp)
    parts = []
    for category, times in sorted(by_category.items(), key=lambda kv: -max(kv[1])):
        noun = HISTORY_NOUN.get(category, f"{category} error(s)")
        parts.append(f"{len(times)} {noun} logged before wsmonitor started, the last "
                     f"{_ago(now - max(times))} ago; "
                     f"{HISTORY_NOW.get(category, 'its checks pass now')}")
    return "; ".join(parts)


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _causes(samples: Sequence[LogsSample], since: float) -> dict[str, int]:
    """Classified events per cause (first category) logged since `since`, in the samples."""
    out: dict[str, int] = {}
    for s in samples:
        for e in s.events:
            if e.category and e.logged_since(since):
                out[e.category] = out.get(e.category, 0) + 1
    return out


def own_delivery_error(ctx: CheckContext) -> re.Pattern[str] | None:
    """Channels' error for a message type its consumer has no handler for, with the type of
    wsmonitor's own delivery (None: no delivery runs)."""
    facts = ctx.extra.get("channel_layer")
    if ctx.kiosk or facts is None or getattr(facts, "delivery", "none") is not None:
        return None
    notify_type = getattr(facts, "notify_type", "notify")
    return re.compile(rf"No handler for message type {re.escape(notify_type)}(?![\w.-])")


RECENT_ERRORS = 180.0
"""Seconds within which a logged error fails consumer-errors (older ones in the window warn)."""

def recent_errors_window(last: Sample) -> float:
    """Seconds within which logged errors fail consumer-errors: `RECENT_ERRORS`, or the logs
    probe's whole window when that is shorter."""
    window = getattr(last, "window_seconds", 0.0) or RECENT_ERRORS
    return min(RECENT_ERRORS, window)


def _span(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


SELF_INFLICTED = ("ws-reject", "auth-rejected")
"""Log categories that wsmonitor's own rejected variants produce."""


SUPERSEDED_BY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "redis-error": (("redis-reachable",), ("redis", "http:redis-health", "channel-layer")),
    "channels-timeout": (("redis-reachable", "channel-layer"),
                         ("redis", "http:redis-health", "channel-layer")),
    "max-clients": (("redis-reachable", "redis-connections"),
                    ("redis", "http:redis-health", "http:ws-diagnostic", "channel-layer")),
    "plan-quota": (("redis-reachable", "redis-connections", "redis-commands"),
                   ("redis", "http:redis-health", "http:ws-diagnostic", "channel-layer")),
    # Daphne killed a consumer stuck past its timeout: a hung connect() the handshakes saw.
    "app-killed": (("handshake-101",), ("handshake:token+origin",)),
}
"""Log categories whose outage wsmonitor's own probes can see begin and end: category →
(the checks that pass again once it is over, the probes that fail while it goes on). The
consumer's own exceptions have no such evidence: they fail for `RECENT_ERRORS`."""

HISTORY_ENDS: dict[str, tuple[str, ...]] = {
    **{category: checks for category, (checks, _probes) in SUPERSEDED_BY.items()},
    # connect() failing (often group_add on Redis): a handshake that completes shows it ended.
    "connect-error": ("handshake-101",),
}
"""Log categories whose end a check can see now, even for an outage wsmonitor never saw:
category → the checks that pass once it is over. Errors of these categories logged before
wsmonitor started watching are history when those checks pass now (`ended_categories`)."""

HISTORY_NOW = {
    "redis-error": "Redis answers now",
    "channels-timeout": "the channel layer answers now",
    "max-clients": "Redis takes connections below its cap now",
    "plan-quota": "Redis runs commands within the quota now",
    "app-killed": "handshakes complete now",
    "connect-error": "handshakes complete now",
}
"""What the passing checks say, per `HISTORY_ENDS` category, for a person."""

OUTAGE_SLACK = 30.0
"""Seconds around a category's logged errors within which a probe's failure counts as
having seen that outage (log lines and probes do not tick together)."""


def ended_categories(results: Mapping[str, CheckResult],
                     errors: Mapping[str, tuple[float, float]],
                     history: Mapping[str, Sequence[Sample]]) -> dict[str, tuple[str, ...]]:
    """The log categories whose errors come from an outage that has ended. Category → the
    checks that show it.

    Two ways, by when the errors were logged:

    - All of the category's errors were logged **before wsmonitor started watching**
      (`LogsSample.watching_since`): a `check` started after an outage never saw it, so only
      the present can speak. A category whose end a check can see (`HISTORY_ENDS`: Redis, its
      cap, its quota, connect()) has ended when those checks pass, or warn of past trouble
      only, now. The consumer's own exceptions have no such check: they are never history
      this way.
    - Some were logged **while watching**: wsmonitor's own probes must have failed while the
      outage went on (so it is the outage they can see, not a fault only the service meets),
      and every check that can see it end passes, or warns of past trouble only, on a sample
      newer than the category's newest error (`SUPERSEDED_BY`).

    Args:
        errors: Category → (first, newest) error time, as `recent_error_times` gives.
    """
    since = watching_since(history.get("logs", ()))

    def passes_after(cid: str, last: float) -> bool:
        r = results.get(cid)
        return r is not None and r.status in (PASS, WARN) and r.at is not None and r.at > last

    out: dict[str, tuple[str, ...]] = {}
    for category, (first, last) in errors.items():
        if since and last < since:
            checks = HISTORY_ENDS.get(category)
            if checks and all(passes_after(cid, last) for cid in checks):
                out[category] = checks
            continue
        if category not in SUPERSEDED_BY:
            continue
        checks, probes = SUPERSEDED_BY[category]
        seen = any(not s.ok and first - OUTAGE_SLACK <= s.at <= last + OUTAGE_SLACK
                   for p in probes for s in history.get(p, ()))
        if seen and all(passes_after(cid, last) for cid in checks):
            out[category] = checks
    return out


def watching_since(logs: Sequence[Sample]) -> float:
    """When the logs probe started watching (0 when unknown): see `LogsSample.watching_since`."""
    last = next((s for s in reversed(logs) if isinstance(s, LogsSample)), None)
    return last.watching_since if last is not None else 0.0


def recent_error_times(logs: Sequence[Sample], now: float) -> dict[str, tuple[float, float]]:
    """The first and newest error per category within `recent_errors_window` (what fails the
    check)."""
    samples = [s for s in logs if isinstance(s, LogsSample)]
    if not samples:
        return {}
    recent = recent_errors_window(samples[-1])
    out: dict[str, tuple[float, float]] = {}
    for s in samples:
        for e in s.events:
            if e.severity == "error" and e.logged_since(now - recent):
                key = e.category or "error"
                first, last = out.get(key, (e.timestamp, e.timestamp))
                out[key] = (min(first, e.timestamp), max(last, e.timestamp))
    return out


def _log_severity(category: str) -> str:
    from wsmonitor.log_rules import default_rules

    return default_rules().severity(category)


def log_categories(logs: Sequence[Sample], now: float | None = None,
                   ended: Mapping[str, object] | None = None) -> dict[str, int]:
    """Counts per category of the error events logged within `recent_errors_window`, but the
    `ended` categories (see `ended_categories`).

    An event counts under each of its categories (a traceback caused by Redis under
    ``redis-error`` and ``traceback``), unless its cause (first category) has ended: the
    traceback of an ended Redis outage is history too, not a consumer fault.
    """
    now = time.time() if now is None else now
    out: dict[str, int] = {}
    last = next((s for s in reversed(logs) if isinstance(s, LogsSample)), None)
    recent = recent_errors_window(last) if last is not None else RECENT_ERRORS
    for s in logs:
        if isinstance(s, LogsSample):
            for e in s.events:
                if e.severity == "error" and e.category and e.logged_since(now - recent) \
                        and e.category not in (ended or {}):
                    for category in e.categories:
                        out[category] = out.get(category, 0) + 1
    return out
