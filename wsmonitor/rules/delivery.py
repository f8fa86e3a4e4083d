"""Pure rules for the channel layer: the send → receive round trip, and notification delivery.

``channel-layer`` rests on the channel-layer probe's samples; ``notification-delivery`` on the
held socket's sample (the ``hold`` probe) (when its hook ran the ``group_send``, what the hook
raised, what the socket received and when). Both write to Redis, so kiosk mode skips them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from wsmonitor.rules.base import FAIL, PASS, REMEDIES, SKIPPED, UNKNOWN, WARN, CheckContext, \
    CheckResult, failing_streak, sample_age, stale_limit, stale_result
from wsmonitor.rules.websocket import UPGRADED, _http, describe
from wsmonitor.samples import REDIS_ERROR_TEXT, Sample
from wsmonitor.samples_layer import ERROR_TEXT, NAME, NOTIFY_EVENT_TYPE, PROBE_MESSAGE_TYPE, \
    ChannelLayerFacts
from wsmonitor.samples_ws import HOLD_PROBE, PRIMARY_VARIANT, HandshakeSample

PRIMARY = HOLD_PROBE
"""The probe whose held socket receives the notification."""


def _held(history: Mapping[str, Sequence[Sample]]) -> Sequence[Sample]:
    """The held socket's samples (in a recording made before the held socket was a probe of
    its own: the ``token+origin`` probe's)."""
    if PRIMARY in history:
        return history[PRIMARY]
    return history.get(f"handshake:{PRIMARY_VARIANT}", ())

KIOSK = "writes to Redis: not run in kiosk mode"

LAYER_TEST_FACT = ("fact: the runbook's layer.test() does not exist; this send → receive on a "
                   "fresh channel is the smoke test that replaces it")

REDIS_DOWN = frozenset({"refused", "dns", "timeout", "tls-verify", "tls", "reset",
                        "auth-wrong-password", "auth-no-password", "auth-unexpected", "closed",
                        "probe-timeout", "out-of-memory"})
"""Round-trip failures that mean Redis itself cannot be used from here."""

PLAN_LIMIT = frozenset({"max-clients", "plan-connections", "plan-quota"})

ROUND_TRIP_REMEDY = {
    "out-of-memory": "Redis refuses writes at maxmemory, so every send and group_send fails: "
                     "find what fills it (MEMORY STATS, big keys, groups never discarded), "
                     "raise maxmemory or the plan (Upstash free: 256 MB).",
    "lost": "The message was written but never came back: Redis evicts keys (set "
            "maxmemory-policy noeviction and check used_memory against maxmemory), or the URL "
            "points at a proxy or cluster endpoint channels_redis cannot use (give each shard "
            "as its own host).",
    "mismatch": "An earlier run's message came back: transient after a failure; if it "
                "repeats, another process reads the probe's channel.",
    "channel-full": "The channel is at capacity (100 by default): consumers are not reading; "
                    "look for stuck workers before raising capacity in CHANNEL_LAYERS.",
    "timeout": "Redis accepted the connection but did not answer in time: it is overloaded or "
               "paused, or a proxy holds the traffic (see redis-reachable's latency).",
    "acl-denied": "The ACL user of --redis-url may not run the channel layer's commands (EVAL, "
                  "ZADD, BZPOPMIN, …): give the service's own REDIS_URL for this check.",
    "probe-timeout": "The round trip hung past the probe's timeout: Redis is stuck or "
                     "unreachable (see redis-reachable).",
}
"""What to do per round-trip failure kind (Redis-level kinds fall back to `REMEDIES`)."""

_SUMMARY_KIND = re.compile(r"^round trip failed \(([\w-]+)\)")


def delivery_checks(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                    now: float | None = None) -> dict[str, CheckResult]:
    """``channel-layer`` and ``notification-delivery``."""
    now = time.time() if now is None else now
    facts = ctx.extra.get("channel_layer")
    if not isinstance(facts, ChannelLayerFacts):
        facts = _facts_from(ctx)
    return {"channel-layer": channel_layer(ctx, facts, history, now),
            "notification-delivery": notification_delivery(ctx, facts, history, now)}


def _facts_from(ctx: CheckContext) -> ChannelLayerFacts:
    # A context not made by runtime.check_context: judge from what it says.
    if ctx.kiosk:
        return ChannelLayerFacts(KIOSK, KIOSK)
    rt = None if ctx.redis_configured else "not configured: give --redis-url (or REDIS_URL)"
    return ChannelLayerFacts(rt, rt or (None if ctx.url_configured else
                                        "not configured: give --url"))




