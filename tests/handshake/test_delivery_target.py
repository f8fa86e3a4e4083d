"""Notification delivery through the real Django Channels target: a ``group_send`` to the probe
user's group reaches the held socket, over plain and TLS Redis; a wrong group fails with
evidence; kiosk mode never writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wsmonitor.rules.delivery import delivery_latency_ms, hook_outcome
from wsmonitor.config import load_settings
from wsmonitor.probes.channel_layer import PROBE_MESSAGE_TYPE, ChannelLayerSample
from wsmonitor.probes.handshake import HOLD_PROBE, HandshakeSample
from wsmonitor.runtime import build_engine, build_probes, check_context, judge

from .judging import HOLD, judged_once
from .processes import DaphneProcess, Target

verdict = judged_once


def minted(target: Target) -> dict[str, Any]:
    return {"url": target.url, "jwt_secret": target.secret_key, "jwt_user_id": target.user_id,
            "redis_url": target.redis.url + "?socket_timeout=10"}


def held(history: dict[str, list[Any]]) -> HandshakeSample:
    """The held socket's sample (the ``hold`` probe: delivery goes to it)."""
    sample = history[HOLD_PROBE][-1]
    assert isinstance(sample, HandshakeSample)
    return sample


async def test_delivery_reaches_the_held_socket(target: Target) -> None:
    diagnosis, r, history = await verdict(**minted(target))
    s = held(history)
    assert s.classification == "ok", s
    assert hook_outcome(s) == ("sent", None, "")
    assert PROBE_MESSAGE_TYPE in s.message_types, s.message_types
    latency = delivery_latency_ms(s)
    assert latency is not None and latency >= 0
    group = f"notifications.user.{target.user_id}"
    d = r["notification-delivery"]
    assert d.status == "pass", d
    assert f"in {latency:.0f} ms" in d.summary
    assert any(group in e for e in d.evidence), d.evidence
    assert any(PROBE_MESSAGE_TYPE in e for e in d.evidence), d.evidence
    cl = r["channel-layer"]
    assert cl.status == "pass", cl
    rt = history["channel-layer"][-1]
    assert isinstance(rt, ChannelLayerSample) and rt.delivery_group == group
    assert diagnosis.layer == "none", diagnosis


async def test_delivery_with_the_token_given_takes_its_user_id(target: Target) -> None:
    # No --jwt-user-id: the group comes from the token's user_id claim.
    _, r, history = await verdict(url=target.url, token=target.token(),
                                  redis_url=target.redis.url + "?socket_timeout=10")
    assert r["notification-delivery"].status == "pass", r["notification-delivery"]
    assert history["channel-layer"][-1].delivery_group == f"notifications.user.{target.user_id}"


async def test_wrong_group_template_fails_with_the_group_named(target: Target) -> None:
    diagnosis, r, history = await verdict(**minted(target),
                                          group_template="alerts.{user_id}")
    s = held(history)
    assert s.classification == "ok", s  # the socket itself is fine
    assert hook_outcome(s)[0] == "no-members", s.hook_error
    assert s.notifications == 0
    d = r["notification-delivery"]
    assert d.status == "fail", d
    group = f"alerts.{target.user_id}"
    assert group in d.summary and "nobody" in d.summary
    assert any(group in e for e in d.evidence)
    assert "--group-template" in d.remedy
    assert r["channel-layer"].status == "pass"  # the layer works: the name is wrong
    assert diagnosis.layer == "consumer" and "notification-delivery" in diagnosis.checks


async def test_kiosk_never_writes(target: Target) -> None:
    settings = load_settings({**minted(target), "kiosk": True, "hold": HOLD}, environ={})
    probes = build_probes(settings)
    assert "channel-layer" not in {p.name for p in probes}
    assert all(getattr(p, "on_open", None) is None for p in probes)
    _, r, history = await verdict(**minted(target), kiosk=True)
    assert held(history).hook_at_s is None
    for cid in ("channel-layer", "notification-delivery"):
        assert r[cid].status == "skipped" and "kiosk" in r[cid].summary, r[cid]


async def test_only_handshake_does_not_deliver(target: Target) -> None:
    settings = load_settings({**minted(target), "hold": HOLD}, environ={})
    probes = build_probes(settings, only={"handshake"})
    assert all(getattr(p, "on_open", None) is None for p in probes)
    ctx = check_context(settings, None, only={"handshake"})
    _, results = judge(ctx, {})
    r = {c.id: c for c in results}
    assert r["channel-layer"].status == "skipped" and "--redis-url" in r["channel-layer"].summary


@pytest.fixture
def tls_target(tmp_path: Path, target_db: tuple[Path, str], redis_tls: Any) -> Any:
    """The target on a TLS-only Redis, its channel layer trusting the test CA by URL."""
    url = f"{redis_tls.url}?ssl_cert_reqs=required&ssl_ca_certs={redis_tls.ca_path}"
    daphne = DaphneProcess(tmp_path, db=target_db[0], redis_url=url, name="daphne-tls-redis")
    daphne.start()
    try:
        yield Target(daphne=daphne, redis=redis_tls, user_id=target_db[1])
    finally:
        daphne.stop()


async def test_delivery_and_round_trip_over_tls_redis(tls_target: Target) -> None:
    server = tls_target.redis
    diagnosis, r, history = await verdict(
        url=tls_target.url, jwt_secret=tls_target.secret_key, jwt_user_id=tls_target.user_id,
        redis_url=server.url + "?socket_timeout=10", redis_ca=server.ca_path)
    rt = history["channel-layer"][-1]
    assert rt.ok and rt.tls, rt
    assert r["channel-layer"].status == "pass" and "TLS" in r["channel-layer"].evidence[0]
    assert r["notification-delivery"].status == "pass", r["notification-delivery"]
    assert PROBE_MESSAGE_TYPE in held(history).message_types
    assert diagnosis.layer == "none", diagnosis


async def test_replay_reproduces_the_delivery_verdicts(target: Target, tmp_path: Path) -> None:
    from wsmonitor.recorder import Recorder, recording_header
    from wsmonitor.replay import ReplayEngine, load_recording, replay_settings

    settings = load_settings({**minted(target), "hold": HOLD}, environ={})
    engine = build_engine(settings)
    path = tmp_path / "rec.jsonl"
    recorder = Recorder(str(path), recording_header(settings, engine))
    engine.subscribe(recorder)
    try:
        await engine.run_once()
    finally:
        await engine.close_probes()
        recorder.close()
    history = {n: engine.history(n) for n in engine.probes}
    now = max(s.at for h in history.values() for s in h)
    _, live = judge(check_context(settings, engine), history, now)

    recording = load_recording(str(path))
    replayed_rt = [s for s in recording.samples if s.probe == "channel-layer"]
    assert len(replayed_rt) == 1 and isinstance(replayed_rt[0], ChannelLayerSample)
    player = ReplayEngine(recording, speed=50)
    player.start()
    assert player.finished.wait(30)
    player.stop()
    replay_history = {n: player.history(n) for n in player.probes}
    _, replayed = judge(check_context(replay_settings(recording), player), replay_history,
                        player.now())
    ids = ("channel-layer", "notification-delivery")
    pick = {r.id: (r.status, r.summary, r.evidence) for r in live if r.id in ids}
    assert pick["notification-delivery"][0] == "pass"
    assert {r.id: (r.status, r.summary, r.evidence) for r in replayed if r.id in ids} == pick
