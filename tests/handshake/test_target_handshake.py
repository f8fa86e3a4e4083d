"""The four variants against the real Django Channels target (Daphne, channels_redis, simplejwt,
AllowedHostsOriginValidator), in both rejection styles."""

from __future__ import annotations

import asyncio
import json

from channels_redis.core import RedisChannelLayer

from wsmonitor.config import load_settings
from wsmonitor.engine import Engine
from wsmonitor.probes.handshake import (HOLD_PROBE, PRIMARY_VARIANT, VARIANTS, HandshakeProbe,
                                        HandshakeSample, handshake_probes, probe_handshake)
from wsmonitor.samples import sample_from_dict
from wsmonitor.tokens import TokenSource, decode_token, verify_token

from .processes import Target


def settings_for(target: Target, tmp_path, **flags: object):
    flags.setdefault("url", target.url)
    return load_settings(flags, environ={}, cwd=str(tmp_path))


async def run_variants(probes: list[HandshakeProbe]) -> dict[str, HandshakeSample]:
    """Each probe once, by variant; the held socket's sample under ``hold``."""
    samples = await asyncio.gather(*(p.run() for p in probes))
    return {HOLD_PROBE if s.probe == HOLD_PROBE else s.variant: s for s in samples}


def assert_no_secret(samples, *secrets_: str) -> None:
    for sample in samples:
        text = json.dumps(sample.to_dict())
        for secret in secrets_:
            assert secret not in text
        assert "eyJ" not in text  # no JWT at all, registered or not


async def test_healthy_target_all_variants_as_expected(target: Target, tmp_path) -> None:
    settings = settings_for(target, tmp_path, jwt_secret=target.secret_key,
                            jwt_user_id=target.user_id)
    probes = handshake_probes(settings, hold=1.5, short_hold=0.5)
    # Every variant on a fresh socket, and the held socket as a probe of its own.
    assert [p.name for p in probes] == [f"handshake:{v}" for v in VARIANTS] + [HOLD_PROBE]
    got = await run_variants(probes)
    fresh = got[PRIMARY_VARIANT]
    assert fresh.classification == "ok" and fresh.hold_s == 0.5 and fresh.held_s < 1.5
    ok = got[HOLD_PROBE]
    assert ok.variant == PRIMARY_VARIANT
    assert ok.classification == "ok" and ok.ok and ok.status == 101
    assert ok.status_line == "HTTP/1.1 101 Switching Protocols" and ok.server == "daphne"
    assert ok.token_sent and ok.token_source == "minted" and ok.origin == target.origin
    assert ok.ack_received and ok.message_types[0] == "connection.ack"
    assert ok.pings_sent >= 1 and ok.pongs_received == ok.pings_sent and ok.ping_rtt_ms > 0
    assert ok.app_ping_sent and ok.app_pong_ms is not None and ok.notifications == 0
    assert ok.closed_by == "client" and ok.close_code is None and ok.held_s >= 1.5
    t = ok.timings_ms
    assert None not in (t.tcp, t.upgrade, t.first_message)
    assert t.tls is None and t.dns is None  # ws:// to an IP literal: no TLS, no resolution
    for variant in ("no-token", "no-origin", "wrong-origin"):
        s = got[variant]
        assert s.classification == "forbidden", (variant, s.error)
        assert (s.status, s.reason, s.headers) == (403, "Access denied", ())
        assert s.status_line == "HTTP/1.1 403 Access denied" and not s.ok
    assert not got["no-token"].token_sent and got["no-origin"].origin is None
    assert got["wrong-origin"].origin == "https://wsmonitor-wrong-origin.invalid"
    assert_no_secret(got.values(), target.secret_key)


async def test_given_token_is_used_as_given(target: Target, tmp_path) -> None:
    token = target.token()
    settings = settings_for(target, tmp_path, token=token)
    probe = handshake_probes(settings, hold=0.2, variants=(PRIMARY_VARIANT,))[0]
    s = await probe.run()
    assert s.classification == "ok" and s.token_source == "given"
    assert_no_secret([s], token)


async def test_wrong_origin_configured(target: Target, tmp_path) -> None:
    settings = settings_for(target, tmp_path, origin="https://app.example.com",
                            jwt_secret=target.secret_key, jwt_user_id=target.user_id)
    got = await run_variants(handshake_probes(settings, hold=0.2, short_hold=0.2))
    assert {v: s.classification for v, s in got.items()} == dict.fromkeys(
        (*VARIANTS, HOLD_PROBE), "forbidden")


async def test_no_token(target: Target, tmp_path) -> None:
    got = await run_variants(handshake_probes(settings_for(target, tmp_path), hold=0.2))
    s = got[PRIMARY_VARIANT]
    assert s.classification == "forbidden" and not s.token_sent and s.token_source is None
    assert "token=" not in s.url


async def test_expired_token(target: Target) -> None:
    expired = target.token(lifetime=-30)
    assert decode_token(expired).expired
    probe = HandshakeProbe(target.url, origin=target.origin, tokens=TokenSource(expired),
                           hold=0.2)
    s = await probe.run()
    assert s.classification == "forbidden" and s.token_sent
    assert_no_secret([s], expired)


async def test_wrong_signing_key(target: Target) -> None:
    tokens = TokenSource(secret="not-the-service-key-" + "x" * 40, user_id=target.user_id)
    s = await HandshakeProbe(target.url, origin=target.origin, tokens=tokens, hold=0.2).run()
    assert s.classification == "forbidden" and s.token_source == "minted"


async def test_unknown_user(target: Target) -> None:
    tokens = TokenSource(secret=target.secret_key, user_id="987654")
    s = await HandshakeProbe(target.url, origin=target.origin, tokens=tokens, hold=0.2).run()
    assert s.classification == "forbidden"