def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} ms"


def kind_meaning(kind: str | None) -> str:
    """One line for a round-trip failure kind."""
    if kind == "probe-timeout":
        return "no result within the probe's timeout"
    return ERROR_TEXT.get(kind or "", REDIS_ERROR_TEXT.get(kind or "", "channel layer error"))


# --- channel-layer --------------------------------------------------------------------------

def channel_layer(ctx: CheckContext, facts: ChannelLayerFacts,
                  history: Mapping[str, Sequence[Sample]], now: float) -> CheckResult:
    """Does a send → receive round trip on a fresh channel work from here?"""
    cid = "channel-layer"
    if ctx.kiosk:
        return CheckResult(cid, SKIPPED, KIOSK)
    samples = list(history.get(NAME, ()))
    service = service_round_trip(ctx, history, now)
    if not samples:
        if service is not None:
            return _service_round_trip(service, now)
        if facts.round_trip:
            return CheckResult(cid, SKIPPED, facts.round_trip)
        return CheckResult(cid, UNKNOWN, "waiting for the first round trip")
    last = samples[-1]
    if now - last.at > stale_limit(ctx, NAME):
        if service is not None:
            return _service_round_trip(service, now)
        return stale_result(cid, last, now, "round trip")
    failing = [s for s in samples[-10:] if not s.ok]
    via = getattr(last, "server", "") or "Redis"
    tls = ", TLS" if getattr(last, "tls", False) else ""
    if last.ok:
        evidence = [f"channel-layer probe {sample_age(last, now)}: send "
                    f"{_ms(getattr(last, 'send_ms', None))} + receive "
                    f"{_ms(getattr(last, 'receive_ms', None))} on a fresh channel via {via}{tls}"]
        if failing:
            evidence.append(f"{len(failing)} of the last {min(10, len(samples))} round trips "
                            f"failed (last: {failing[-1].error_kind})")
        evidence.append(LAYER_TEST_FACT)
        rt = getattr(last, "round_trip_ms", None)
        summary = "send → receive works" + (f" in {rt:.1f} ms" if rt is not None else "")
        if failing:
            return CheckResult(cid, WARN, summary + ", with recent failures", tuple(evidence),
                               "The channel layer recovered from failures: watch for repeats.",
                               last.at)
        return CheckResult(cid, PASS, summary, tuple(evidence), "", last.at)
    kind = last.error_kind or "error"
    streak = failing_streak(samples)
    phase = getattr(last, "phase", None)
    evidence = (f"channel-layer probe {sample_age(last, now)}: {last.error}"
                + (f" (during {phase})" if phase and phase != "done" else ""),
                f"{streak} failed round trip(s) in a row, via {via}{tls}", LAYER_TEST_FACT)
    remedy = ROUND_TRIP_REMEDY.get(kind) or REMEDIES.get(
        kind, "See the error: the service's channel layer fails the same way on this Redis.")
    return CheckResult(cid, FAIL, f"round trip failed ({kind}): {kind_meaning(kind)}", evidence,
                       remedy, last.at)


def service_round_trip(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                       now: float) -> Any:
    """The fresh ws-diagnostic sample when it carries the service's own round trip
    (wsmonitor.django), else None."""
    s = _http(ctx, history, "ws-diagnostic", now)
    if s is None or (s.layer_round_trip_ms is None and not s.layer_error_kind):
        return None
    return s


def _service_round_trip(s: Any, now: float) -> CheckResult:
    """``channel-layer`` judged on the round trip the service ran itself (no --redis-url)."""
    cid = "channel-layer"
    evidence = (f"ws-diagnostic {sample_age(s, now)}: the service's send → receive on a fresh "
                f"channel through {s.layer_backend or 'its channel layer'}", LAYER_TEST_FACT)
    if not s.layer_error_kind:
        return CheckResult(cid, PASS, f"send → receive works in the service in "
                           f"{s.layer_round_trip_ms:.1f} ms", evidence, "", s.at)
    kind = s.layer_error_kind
    remedy = ROUND_TRIP_REMEDY.get(kind) or REMEDIES.get(
        kind, "The service's channel layer fails: read the error and CHANNEL_LAYERS.")
    detail = f" ({s.layer_error})" if s.layer_error else ""
    return CheckResult(cid, FAIL, f"round trip failed ({kind}) in the service: "
                       f"{kind_meaning(kind)}", (evidence[0] + detail, evidence[1]), remedy,
                       s.at)


