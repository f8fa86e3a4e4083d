"""Check verdicts and the diagnosis against the real Django Channels target and misbehaving
servers: each scenario produces exactly its verdict."""

from __future__ import annotations

from typing import Any

from .judging import judged_once


async def verdict(**flags: Any) -> tuple[Any, dict[str, Any]]:
    diagnosis, results, _ = await judged_once(**flags)
    return diagnosis, results


def minted(target: Any) -> dict[str, Any]:
    return {"url": target.url, "jwt_secret": target.secret_key, "jwt_user_id": target.user_id}


async def test_healthy_target_passes_everything(target) -> None:  # noqa: ANN001
    diagnosis, r = await verdict(**minted(target), redis_url=target.redis.url +
                                 "?socket_timeout=10")
    for cid in ("platform-websocket", "allowed-hosts", "jwt-valid", "handshake-101",
                "stays-open", "ping-pong", "polling-fallback", "diagnostic-endpoints",
                "redis-reachable", "redis-url", "redis-connections"):
        assert r[cid].status == "pass", (cid, r[cid])
    assert "connection.ack received" in r["stays-open"].summary
    assert diagnosis.layer == "none", diagnosis


async def test_wrong_origin_is_origin(target) -> None:  # noqa: ANN001
    diagnosis, r = await verdict(**minted(target), origin="https://evil.example.com")
    assert r["handshake-101"].status == "fail"
    assert "forbidden" in r["handshake-101"].summary
    assert r["allowed-hosts"].status == "fail"
    assert r["jwt-valid"].status != "fail"
    assert diagnosis.layer == "origin"
    assert "ALLOWED_HOSTS" in diagnosis.remedy


async def test_expired_token_is_auth(target) -> None:  # noqa: ANN001
    diagnosis, r = await verdict(url=target.url, token=target.token(lifetime=-60))
    assert r["jwt-valid"].status == "fail" and "expired" in r["jwt-valid"].summary
    assert r["allowed-hosts"].status == "unknown"  # 403 everywhere: auth fails first
    assert diagnosis.layer == "auth"


OTHER_KEY = "some-other-environment-key-0123456789"


async def test_token_signed_with_another_key_is_auth(target) -> None:  # noqa: ANN001
    from wsmonitor.tokens import mint_access_token

    token = mint_access_token(OTHER_KEY, target.user_id)
    diagnosis, r = await verdict(url=target.url, token=token, jwt_secret=target.secret_key)
    assert r["jwt-valid"].status == "fail" and "signature" in r["jwt-valid"].summary
    assert diagnosis.layer == "auth"


async def test_wrong_jwt_secret_given_to_wsmonitor_is_only_a_warning(target) -> None:  # noqa: ANN001
    # the service accepts the token: it is wsmonitor's --jwt-secret that is wrong
    diagnosis, r = await verdict(url=target.url, token=target.token(), jwt_secret=OTHER_KEY)
    assert r["jwt-valid"].status == "warn" and "--jwt-secret" in r["jwt-valid"].summary
    assert r["handshake-101"].status == "pass"
    assert diagnosis.layer == "none"


async def test_http_401_with_the_same_token_names_auth(target) -> None:  # noqa: ANN001
    from wsmonitor.tokens import mint_access_token

    # no key for wsmonitor, but the authenticated endpoints say 401 to the same token
    token = mint_access_token(OTHER_KEY, target.user_id)
    diagnosis, r = await verdict(url=target.url, token=token)
    assert r["jwt-valid"].status == "fail" and "401" in r["jwt-valid"].summary
    assert r["diagnostic-endpoints"].status == "unknown"
    assert diagnosis.layer == "auth"


async def test_unverifiable_token_403_is_unknown_not_a_guess(target, refused_port) -> None:  # noqa: ANN001
    from wsmonitor.tokens import mint_access_token

    # signed with another key, no key for wsmonitor, no HTTP endpoint to ask: 403 everywhere
    token = mint_access_token(OTHER_KEY, target.user_id)
    diagnosis, r = await verdict(url=target.url, token=token,
                                 api_base=f"http://127.0.0.1:{refused_port}")
    assert r["handshake-101"].status == "fail"
    assert r["allowed-hosts"].status == "unknown"
    assert diagnosis.layer == "unknown"
    assert "--jwt-secret" in r["allowed-hosts"].remedy


async def test_accept_then_close_4401_is_auth_and_origin_passes(target_4401) -> None:  # noqa: ANN001
    diagnosis, r = await verdict(url=target_4401.url, token=target_4401.token(lifetime=-60))
    assert r["handshake-101"].status == "pass"  # 101 came; the close follows
    assert r["stays-open"].status == "fail" and "4401" in r["stays-open"].summary
    assert r["allowed-hosts"].status == "pass"
    assert diagnosis.layer == "auth"


async def test_redis_stopped_raising_consumer_is_redis(fragile) -> None:  # noqa: ANN001
    fragile.redis.stop()
    try:
        diagnosis, r = await verdict(**minted(fragile.raising))
    finally:
        fragile.redis.start()
    assert r["handshake-101"].status == "fail"
    assert r["diagnostic-endpoints"].status == "fail"
    assert r["redis-reachable"].status == "fail"
    assert "service" in r["redis-reachable"].summary
    assert diagnosis.layer == "redis"


async def test_redis_stopped_fix3_consumer_403_is_not_called_origin(fragile) -> None:  # noqa: ANN001
    fragile.redis.stop()
    try:
        diagnosis, r = await verdict(**minted(fragile.fix3))
    finally:
        fragile.redis.start()
    # the runbook's consumer closes 4500 before accept(): Daphne says 403, like an auth reject
    assert "forbidden" in r["handshake-101"].summary
    assert r["allowed-hosts"].status == "unknown"
    assert diagnosis.layer == "redis"


async def test_platform_cut_is_platform(misbehaving) -> None:  # noqa: ANN001
    diagnosis, r = await verdict(url=misbehaving.url("/close"), api_base="http://127.0.0.1:9")
    assert r["platform-websocket"].status == "fail"
    assert diagnosis.layer == "platform"


async def test_plain_http_answer_is_proxy(misbehaving) -> None:  # noqa: ANN001
    diagnosis, r = await verdict(url=misbehaving.url("/status/200"))
    assert r["platform-websocket"].status == "fail"
    assert "Upgrade" in r["platform-websocket"].remedy
    assert diagnosis.layer == "proxy"


async def test_502_is_proxy(misbehaving) -> None:  # noqa: ANN001
    diagnosis, r = await verdict(url=misbehaving.url("/status/502"))
    assert r["handshake-101"].status == "fail" and "bad-gateway" in r["handshake-101"].summary
    assert r["platform-websocket"].status == "unknown"
    assert diagnosis.layer == "proxy"


async def test_refused_is_unknown_with_a_reason(refused_port: int) -> None:
    diagnosis, r = await verdict(url=f"ws://127.0.0.1:{refused_port}/ws/notifications/")
    assert "refused" in r["handshake-101"].summary
    assert diagnosis.layer == "unknown"
    assert "refused" in diagnosis.summary