async def test_minted_token_verifies_with_service_key(target: Target) -> None:
    info = verify_token(TokenSource(secret=target.secret_key, user_id=target.user_id).get(),
                        target.secret_key)
    assert info.user_id == target.user_id and info.signature_verified


async def test_accept_then_close_4401_style(target_4401: Target, tmp_path) -> None:
    settings = settings_for(target_4401, tmp_path, jwt_secret=target_4401.secret_key,
                            jwt_user_id=target_4401.user_id)
    got = await run_variants(handshake_probes(settings, hold=0.5, short_hold=1.0))
    assert got[PRIMARY_VARIANT].classification == "ok"
    rejected = got["no-token"]
    assert rejected.classification == "closed-after-accept" and rejected.status == 101
    assert (rejected.close_code, rejected.closed_by) == (4401, "server")
    assert rejected.closed_at_s < 1.0 and not rejected.ack_received
    # Origin validation sits in front of the consumer: still Daphne's 403.
    assert got["no-origin"].classification == "forbidden"
    assert got["wrong-origin"].classification == "forbidden"


async def test_notification_reaches_held_socket(target: Target) -> None:
    layer = RedisChannelLayer(hosts=[target.redis.url])

    async def notify() -> None:
        await layer.group_send(f"notifications.user.{target.user_id}",
                               {"type": "notify", "message": {"type": "notification.new",
                                                              "id": 1}})

    try:
        s = await HandshakeProbe(target.url, origin=target.origin, hold=1.0, on_open=notify,
                                 tokens=TokenSource(target.token())).run()
    finally:
        await layer.close_pools()
    assert s.classification == "ok" and s.notifications == 1 and s.hook_error is None
    assert "notification.new" in s.message_types and s.messages_received == 3
    assert s.hook_at_s is not None and s.first_notification_s > s.hook_at_s


async def test_failing_hook_is_recorded_not_raised(target: Target) -> None:
    async def broken() -> None:
        raise ConnectionError(f"cannot reach redis://:hunter2pw@{target.redis.url[8:]}")

    s = await probe_handshake(target.url, origin=target.origin, token=target.token(),
                              hold=0.5, on_open=broken)
    assert s.classification == "ok" and s.notifications == 0
    assert s.hook_error.startswith("ConnectionError: cannot reach redis://:***@")


async def test_engine_runs_variant_probes_and_replays(target: Target, tmp_path) -> None:
    settings = settings_for(target, tmp_path, jwt_secret=target.secret_key,
                            jwt_user_id=target.user_id)
    engine = Engine(handshake_probes(settings, hold=0.2, short_hold=0.2))
    samples = await engine.run_once()
    assert [s.probe for s in samples] == [f"handshake:{v}" for v in VARIANTS] + [HOLD_PROBE]
    assert engine.latest("handshake:no-token").classification == "forbidden"
    for sample in samples:
        again = sample_from_dict(json.loads(json.dumps(sample.to_dict())))
        assert again == sample
    await engine.close_probes()


async def test_held_socket_is_published_at_the_101_then_at_the_end_of_the_hold(
        target: Target, tmp_path) -> None:
    from wsmonitor.rules.base import CheckContext
    from wsmonitor.rules.websocket import attempts, websocket_checks
    from wsmonitor.plans import load_plans

    settings = settings_for(target, tmp_path, jwt_secret=target.secret_key,
                            jwt_user_id=target.user_id)
    probes = handshake_probes(settings, hold=3.0, short_hold=3.0)
    engine = Engine(probes)
    seen: list[HandshakeSample] = []
    engine.subscribe(lambda s: seen.append(s))  # type: ignore[arg-type, return-value]
    await engine.run_once([HOLD_PROBE, f"handshake:{PRIMARY_VARIANT}", "handshake:no-origin"])
    await engine.close_probes()
    primary = [s for s in seen if s.probe == HOLD_PROBE]
    assert [s.interim for s in primary] == [True, False]
    early, final = primary
    # The handshake is final at the 101; the hold's figures come with the run's own sample.
    assert early.classification == "ok" and early.status == 101 and early.ack_received
    assert early.timings_ms == final.timings_ms and early.at < final.at
    assert early.held_s is not None and final.held_s is not None
    assert early.held_s < final.held_s and final.held_s >= 3.0
    assert early.hook_at_s is None and final.pings_sent >= early.pings_sent
    # Only the held socket does it (a fresh socket's short hold is a check, not a hold).
    assert [s.interim for s in seen if s.variant == "no-origin"] == [False]
    assert [s.interim for s in seen if s.probe == f"handshake:{PRIMARY_VARIANT}"] == [False]
    assert sample_from_dict(json.loads(json.dumps(early.to_dict()))) == early
    # One attempt each, whatever the history holds.
    assert attempts(primary) == [final] and attempts([early]) == [early]

    ctx = CheckContext(plan=load_plans()["none"], url_configured=True, stale_after=60.0)
    now = early.at + 1
    first = websocket_checks(ctx, {f"handshake:{PRIMARY_VARIANT}": [early]}, now)
    assert first["handshake-101"].status == "pass"
    assert first["stays-open"].status == "unknown"
    assert "holding a socket" in first["stays-open"].summary
    # Holding the next socket: the last finished hold still stands.
    later = websocket_checks(ctx, {f"handshake:{PRIMARY_VARIANT}": [early, final, early]},
                             final.at + 1)
    assert later["stays-open"].status == "pass" and later["ping-pong"].status == "pass"
    assert later["handshake-101"].summary == "101 Switching Protocols"
