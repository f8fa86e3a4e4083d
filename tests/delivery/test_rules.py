"""The channel-layer and notification-delivery rules on samples built for each case: every
outcome the probes can report gets its verdict, its evidence and its remedy."""

from __future__ import annotations

from typing import Any

from wsmonitor.rules.base import CheckContext
from wsmonitor.rules.evaluate import evaluate
from wsmonitor.rules.delivery import channel_layer_report, round_trip_layer, timing_lines
from wsmonitor.config import load_settings
from wsmonitor.plans import load_plans
from wsmonitor.probes.channel_layer import EXTRA_HINT, ChannelLayerFacts, ChannelLayerSample, \
    channel_layer_facts
from wsmonitor.probes.handshake import HandshakeSample
from wsmonitor.runtime import check_context

NOW = 1_800_000_000.0
GROUP = "notifications.user.7"


def ctx(**kw: Any) -> CheckContext:
    kw.setdefault("extra", {"channel_layer": ChannelLayerFacts(group=GROUP)})
    return CheckContext(plan=load_plans()["none"], redis_configured=True, url_configured=True,
                        **kw)


def round_trip(ok: bool = True, at: float = NOW - 1, **kw: Any) -> ChannelLayerSample:
    fields: dict[str, Any] = dict(send_ms=0.9, receive_ms=0.7, round_trip_ms=1.6, phase="done")
    if not ok:
        fields = dict(phase="send", error="connection refused: nothing listens (Error 111)",
                      error_kind="refused")
    fields.update(kw)
    return ChannelLayerSample(probe="channel-layer", at=at, ok=ok, server="10.0.0.5:6379",
                              delivery_group=GROUP, **fields)


def held(at: float = NOW - 1, **kw: Any) -> HandshakeSample:
    fields: dict[str, Any] = dict(
        classification="ok", status=101, status_line="HTTP/1.1 101 Switching Protocols",
        hold_s=2.0, held_s=2.0, ack_received=True, hook_at_s=0.01, notifications=1,
        first_notification_s=0.018, message_types=("connection.ack", "wsmonitor.probe", "pong"))
    fields.update(kw)
    ok = fields["classification"] == "ok"
    return HandshakeSample(probe="handshake:token+origin", at=at, ok=ok,
                           error_kind=None if ok else fields["classification"],
                           variant="token+origin", **fields)


def judge(c: CheckContext, **history: Any) -> dict[str, Any]:
    hist = {"channel-layer": history.get("rt", []),
            "handshake:token+origin": history.get("hs", [])}
    return {r.id: r for r in evaluate(c, hist, NOW)}


def test_round_trip_and_delivery_pass_with_latency_and_group() -> None:
    r = judge(ctx(), rt=[round_trip()], hs=[held()])
    assert r["channel-layer"].status == "pass"
    assert "1.6 ms" in r["channel-layer"].summary
    assert "layer.test() does not exist" in r["channel-layer"].evidence[-1]
    d = r["notification-delivery"]
    assert d.status == "pass" and d.summary == "delivered to the held socket in 8 ms"
    assert GROUP in d.evidence[0]
    assert "8.0 ms" in d.evidence[1] and "wsmonitor.probe" in d.evidence[2]


def test_kiosk_skips_both_even_with_samples() -> None:
    r = judge(ctx(kiosk=True), rt=[round_trip()], hs=[held()])
    for cid in ("channel-layer", "notification-delivery"):
        assert r[cid].status == "skipped" and "kiosk" in r[cid].summary


def test_channels_redis_missing_is_skipped_with_the_extra_to_install() -> None:
    why = f"channels_redis is not installed: {EXTRA_HINT}"
    r = judge(ctx(extra={"channel_layer": ChannelLayerFacts(why, why)}))
    for cid in ("channel-layer", "notification-delivery"):
        assert r[cid].status == "skipped" and "install wsmonitor[channels]" in r[cid].summary


def test_facts_say_why_nothing_runs() -> None:
    base = {"redis_url": "redis://127.0.0.1:6379/0", "url": "ws://127.0.0.1:8000/ws/"}
    f = channel_layer_facts(load_settings({**base, "kiosk": True}, environ={}))
    assert f.round_trip == f.delivery == "writes to Redis: not run in kiosk mode"
    f = channel_layer_facts(load_settings(base, environ={}))
    assert f.round_trip is None and "user id" in (f.delivery or "")
    f = channel_layer_facts(load_settings({**base, "jwt_secret": "k" * 40, "jwt_user_id": "9"},
                                          environ={}), only={"redis"})
    assert f.round_trip is None and "--url" in (f.delivery or "")
    f = channel_layer_facts(load_settings({**base, "jwt_secret": "k" * 40, "jwt_user_id": "9",
                                           "group_template": "user:{user_id}"}, environ={}))
    assert f.group is None and "not a channel-layer group name" in (f.delivery or "")
    settings = load_settings({**base, "jwt_secret": "k" * 40, "jwt_user_id": "9"}, environ={})
    assert channel_layer_facts(settings).group == "notifications.user.9"
    # without the runtime's facts the rules still say what is missing
    r = {c.id: c for c in evaluate(CheckContext(plan=load_plans()["none"]), {}, NOW)}
    assert r["channel-layer"].status == "skipped" and "--redis-url" in r["channel-layer"].summary
    r = {c.id: c for c in evaluate(check_context(settings), {}, NOW)}
    assert r["channel-layer"].status == "unknown" and "waiting" in r["channel-layer"].summary


