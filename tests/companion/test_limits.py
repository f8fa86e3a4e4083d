"""A burst of requests against a companion with a tight limit: the token bucket holds, and Redis
sees a bounded number of commands (INFO commandstats, before and after)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.servers import RedisServer

from wsmonitor.django.diagnostics import ROUND_TRIP_COMMANDS

from .conftest import start_redis
from .harness import CompanionDaphne, Users

BURST, RATE, CACHE = 5, 1.0, 2.0
"""The companion's limits here: 5 requests at once per view, then 1 a second; a round trip
reused for 2 s."""

CONNECT_COMMANDS = 8
"""Slack for the layer's connection set-up (HELLO with AUTH, CLIENT SETINFO …)."""


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory,
            users: Users) -> Iterator[tuple[CompanionDaphne, RedisServer]]:
    server = start_redis(tmp_path_factory.mktemp("limits-redis"))
    daphne = CompanionDaphne(tmp_path_factory.mktemp("limits"), users.db, server.url,
                             rate_burst=BURST, rate_per_second=RATE,
                             cache_seconds=CACHE).start()
    yield daphne, server
    daphne.stop()
    server.stop()


def commands(client: redis.Redis) -> int:
    """Every command the server has processed, but this client's INFO calls."""
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")


async def burst(base: str, token: str, n_health: int,
                n_diag: int) -> tuple[list[httpx.Response], list[httpx.Response], float]:
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        started = time.monotonic()
        health = [client.get("/api/redis-health/") for _ in range(n_health)]
        diag = [client.get("/api/ws-diagnostic/", headers={"Authorization": f"Bearer {token}"})
                for _ in range(n_diag)]
        answers = await asyncio.gather(*health, *diag)
        return list(answers[:n_health]), list(answers[n_health:]), time.monotonic() - started


def test_a_burst_is_rate_limited_and_redis_load_bounded(limited, users: Users) -> None:
    daphne, server = limited
    client = redis.Redis(host=server.host, port=server.port, password=server.password)
    try:
        # One round trip warms the layer's connection; then one more, measured alone.
        assert httpx.get(daphne.base + "/api/redis-health/", timeout=30).status_code == 200
        time.sleep(CACHE + 0.2)
        before = commands(client)
        first = httpx.get(daphne.base + "/api/redis-health/", timeout=30)
        assert first.status_code == 200 and first.json()["cached"] is False
        per_round_trip = commands(client) - before
        print(f"commands per round trip: {per_round_trip}")
        assert 4 <= per_round_trip <= ROUND_TRIP_COMMANDS + 2
        time.sleep(1.5)  # let the bucket refill a little: the burst below starts from ~full

        before = commands(client)
        health, diag, elapsed = asyncio.run(burst(daphne.base, users.token(), 200, 100))
        used = commands(client) - before
    finally:
        client.close()

    for name, answers, n in (("redis-health", health, 200), ("ws-diagnostic", diag, 100)):
        ok = [r for r in answers if r.status_code in (200, 500)]
        limited_ = [r for r in answers if r.status_code == 429]
        assert len(ok) + len(limited_) == n, {r.status_code for r in answers}
        allowed = BURST + math.ceil(elapsed * RATE) + 1
        assert 1 <= len(ok) <= allowed, (name, len(ok), allowed, elapsed)
        for r in limited_:
            assert int(r.headers["retry-after"]) >= 1
            assert r.json()["status"] == "rate-limited" and "redis" not in r.json()
    # Redis: at most one round trip per CACHE seconds for the whole burst.
    round_trips = math.ceil(elapsed / CACHE) + 1
    print(f"burst: 300 requests in {elapsed:.2f} s, Redis saw {used} commands "
          f"(bound {round_trips} round trips x {per_round_trip})")
    assert used <= round_trips * per_round_trip + CONNECT_COMMANDS, (used, elapsed)
    diag_ok = [r.json() for r in diag if r.status_code == 200]
    assert diag_ok and all(b["channel_layer"]["round_trips"] <= 3 + round_trips
                           for b in diag_ok)
    # The service counts what its round trips cost, as Redis does.
    newest = max(diag_ok, key=lambda b: b["channel_layer"]["round_trips"])["channel_layer"]
    assert newest["commands"] == newest["round_trips"] * ROUND_TRIP_COMMANDS