def round_trip_layer(result: CheckResult | None) -> str | None:
    """The diagnosis layer a failing ``channel-layer`` result points at (None: it does not).

    ``redis`` when Redis itself cannot be used, ``plan-limit`` for caps and quotas,
    ``channel-layer`` for failures of the layer on a working Redis; None when it passes or
    when the failure is the monitor's own access (an ACL user without the layer's commands).
    """
    if result is None or result.status != FAIL:
        return None
    m = _SUMMARY_KIND.match(result.summary)
    kind = m.group(1) if m else "error"
    if kind == "acl-denied":
        return None
    if kind in REDIS_DOWN:
        return "redis"
    if kind in PLAN_LIMIT:
        return "plan-limit"
    return "channel-layer"


# --- notification-delivery ------------------------------------------------------------------

def hook_outcome(sample: HandshakeSample) -> tuple[str, str | None, str]:
    """What the delivery hook did on one held socket: (outcome, error kind, detail).

    Outcomes: ``none`` (no hook ran), ``not-due``, ``no-members``, ``failed``, ``unfinished``,
    ``sent``.
    """
    if sample.hook_at_s is None:
        return "none", None, ""
    err = sample.hook_error
    if not err:
        return "sent", None, ""
    name, _, rest = err.partition(": ")
    if name == "DeliveryNotDue":
        return "not-due", None, rest
    if name == "NoGroupMembers":
        return "no-members", None, rest
    if name == "DeliveryFailed":
        kind, _, detail = rest.partition(": ")
        return "failed", kind or "error", detail or rest
    if "did not finish" in err:
        return "unfinished", "timeout", err
    return "failed", "error", err


def delivery_attempts(history: Mapping[str, Sequence[Sample]]) -> list[HandshakeSample]:
    """Held-socket samples on which a notification was (or should have been) sent."""
    return [s for s in _held(history) if isinstance(s, HandshakeSample)
            and hook_outcome(s)[0] not in ("none", "not-due")]


def _group(facts: ChannelLayerFacts, history: Mapping[str, Sequence[Sample]]) -> str:
    for s in reversed(history.get(NAME, ())):
        group = getattr(s, "delivery_group", None)
        if group:
            return group
    return facts.group or "the probe user's group"


def _received(s: HandshakeSample) -> str:
    types = ", ".join(t for t in s.message_types if t not in ("connection.ack", "pong"))
    return (f"the held socket received {s.notifications} message(s) besides ack and pong"
            + (f" (types: {types})" if types else ""))


def delivery_latency_ms(s: HandshakeSample) -> float | None:
    """group_send → the notification on the socket, ms (None: none arrived after it).

    The frame carrying the notification's id when one did; else (recordings made before the
    id) the first message after the group_send."""
    seen = s.notification_seen_s if s.notification_seen_s is not None \
        else s.first_notification_s
    if seen is None or s.hook_at_s is None or seen < s.hook_at_s:
        return None
    return round((seen - s.hook_at_s) * 1000, 3)


def notified(s: HandshakeSample) -> bool:
    """The probe's notification reached the socket: a frame carried its id, whatever shape
    the app's handler gave it (recordings made before the id: a message of its type)."""
    return s.notification_seen_s is not None or PROBE_MESSAGE_TYPE in s.message_types \
        or NOTIFY_EVENT_TYPE in s.message_types


def closed_after_send(s: HandshakeSample) -> tuple[int, float] | None:
    """(close code, seconds after the group_send) when the socket closed once wsmonitor's
    notification was sent and before it arrived; None otherwise."""
    if notified(s) or s.hook_at_s is None:
        return None
    if s.delivery_close_code is not None:
        return s.delivery_close_code, max(0.0, (s.delivery_closed_at_s or s.hook_at_s)
                                          - s.hook_at_s)
    # Recordings made when the notification went out during the hold.
    if s.classification == "closed-after-accept" and s.closed_at_s is not None \
            and s.closed_at_s >= s.hook_at_s:
        return s.close_code or 1006, s.closed_at_s - s.hook_at_s
    return None