def test_failing_round_trip_names_kind_and_layer() -> None:
    r = judge(ctx(), rt=[round_trip(), round_trip(ok=False)])
    c = r["channel-layer"]
    assert c.status == "fail" and c.summary.startswith("round trip failed (refused)")
    assert "Error 111" in c.evidence[0] and "(during send)" in c.evidence[0]
    assert "1 failed round trip(s) in a row" in c.evidence[1]
    assert "host and port" in c.remedy
    assert round_trip_layer(c) == "redis"
    lost = judge(ctx(), rt=[round_trip(ok=False, error_kind="lost", phase="receive",
                                       error="sent, but nothing came back")])["channel-layer"]
    assert round_trip_layer(lost) == "channel-layer" and "maxmemory-policy" in lost.remedy
    acl = judge(ctx(), rt=[round_trip(ok=False, error_kind="acl-denied")])["channel-layer"]
    assert round_trip_layer(acl) is None and "service's own REDIS_URL" in acl.remedy
    quota = judge(ctx(), rt=[round_trip(ok=False, error_kind="plan-quota")])["channel-layer"]
    assert round_trip_layer(quota) == "plan-limit"
    assert round_trip_layer(judge(ctx(), rt=[round_trip()])["channel-layer"]) is None


def test_recovered_round_trip_warns_and_stale_one_is_unknown() -> None:
    r = judge(ctx(), rt=[round_trip(ok=False, at=NOW - 20), round_trip()])
    assert r["channel-layer"].status == "warn"
    old = judge(ctx(stale_by_probe={"channel-layer": 60.0}), rt=[round_trip(at=NOW - 61)])
    assert old["channel-layer"].status == "unknown" and "stale" in old["channel-layer"].summary


def test_delivery_not_due_runs_are_not_evidence() -> None:
    later = held(at=NOW - 1, hook_at_s=0.01, hook_error="DeliveryNotDue: next delivery in 600 s",
                 notifications=0, first_notification_s=None,
                 message_types=("connection.ack", "pong"))
    d = judge(ctx(), hs=[held(at=NOW - 30), later])["notification-delivery"]
    assert d.status == "pass" and "30 s ago" in d.evidence[0]


def test_delivery_to_nobody_fails_naming_the_group() -> None:
    s = held(hook_error=f"NoGroupMembers: group {GROUP!r} has no member channel",
             notifications=0, first_notification_s=None, message_types=("connection.ack",))
    d = judge(ctx(), hs=[s])["notification-delivery"]
    assert d.status == "fail" and GROUP in d.summary
    assert "--group-template" in d.remedy and "CHANNEL_LAYERS" in d.remedy


def test_group_send_failure_takes_the_redis_remedy() -> None:
    s = held(hook_error="DeliveryFailed: refused: group_send to 'g' failed: connection refused",
             notifications=0, first_notification_s=None)
    d = judge(ctx(), hs=[s])["notification-delivery"]
    assert d.status == "fail" and d.summary.startswith("group_send failed (refused)")
    assert "host and port" in d.remedy
    slow = held(hook_error="the hook did not finish within the hold", notifications=0,
                first_notification_s=None)
    d = judge(ctx(), hs=[slow])["notification-delivery"]
    assert d.status == "fail" and "did not finish" in d.summary


def test_socket_closed_right_after_the_send_names_notify_type_not_the_app() -> None:
    # The hold passed; then wsmonitor's group_send made the consumer close (no handler for
    # its type): evidence about the notification alone, a warning naming --notify-type.
    s = held(hook_at_s=2.0, delivery_close_code=1011, delivery_closed_at_s=2.03,
             closed_by="server", closed_at_s=2.03, notifications=0, first_notification_s=None,
             message_types=("connection.ack", "pong"))
    r = judge(ctx(), hs=[s])
    d = r["notification-delivery"]
    assert d.status == "warn", d
    assert "closed the socket (1011)" in d.summary and "'notify'" in d.summary
    assert "--notify-type" in d.summary and "--notify-type" in d.remedy
    assert "notification_message(self, event)" in d.remedy
    assert "add" not in d.remedy.lower() and "give it" not in d.remedy
    assert any("hold before it passed" in e for e in d.evidence), d.evidence
    assert r["stays-open"].status == "pass", r["stays-open"]
    named = judge(ctx(extra={"channel_layer": ChannelLayerFacts(
        group=GROUP, notify_type="notification.message")}), hs=[s])["notification-delivery"]
    assert "'notification.message'" in named.summary and named.status == "warn"
    # A recording from when the notification went out during the hold: the same verdict.
    old = held(classification="closed-after-accept", close_code=1011, closed_at_s=0.05,
               closed_by="server", held_s=0.05, notifications=0, first_notification_s=None,
               message_types=("connection.ack",))
    d = judge(ctx(), hs=[old])["notification-delivery"]
    assert d.status == "warn" and "closed the socket (1011)" in d.summary
    assert "--notify-type" in d.remedy and "notify(self, event)" not in d.remedy


