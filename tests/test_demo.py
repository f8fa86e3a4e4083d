"""The demo target: its own redis-server, with load that looks like channels_redis workers."""

from __future__ import annotations

import asyncio
import os

import redis

from wsmonitor.demo.target import DemoRedis
from wsmonitor.plans import load_plans
from wsmonitor.probes.redis import RedisProbe


async def test_demo_redis_serves_and_shows_service_load() -> None:
    demo = DemoRedis.start(workers=2)
    try:
        assert demo.process is not None
        pid = demo.process.pid
        probe = RedisProbe(demo.url, plan=load_plans()["none"])
        first = await probe.run()
        assert first.ok, first.error
        await asyncio.sleep(6)  # a BZPOPMIN cycle of the simulated workers
        second = await probe.run()
        await probe.close()
        assert second.ok
        assert (second.connected_clients or 0) >= 3  # two workers and the probe
        assert (second.service_commands_per_second or 0) > 0
    finally:
        demo.stop()
    # stopped by PID: the process is gone and the port no longer answers
    assert demo.process.poll() is not None
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    try:
        redis.Redis.from_url(demo.url.split("?")[0], socket_connect_timeout=1).ping()
        answered = True
    except redis.ConnectionError:
        answered = False
    assert not answered
