"""The app's own conventions (issue 13 item 4), against the real Django Channels target:
consumers whose notification handler has another name (``--notify-type``) and forwards another
shape of the event. wsmonitor recognises its notification by its id in whatever arrives, and
a consumer that closes on wsmonitor's own ``group_send`` (no handler for its type) is evidence
for ``notification-delivery`` alone: a warning naming ``--notify-type``, never a failed hold
and never a ``consumer`` verdict on a healthy app."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wsmonitor.rules.delivery import delivery_latency_ms, hook_outcome
from wsmonitor.probes.handshake import HOLD_PROBE

from ..delivery.helpers import run_wsmonitor, statuses, validate_report
from .judging import judged_once
from .processes import Target


def variant_url(target: Target, name: str) -> str:
    """The target's consumer variant `name` (tests/target/consumers.py VARIANTS)."""
    assert target.url.endswith("/ws/notifications/"), target.url
    return target.url.replace("/ws/notifications/", f"/ws/variants/{name}/")


def flags(target: Target, name: str, **kw: Any) -> dict[str, Any]:
    return {"url": variant_url(target, name), "jwt_secret": target.secret_key,
            "jwt_user_id": target.user_id,
            "redis_url": target.redis.url + "?socket_timeout=10", **kw}


async def test_no_handler_for_notify_is_a_delivery_warning_not_a_broken_app(
        target: Target) -> None:
    # A healthy app whose consumer handles notification.message only; wsmonitor's default
    # type is notify: the consumer closes 1011 right after wsmonitor's group_send.
    diagnosis, r, history = await judged_once(**flags(target, "message"))
    s = history[HOLD_PROBE][-1]
    assert s.classification == "ok", s  # the hold ran its course: the close came after it
    assert s.held_s >= s.hold_s - 0.5 and s.close_code is None
    assert hook_outcome(s) == ("sent", None, "")
    assert s.hook_at_s >= s.held_s  # the group_send went out once the hold had run its course
    assert s.delivery_close_code == 1011, s
    assert s.delivery_closed_at_s >= s.hook_at_s
    assert s.notification_seen_s is None
    assert r["stays-open"].status == "pass", r["stays-open"]
    assert r["ping-pong"].status == "pass", r["ping-pong"]
    assert r["handshake-101"].status == "pass", r["handshake-101"]
    d = r["notification-delivery"]
    assert d.status == "warn", d
    assert "closed the socket (1011)" in d.summary and "'notify'" in d.summary
    assert "--notify-type" in d.summary and "--notify-type" in d.remedy
    for text in (d.summary, d.remedy):  # never asks the app to change for the monitor
        assert "add a" not in text.lower() and "give it" not in text.lower()
    assert diagnosis.layer == "none", (diagnosis, {c.id: (c.summary, c.evidence) for c in r.values() if c.status == "fail"})
    assert not any(c.status == "fail" for c in r.values()), \
        {c.id: c.summary for c in r.values() if c.status == "fail"}


async def test_notify_type_names_the_handler_and_delivery_passes(target: Target) -> None:
    diagnosis, r, history = await judged_once(**flags(target, "message",
                                                      notify_type="notification.message"))
    s = history[HOLD_PROBE][-1]
    assert s.classification == "ok" and s.delivery_close_code is None, s
    assert s.notification_seen_s is not None and s.notification_seen_s >= s.hook_at_s
    d = r["notification-delivery"]
    assert d.status == "pass", d
    assert f"in {delivery_latency_ms(s):.0f} ms" in d.summary
    assert r["stays-open"].status == "pass"
    assert diagnosis.layer == "none", (diagnosis, {c.id: (c.summary, c.evidence) for c in r.values() if c.status == "fail"})