def notify_type_remedy(notify_type: str) -> str:
    """What to do when the consumer has no handler for wsmonitor's notification."""
    return (f"Set --notify-type to the type your consumer's handler takes (notification.message "
            f"for notification_message(self, event); now '{notify_type}'): nothing in the app "
            "needs to change for wsmonitor. If the type is already right, the service log shows "
            "what the handler raised on wsmonitor's message.")


def notification_delivery(ctx: CheckContext, facts: ChannelLayerFacts,
                          history: Mapping[str, Sequence[Sample]], now: float) -> CheckResult:
    """Does a ``group_send`` to the probe user's group reach the held socket?"""
    cid = "notification-delivery"
    if ctx.kiosk:
        return CheckResult(cid, SKIPPED, KIOSK)
    attempts = delivery_attempts(history)
    if not attempts and facts.delivery:
        return CheckResult(cid, SKIPPED, facts.delivery)
    primary = [s for s in _held(history) if isinstance(s, HandshakeSample)]
    latest = primary[-1] if primary and now - primary[-1].at <= stale_limit(ctx, PRIMARY) else None
    group = _group(facts, history)
    if latest is not None and latest.classification not in UPGRADED:
        evidence = [describe(latest, now)]
        if attempts:
            evidence.append(f"last delivery attempt {sample_age(attempts[-1], now)}")
        return CheckResult(cid, UNKNOWN, f"no open socket to deliver to "
                           f"({latest.classification})", tuple(evidence), "See handshake-101.",
                           latest.at)
    if not attempts:
        if latest is None:
            return CheckResult(cid, UNKNOWN, "waiting for the first held socket")
        if not latest.hold_s:
            return CheckResult(cid, UNKNOWN, "the socket is not held (--hold 0): nothing to "
                               "deliver to", (describe(latest, now),),
                               "Give --hold of a few seconds.", latest.at)
        if latest.classification == "closed-after-accept":
            return CheckResult(cid, UNKNOWN, "the socket closed before the notification went "
                               "out", (describe(latest, now),), "See stays-open.", latest.at)
        return CheckResult(cid, UNKNOWN, "waiting for the first delivery",
                           (describe(latest, now),), "", latest.at)
    a = attempts[-1]
    if now - a.at > stale_limit(ctx, NAME) + stale_limit(ctx, PRIMARY):
        return stale_result(cid, a, now, "delivery")
    outcome, kind, detail = hook_outcome(a)
    hook_at = a.hook_at_s or 0.0
    evidence = [f"group_send to {group} {sample_age(a, now)}, {hook_at:.2f} s after the 101 of the "
                f"held {a.variant} socket", _received(a)]
    if a.close_code is not None:
        evidence.append(describe(a, now))
    if outcome == "no-members":
        evidence[0] = f"group {group} {sample_age(a, now)}: no member channel, nothing sent"
        return CheckResult(
            cid, FAIL, f"nobody is in group {group}: a notification reaches no socket",
            tuple(evidence),
            "The service adds its sockets to another group: set --group-template to what its "
            "consumer joins (notification_group_name(user.id); default "
            "notifications.user.{user_id}) and check the user id. If the name is right, the "
            "service's CHANNEL_LAYERS uses another Redis or prefix than --redis-url.", a.at)
    if outcome in ("failed", "unfinished"):
        evidence.append(f"group_send: {detail}")
        remedy = ROUND_TRIP_REMEDY.get(kind or "") or REMEDIES.get(
            kind or "", "See channel-layer: the service's group_send fails the same way.")
        return CheckResult(cid, FAIL, f"group_send failed ({kind}): "
                           f"{kind_meaning(kind) if outcome == 'failed' else detail}",
                           tuple(evidence), remedy, a.at)
    latency = delivery_latency_ms(a)
    ours = notified(a)
    recent = delivery_attempts(history)[-10:]
    missed = [s for s in recent[:-1] if not _delivered(s)]
    if ours:
        if latency is not None:
            evidence.insert(1, f"delivery latency {latency:.1f} ms (group_send → the socket)")
        if missed:
            evidence.append(f"{len(missed)} of the last {len(recent)} deliveries failed")
        summary = "delivered to the held socket" + (f" in {latency:.0f} ms"
                                                    if latency is not None else "")
        if missed:
            return CheckResult(cid, WARN, summary + ", with recent failures", tuple(evidence),
                               "Delivery recovered: watch for repeats.", a.at)
        return CheckResult(cid, PASS, summary, tuple(evidence), "", a.at)
    closed = closed_after_send(a)
    if closed is not None:
        # wsmonitor's own message made the consumer close: evidence about the notification's
        # type alone, never a failure of the app (SPEC: a probe of wsmonitor's own never makes
        # another check fail).
        code, after = closed
        how = "dropped the socket" if code == 1006 else f"closed the socket ({code})"
        evidence.append(f"close {code} {after:.2f} s after the group_send, before any frame "
                        "carried the notification's id"
                        + ("; the hold before it passed (see stays-open)"
                           if a.delivery_close_code is not None else ""))
        return CheckResult(
            cid, WARN, f"the consumer {how} {after:.1f} s after wsmonitor's group_send: it has "
            f"no handler for type '{facts.notify_type}'? set --notify-type to your handler's "
            "type", tuple(evidence), notify_type_remedy(facts.notify_type), a.at)
    if a.notifications and latency is not None:
        return CheckResult(cid, WARN, "a message arrived after the group_send, but not "
                           "wsmonitor's notification", tuple(evidence),
                           f"The handler for '{facts.notify_type}' sends something of its own "
                           "instead of forwarding the event: delivery reaches the socket, "
                           "nothing to fix. If that message is unrelated, set --notify-type to "
                           "the type whose handler forwards notifications.", a.at)
    closed_at = a.closed_at_s if a.closed_at_s is not None else a.held_s
    window = max(0.0, (closed_at or 0.0) - hook_at)
    return CheckResult(
        cid, FAIL, f"nothing arrived within {window:.1f} s of the group_send", tuple(evidence),
        f"The group has a member but the socket received nothing: the member is another "
        "(stale) channel and this socket is in no group of that name, or the handler for "
        f"'{facts.notify_type}' forwards nothing (set --notify-type to the type whose handler "
        "sends notifications to the socket). Raise --hold if Redis is slow.", a.at)


