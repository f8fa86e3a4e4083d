"""The Redis probe and the channel-layer probe are one monitor: one command count, one budget."""

from __future__ import annotations

import asyncio

from wsmonitor.config import load_settings
from wsmonitor.runtime import build_engine, check_context


async def test_channel_layer_commands_count_as_the_monitors_own(redis_server) -> None:  # noqa: ANN001
    settings = load_settings({"redis_url": redis_server.url + "?socket_timeout=10"}, environ={})
    engine = build_engine(settings)
    assert {"redis", "channel-layer"} <= set(engine.probes)
    try:
        await engine.run_once(["redis"])
        for _ in range(3):
            await engine.run_once(["channel-layer"])
            await asyncio.sleep(0.1)
        await engine.run_once(["redis"])
    finally:
        await engine.close_probes()
    last = engine.latest("redis")
    assert last is not None and last.commands_per_second
    # nobody else uses this server: everything measured is the monitor's own
    assert last.service_commands_per_second is not None
    assert last.service_commands_per_second < 0.05 * last.commands_per_second, last


def test_the_two_probes_split_the_budget() -> None:
    settings = load_settings({"redis_url": "redis://127.0.0.1:6379/0?socket_timeout=10",
                              "redis_plan": "upstash-free", "redis_budget": 10}, environ={})
    engine = build_engine(settings)
    redis, layer = engine.probes["redis"], engine.probes["channel-layer"]
    quota = settings.plan.daily_quota
    assert redis.budget_per_day + layer.budget_per_day == quota * 0.10  # type: ignore[attr-defined]
    ctx = check_context(settings, engine)
    assert ctx.redis_budget_per_day == quota * 0.10
    assert ctx.own_commands_per_day <= quota * 0.10 + 1e-6