def test_notification_recognised_by_its_id_in_any_shape() -> None:
    # The handler forwarded its own shape (no wsmonitor.probe type): the id was seen.
    s = held(message_types=("connection.ack", "pong", "notification"), notification_seen_s=2.012,
             hook_at_s=2.0, first_notification_s=0.5)
    d = judge(ctx(), hs=[s])["notification-delivery"]
    assert d.status == "pass" and d.summary == "delivered to the held socket in 12 ms", d
    section = channel_layer_report({"handshake:token+origin": [s]})
    assert section is not None and section["delivery"]["delivered"] is True
    assert section["delivery"]["latency_ms"] == 12.0 and section["delivery"]["close_code"] is None


def test_nothing_arriving_fails_and_another_message_warns() -> None:
    silent = held(notifications=0, first_notification_s=None, message_types=("connection.ack",))
    d = judge(ctx(), hs=[silent])["notification-delivery"]
    assert d.status == "fail" and "nothing arrived within 2.0 s" in d.summary
    other = held(message_types=("connection.ack", "chat.message"))
    d = judge(ctx(), hs=[other])["notification-delivery"]
    assert d.status == "warn" and "chat.message" in d.evidence[1]


def test_no_open_socket_is_unknown_not_a_delivery_failure() -> None:
    refused = held(classification="forbidden", status=403, hook_at_s=None, notifications=0,
                   first_notification_s=None, message_types=())
    d = judge(ctx(), hs=[held(at=NOW - 20), refused])["notification-delivery"]
    assert d.status == "unknown" and "no open socket" in d.summary
    assert "See handshake-101." == d.remedy
    unheld = held(hold_s=0.0, hook_at_s=None, notifications=0, first_notification_s=None)
    d = judge(ctx(), hs=[unheld])["notification-delivery"]
    assert d.status == "unknown" and "--hold 0" in d.summary
    assert judge(ctx())["notification-delivery"].status == "unknown"


def test_report_section_and_timings() -> None:
    hist = {"channel-layer": [round_trip()], "handshake:token+origin": [held()]}
    section = channel_layer_report(hist)
    assert section is not None
    assert section["ok"] is True and section["round_trip_ms"] == 1.6
    d = section["delivery"]
    assert d["group"] == GROUP and d["delivered"] is True and d["latency_ms"] == 8.0
    assert d["message_types"] == ["connection.ack", "wsmonitor.probe", "pong"]
    assert timing_lines(hist) == [
        "- Channel layer round trip: 1.6 ms (send 0.9 ms, receive 0.7 ms)",
        f"- Notification delivery: 8.0 ms from group_send to the socket (group `{GROUP}`)"]
    assert channel_layer_report({}) is None


def _logs_with(message: str, at: float = NOW - 5) -> list[Any]:
    from wsmonitor.probes.logs import LogEvent, LogsSample

    event = LogEvent(at, "daphne.log", message, category="exception-in-app", severity="error")
    return [LogsSample(probe="logs", at=NOW - 1, ok=True, source="file", target="daphne.log",
                       events=(event,), by_category={"exception-in-app": 1},
                       by_severity={"error": 1}, window_seconds=900.0, events_in_window=1,
                       events_total=1)]


def test_the_exception_wsmonitors_own_group_send_caused_is_not_a_consumer_error() -> None:
    own = ("Exception inside application: No handler for message type notify\nTraceback (most "
           "recent call last):\nValueError: No handler for message type notify")
    c = ctx(logs_configured=True)
    r = {x.id: x for x in evaluate(c, {"logs": _logs_with(own)}, NOW)}
    assert r["consumer-errors"].status == "pass", r["consumer-errors"]
    assert any("wsmonitor's own group_send" in e for e in r["consumer-errors"].evidence)
    # Another type's missing handler is the app's own error: it still fails.
    other = own.replace("type notify", "type notify.digest")
    r = {x.id: x for x in evaluate(c, {"logs": _logs_with(other)}, NOW)}
    assert r["consumer-errors"].status == "fail", r["consumer-errors"]
    # With --notify-type set, the default type's error is no longer wsmonitor's.
    named = ctx(logs_configured=True, extra={"channel_layer": ChannelLayerFacts(
        group=GROUP, notify_type="notification.message")})
    r = {x.id: x for x in evaluate(named, {"logs": _logs_with(own)}, NOW)}
    assert r["consumer-errors"].status == "fail"
    # Kiosk mode sends nothing: nothing is wsmonitor's doing.
    r = {x.id: x for x in evaluate(ctx(logs_configured=True, kiosk=True),
                                   {"logs": _logs_with(own)}, NOW)}
    assert r["consumer-errors"].status == "fail"
