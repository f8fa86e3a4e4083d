"""wsmonitor's pure rules on the companion's fields: what each answer shape decides, and that the
runbook's plain answer decides nothing new (samples as the probes make them)."""

from __future__ import annotations

from typing import Any

from wsmonitor.rules.base import CheckContext, TokenFacts
from wsmonitor.plans import load_plans
from wsmonitor.probes.handshake import HandshakeSample
from wsmonitor.probes.http import HttpSample, companion_fields
from wsmonitor.runtime import judge

NOW = 1_000_000.0
PLAIN = {"redis_configured": True, "redis_connected": True, "channel_layer_available": True}
RICH = {**PLAIN, "channel_layer": {"backend": "channels_redis.core.RedisChannelLayer",
                                   "round_trip_ms": 2.5, "error": None, "error_kind": None},
        "allowed_hosts": ["api.example.com", ".example.org"], "origin_validator": True,
        "origin_validation": {"validator": "AllowedHostsOriginValidator",
                              "allowed_origins": ["api.example.com", ".example.org"]}}


def ctx() -> CheckContext:
    # A token wsmonitor cannot verify: from the wire alone, 403 is Origin or auth.
    return CheckContext(plan=load_plans()["none"], url_configured=True, http_configured=True,
                        token=TokenFacts(source="given", token_type="access", user_id="1",
                                         exp=NOW + 600, has_jti=True))


def shake(variant: str, origin: str | None, classification: str = "forbidden") -> HandshakeSample:
    return HandshakeSample(probe=f"handshake:{variant}", at=NOW - 1, ok=classification == "ok",
                           variant=variant, classification=classification, origin=origin,
                           status=403 if classification == "forbidden" else 101,
                           error_kind=None if classification == "ok" else classification,
                           phase="done", elapsed_s=0.003)


def http(endpoint: str, body: dict[str, Any]) -> HttpSample:
    fields = companion_fields(body, str) if endpoint == "ws-diagnostic" else {}
    summary = tuple((k, v if not isinstance(v, (dict, list)) else str(v))
                    for k, v in body.items())
    return HttpSample(probe=f"http:{endpoint}", at=NOW - 1, ok=True, endpoint=endpoint,
                      status=200, json_ok=True, healthy=True, summary=summary, auth_sent=True,
                      **fields)


def history(origin: str, body: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        "handshake:token+origin": [shake("token+origin", origin)],
        "handshake:no-token": [shake("no-token", origin)],
        "handshake:no-origin": [shake("no-origin", None)],
        "handshake:wrong-origin": [shake("wrong-origin", "https://x.invalid")],
        "http:redis-health": [http("redis-health", {"status": "ok", "redis": "connected"})],
        "http:ws-diagnostic": [http("ws-diagnostic", body)],
    }


def test_plain_answer_adds_nothing() -> None:
    assert companion_fields(PLAIN, str) == {}
    diagnosis, results = judge(ctx(), history("https://app.example.com", PLAIN), NOW)
    r = {x.id: x for x in results}
    assert r["allowed-hosts"].status == "unknown"  # as before: Origin or auth
    assert r["channel-layer"].status == "skipped"
    assert diagnosis.layer == "unknown"


def test_origin_not_allowed_is_origin_confirmed() -> None:
    diagnosis, results = judge(ctx(), history("https://app.example.com", RICH), NOW)
    r = {x.id: x for x in results}
    assert r["allowed-hosts"].status == "fail"
    assert "app.example.com is not in its ALLOWED_HOSTS" in r["allowed-hosts"].summary
    assert (diagnosis.layer, diagnosis.confidence) == ("origin", "confirmed")
    assert r["channel-layer"].status == "pass" and "2.5 ms" in r["channel-layer"].summary


def test_subdomain_pattern_allows_and_names_the_consumer_as_likely() -> None:
    diagnosis, results = judge(ctx(), history("https://www.example.org:8443", RICH), NOW)
    r = {x.id: x for x in results}
    assert r["allowed-hosts"].status == "pass" and "not Origin" in r["allowed-hosts"].summary
    # The same token got 200 from ws-diagnostic: the consumer refuses, not simplejwt.
    assert (diagnosis.layer, diagnosis.confidence) == ("consumer", "likely")


def test_no_validator_is_never_an_origin_verdict() -> None:
    body = {**RICH, "origin_validator": False, "origin_validation": {"validator": None}}
    diagnosis, results = judge(ctx(), history("https://app.example.com", body), NOW)
    assert {x.id: x for x in results}["allowed-hosts"].status == "unknown"
    assert diagnosis.layer != "origin"


def test_service_round_trip_failure_feeds_channel_layer() -> None:
    body = {**RICH, "redis_connected": False, "redis_error": "refused",
            "channel_layer": {**RICH["channel_layer"], "round_trip_ms": None,
                              "error": "connection refused", "error_kind": "refused"}}
    h = history("https://api.example.com", body)
    h["http:ws-diagnostic"] = [_unhealthy(body)]
    _, results = judge(ctx(), h, NOW)
    cl = {x.id: x for x in results}["channel-layer"]
    assert cl.status == "fail" and cl.summary.startswith("round trip failed (refused) in the "
                                                         "service")


def _unhealthy(body: dict[str, Any]) -> HttpSample:
    return HttpSample(probe="http:ws-diagnostic", at=NOW - 1, ok=False, endpoint="ws-diagnostic",
                      status=200, json_ok=True, healthy=False, error_kind="unhealthy",
                      auth_sent=True, **companion_fields(body, str))


def test_rate_limited_answer_is_no_view() -> None:
    h = history("https://api.example.com", RICH)
    h["http:redis-health"] = [HttpSample(probe="http:redis-health", at=NOW - 1, ok=False,
                                         endpoint="redis-health", status=429,
                                         error_kind="rate-limited", json_ok=True)]
    _, results = judge(ctx(), h, NOW)
    de = {x.id: x for x in results}["diagnostic-endpoints"]
    assert de.status == "unknown" and "429" in de.summary
