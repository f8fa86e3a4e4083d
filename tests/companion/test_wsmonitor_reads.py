"""wsmonitor's own checks and diagnosis reading the companion's richer answers (SPEC: an Origin
whose host is not in allowed_hosts is ``origin``, ``confirmed``; the service's round trip feeds
``channel-layer``), with every probe run for real against Daphne."""

from __future__ import annotations

from typing import Any

from tests.handshake.judging import judged_once
from wsmonitor.rules.websocket import ORIGIN_NOT_ALLOWED

from .harness import SECRET_KEY, CompanionDaphne, Users
from .test_redis_down import fragile  # noqa: F401 - the fixture


def minted(daphne: CompanionDaphne, users: Users) -> dict[str, Any]:
    return {"url": daphne.ws_url, "jwt_secret": SECRET_KEY, "jwt_user_id": users.user_id}


async def test_healthy_companion(companion: CompanionDaphne, users: Users) -> None:
    diagnosis, r, history = await judged_once(**minted(companion, users))
    diag = history["http:ws-diagnostic"][-1]
    assert diag.allowed_hosts == ("127.0.0.1", "localhost") and diag.origin_validator is True
    assert diag.origin_patterns == ("127.0.0.1", "localhost")
    assert diag.layer_backend == "channels_redis.core.RedisChannelLayer"
    assert r["allowed-hosts"].status == "pass"
    # No --redis-url: the channel-layer check rests on the service's own round trip.
    assert r["channel-layer"].status == "pass", r["channel-layer"]
    assert "in the service" in r["channel-layer"].summary
    endpoints = r["diagnostic-endpoints"]
    assert endpoints.status == "pass"
    assert any("ALLOWED_HOSTS [127.0.0.1, localhost]; Origin validator on" in e
               for e in endpoints.evidence)
    assert diagnosis.layer == "none", diagnosis


async def test_origin_not_in_allowed_hosts_is_confirmed(companion: CompanionDaphne,
                                                        users: Users) -> None:
    # A token wsmonitor cannot verify (no --jwt-secret): from the wire alone, a 403 on every
    # variant is Origin or auth (the plain target says unknown). The service's answer decides.
    diagnosis, r, _ = await judged_once(url=companion.ws_url, token=users.token(),
                                        origin="https://app.example.com")
    assert r["handshake-101"].status == "fail" and "forbidden" in r["handshake-101"].summary
    ah = r["allowed-hosts"]
    assert ah.status == "fail" and ah.summary.startswith(ORIGIN_NOT_ALLOWED)
    assert "app.example.com is not in its ALLOWED_HOSTS" in ah.summary
    assert any(e.startswith("ws-diagnostic: the service's Origin validator allows "
                            "[127.0.0.1, localhost]") for e in ah.evidence)
    assert diagnosis.layer == "origin" and diagnosis.confidence == "confirmed", diagnosis
    assert "'app.example.com'" in diagnosis.remedy and "ALLOWED_HOSTS" in diagnosis.remedy


async def test_origin_confirmed_while_redis_is_down(fragile, users: Users) -> None:  # noqa: F811
    daphne, server = fragile
    server.stop()
    diagnosis, r, _ = await judged_once(url=daphne.ws_url, token=users.token(),
                                        origin="https://app.example.com")
    assert r["channel-layer"].status == "fail", r["channel-layer"]
    assert r["channel-layer"].summary.startswith("round trip failed (refused) in the service")
    assert r["allowed-hosts"].status == "fail"
    # The validator refuses before the consumer (and its Redis) is reached: Origin first.
    assert diagnosis.layer == "origin" and diagnosis.confidence == "confirmed", diagnosis
    assert "Redis is failing too" in diagnosis.summary



async def test_api_host_not_in_allowed_hosts(tmp_path, users: Users,
                                             companion_redis) -> None:  # noqa: ANN001
    # ALLOWED_HOSTS has the site's domain but not the API's host: Django answers every HTTP
    # request 400 (the polling fallback too) while the WebSocket Origin check passes.
    daphne = CompanionDaphne(tmp_path, users.db, companion_redis.url,
                             allowed_hosts="app.example.com").start()
    try:
        diagnosis, r, _ = await judged_once(**minted(daphne, users),
                                            origin="https://app.example.com")
    finally:
        daphne.stop()
    assert r["handshake-101"].status == "pass" and r["allowed-hosts"].status == "pass"
    de = r["diagnostic-endpoints"]
    assert de.status == "fail" and "the API's host is not in ALLOWED_HOSTS" in de.summary
    assert "Add '127.0.0.1' to ALLOWED_HOSTS" in de.remedy
    assert r["polling-fallback"].status == "fail"
    assert "ALLOWED_HOSTS" in r["polling-fallback"].remedy
    assert "ALLOWED_HOSTS" in diagnosis.remedy