def _delivered(s: HandshakeSample) -> bool:
    return hook_outcome(s)[0] == "sent" and notified(s)


# --- reports --------------------------------------------------------------------------------

def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def channel_layer_report(history: Mapping[str, Sequence[Sample]]) -> dict[str, Any] | None:
    """The JSON report's ``probes.channel_layer``: the newest round trip and delivery."""
    samples = list(history.get(NAME, ()))
    attempts = delivery_attempts(history)
    if not samples and not attempts:
        return None
    last = samples[-1] if samples else None
    delivery = None
    if attempts:
        a = attempts[-1]
        outcome, kind, detail = hook_outcome(a)
        delivery = {
            "group": next((getattr(s, "delivery_group", None) for s in reversed(samples)
                           if getattr(s, "delivery_group", None)), None),
            "outcome": outcome, "delivered": _delivered(a),
            "latency_ms": delivery_latency_ms(a), "sent_after_open_s": a.hook_at_s,
            "notifications": a.notifications, "message_types": list(a.message_types),
            "close_code": (closed_after_send(a) or (None,))[0],
            "error_kind": kind, "error": detail or None, "at": _iso(a.at)}
    return {
        "ok": None if last is None else last.ok,
        "round_trip_ms": getattr(last, "round_trip_ms", None),
        "send_ms": getattr(last, "send_ms", None),
        "receive_ms": getattr(last, "receive_ms", None),
        "server": getattr(last, "server", None),
        "tls": getattr(last, "tls", None),
        "error_kind": None if last is None else last.error_kind,
        "error": None if last is None else last.error,
        "at": None if last is None else _iso(last.at),
        "delivery": delivery,
    }


def timing_lines(history: Mapping[str, Sequence[Sample]]) -> list[str]:
    """Markdown bullet lines for the incident report's timings."""
    report = channel_layer_report(history)
    if report is None:
        return []
    lines = []
    if report["round_trip_ms"] is not None:
        lines.append(f"- Channel layer round trip: {report['round_trip_ms']:.1f} ms (send "
                     f"{report['send_ms']:.1f} ms, receive {report['receive_ms']:.1f} ms)")
    d = report["delivery"]
    if d is not None and d["delivered"] and d["latency_ms"] is not None:
        lines.append(f"- Notification delivery: {d['latency_ms']:.1f} ms from group_send to "
                     f"the socket (group `{d['group'] or '?'}`)")
    elif d is not None:
        lines.append(f"- Notification delivery: not delivered ({d['outcome']}, group "
                     f"`{d['group'] or '?'}`)")
    return lines