@pytest.mark.parametrize(("variant", "notify_type", "shape"), [
    ("payload", "new.notification", "notification"),  # event["payload"] wrapped in its own
    ("event", "broadcast", "broadcast"),  # the whole event
    ("json-string", "push-data", None),  # event["data"] as a JSON string inside JSON
])
async def test_notification_recognised_in_whatever_the_handler_forwards(
        target: Target, variant: str, notify_type: str, shape: str | None) -> None:
    diagnosis, r, history = await judged_once(**flags(target, variant, notify_type=notify_type))
    s = history[HOLD_PROBE][-1]
    assert s.classification == "ok", s
    assert s.notification_seen_s is not None, s
    assert "wsmonitor.probe" not in s.message_types  # not recognised by its type: by its id
    if shape is not None:
        assert shape in s.message_types, s.message_types
    d = r["notification-delivery"]
    assert d.status == "pass", d
    assert diagnosis.layer == "none", (diagnosis, {c.id: (c.summary, c.evidence) for c in r.values() if c.status == "fail"})


async def test_a_type_the_consumer_has_no_handler_for_warns_not_fails(target: Target) -> None:
    # This consumer handles new.notification only: notify (given explicitly) reaches no
    # handler there, and it closes 1011.
    _, r, history = await judged_once(**flags(target, "payload", notify_type="notify"))
    assert history[HOLD_PROBE][-1].delivery_close_code == 1011
    assert r["notification-delivery"].status == "warn"
    assert r["stays-open"].status == "pass"


def test_check_cli_names_notify_type_and_exits_0(target: Target) -> None:
    base = ["check", "--url", variant_url(target, "message"), "--jwt-secret",
            target.secret_key, "--jwt-user-id", target.user_id, "--redis-url",
            target.redis.url + "?socket_timeout=10", "--hold", "2", "--json"]
    proc = run_wsmonitor(*base)
    report = json.loads(proc.stdout)
    validate_report(report)
    st = statuses(report)
    assert st["notification-delivery"] == "warn" and st["stays-open"] == "pass", st
    assert report["diagnosis"]["layer"] == "none", report["diagnosis"]
    assert report["probes"]["channel_layer"]["delivery"]["close_code"] == 1011
    assert proc.returncode == 0, (proc.returncode, st)
    proc = run_wsmonitor(*base, "--notify-type", "notification.message")
    report = json.loads(proc.stdout)
    assert statuses(report)["notification-delivery"] == "pass", report["checks"]
    assert report["probes"]["channel_layer"]["delivery"]["delivered"] is True
    assert proc.returncode == 0


async def test_the_exception_wsmonitors_send_caused_fails_no_check(target: Target) -> None:
    """The consumer's traceback for wsmonitor's own group_send, read from the service's log
    as the dashboard reads it, is no consumer error: a probe of wsmonitor's own never makes
    another check fail."""
    import asyncio
    import time

    from wsmonitor.config import load_settings
    from wsmonitor.runtime import build_engine, check_context, judge

    from .judging import HOLD

    settings = load_settings({**flags(target, "message"), "hold": HOLD,
                              "log_file": str(target.daphne.log_path)}, environ={})
    engine = build_engine(settings)
    try:
        await engine.run_once(["logs"])  # at the end of the log, as a running dashboard is
        await engine.run_once([n for n in engine.probes if n != "logs"])
        s = engine.latest(HOLD_PROBE)
        assert s is not None and s.delivery_close_code == 1011, s
        deadline = time.monotonic() + 20
        while engine.latest("logs").events_total == 0 or not any(
                "No handler for message type notify" in e.message
                for x in engine.history("logs") for e in x.events):
            assert time.monotonic() < deadline, target.daphne.log()[-2000:]
            await asyncio.sleep(0.2)
            await engine.run_once(["logs"])
        await engine.run_once(["redis"])  # a command rate needs a second INFO
    finally:
        await engine.close_probes()
    history = {n: engine.history(n) for n in engine.probes}
    diagnosis, results = judge(check_context(settings, engine), history)
    r = {c.id: c for c in results}
    assert r["consumer-errors"].status != "fail", r["consumer-errors"]
    assert any("wsmonitor's own group_send" in e for e in r["consumer-errors"].evidence)
    assert r["notification-delivery"].status == "warn"
    assert diagnosis.layer == "none", (diagnosis, {c.id: (c.summary, c.evidence) for c in r.values() if c.status == "fail"})
