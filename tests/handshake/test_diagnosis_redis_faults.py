"""Redis paused, capped and lost under the real target: the channel-layer, redis and
plan-limit verdicts, the `unknown`s where the wire cannot tell, and verdicts that hold still
over ten probe cycles of a stable fault.

Both consumers of `fragile` share one Redis: ``raising`` (connect() exceptions escape: 500) and
``fix3`` (the runbook's: close 4500 before accept, which Daphne answers 403 — like an auth or
Origin rejection).
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis

from .processes import Target
from .test_diagnosis_scenarios import Watch, minted, once
from .test_redis_faults import until_ok

CYCLES = 10


def no_service_view(target: Target, refused_port: int, **flags: Any) -> dict[str, Any]:
    """Only the WebSocket side: no --redis-url, and no diagnostic endpoints answer."""
    return {**minted(target), "api_base": f"http://127.0.0.1:{refused_port}", **flags}


async def test_paused_redis_stalls_connect(fragile, refused_port: int) -> None:  # noqa: ANN001
    target = fragile.fix3
    await until_ok(target)
    bare = Watch(**no_service_view(target, refused_port))
    full = Watch(**minted(target), redis_url=target.redis.url + "?socket_timeout=10")
    fragile.redis.pause()
    try:
        (d_bare, r_bare), (d_full, r_full) = await asyncio.gather(bare.cycle(), full.cycle())
    finally:
        fragile.redis.resume()
        await bare.close()
        await full.close()
    # Daphne's handshake timeout fired 4-6 s after the request: connect() hung, not auth
    assert "connect-stalled" in r_bare["handshake-101"].summary, r_bare["handshake-101"]
    assert d_bare.layer == "channel-layer", d_bare
    assert "5 s" in d_bare.summary and "auth" in d_bare.summary
    # with Redis in view (it does not answer from here; the service's health fails) it is Redis
    assert r_full["redis-reachable"].status == "fail"
    assert d_full.layer == "redis", d_full
    await until_ok(target)


async def test_redis_at_its_connection_cap_is_plan_limit(fragile) -> None:  # noqa: ANN001
    target = fragile.raising
    await until_ok(target)
    admin = redis.Redis(port=fragile.redis.port)
    try:
        # The cap is what is in use now (the service's pool and this connection): the next
        # connection is refused with "max number of clients reached".
        admin.config_set("maxclients", admin.info()["connected_clients"])
        diagnosis, r = await once(**minted(target),
                                  redis_url=target.redis.url + "?socket_timeout=10")
    finally:
        admin.config_set("maxclients", 10000)
        admin.close()
    assert r["redis-connections"].status == "fail", r["redis-connections"]
    assert diagnosis.layer == "plan-limit", diagnosis
    assert "redis-connections" in diagnosis.checks
    assert "maxclients" in diagnosis.remedy


async def test_redis_lost_verdicts_hold_still(fragile, refused_port: int) -> None:  # noqa: ANN001
    fix3, raising = fragile.fix3, fragile.raising
    await until_ok(fix3)
    await until_ok(raising)
    held = Watch(**no_service_view(fix3, refused_port, hold=4.0))
    before = Watch(**no_service_view(fix3, refused_port, hold=0.2))
    cold = Watch(**no_service_view(raising, refused_port))
    full = Watch(**minted(fix3), redis_url=fix3.redis.url + "?socket_timeout=10")
    try:
        _, r = await before.cycle()
        assert r["handshake-101"].status == "pass"

        # Redis stops while the token+origin socket is held: it is closed 1011
        cycle = asyncio.create_task(held.cycle())
        await asyncio.sleep(1.0)
        fragile.redis.stop()
        diagnosis, r = await cycle
        assert "1011" in r["stays-open"].summary, r["stays-open"]
        assert diagnosis.layer == "channel-layer", diagnosis

        # then every new handshake gets the runbook consumer's 403 before accept(), with a
        # valid token and the right Origin: never called origin or auth, cycle after cycle
        for _ in range(CYCLES - 1):
            diagnosis, r = await held.cycle()
            assert "forbidden" in r["handshake-101"].summary
        assert held.raw == ["channel-layer"] * CYCLES, held.raw
        assert held.shown == ["channel-layer"] * CYCLES, held.shown
        assert "1011" in diagnosis.summary

        # the same 403 where the socket opened fine before: Origin or connect()? the wire
        # cannot tell, and nothing else is in view
        diagnosis, r = await before.cycle()
        assert r["allowed-hosts"].status == "fail"  # the check alone would say Origin
        assert diagnosis.layer == "unknown", diagnosis
        assert "/api/redis-health/" in diagnosis.remedy

        # a cold start on the raising consumer: 500 while the rejected variants get 403 at
        # once, and no Redis evidence at all: the channel layer's group_add, likely (issue 13)
        diagnosis, r = await cold.cycle()
        assert "server-error" in r["handshake-101"].summary
        assert diagnosis.layer == "channel-layer", diagnosis
        assert diagnosis.confidence == "likely", diagnosis
        assert "--redis-url" in diagnosis.remedy

        # with Redis and the service's health in view: redis, every cycle
        for _ in range(CYCLES):
            diagnosis, r = await full.cycle()
        assert full.raw == ["redis"] * CYCLES, full.raw
        assert full.shown == ["redis"] * CYCLES, full.shown
        assert r["allowed-hosts"].status == "unknown"

        # Redis returns: the first handshake may stall and drop (FACTS.md), a known transient
        # that must not read as a channel-layer or platform fault; then it recovers
        fragile.redis.start(port=fragile.redis.port)
        seen = len(full.raw)
        for _ in range(4):
            diagnosis, r = await full.cycle()
            if diagnosis.layer == "none":
                break
        after = full.verdicts[seen:]
        assert after[-1].layer == "none", after
        for d in after:  # redis (recovering), waiting for a fresh command rate, or none
            assert d.layer in ("redis", "none") or d.summary.startswith("Not enough"), after
        # the banner keeps redis until none is seen on renewed evidence, and nothing between
        assert full.shown[seen] == "redis", full.shown
        diagnosis, r = await full.cycle()
        assert full.raw[-1] == full.shown[-1] == "none", (full.raw[seen:], full.shown[seen:])
        assert set(full.shown) == {"redis", "none"}, full.shown
    finally:
        for watch in (held, before, cold, full):
            await watch.close()
        if fragile.redis.proc is not None and fragile.redis.proc.poll() is not None:
            fragile.redis.start(port=fragile.redis.port)
