"""Fidelity: wsmonitor's reported PING p50 while the dashboard renders, against a bare redis-py
loop and redis-benchmark on the same server in the same run. Goal: within 1.3x of the bare loop.

    python bench/redis_fidelity.py [--pings 400]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis.asyncio as aioredis  # noqa: E402
from _common import redis_server, table  # noqa: E402

from wsmonitor.config import load_settings  # noqa: E402
from wsmonitor.engine import Engine  # noqa: E402
from wsmonitor.probes.redis import RedisProbe  # noqa: E402
from wsmonitor.samples import RedisSample  # noqa: E402
from wsmonitor.ui.app import create_app  # noqa: E402

BURST = 50
"""PINGs per run in this benchmark (the dashboard uses 5; more gives percentiles sooner)."""


async def bare_loop(url: str, pings: int) -> float:
    """p50 of a bare asyncio redis-py loop with the probe's cadence: bursts, then a pause."""
    client = aioredis.Redis.from_url(url, single_connection_client=True, protocol=2)
    await client.ping()
    values: list[float] = []
    while len(values) < pings:
        for _ in range(BURST):
            t0 = time.perf_counter_ns()
            await client.ping()
            values.append((time.perf_counter_ns() - t0) / 1e6)
        await asyncio.sleep(2.0)
    await client.aclose()
    return statistics.median(values)


async def dashboard_p50(url: str, pings: int) -> float:
    """p50 as wsmonitor reports it, with the dashboard rendering (headless) meanwhile."""
    settings = load_settings({"redis_url": url}, environ={})
    probe = RedisProbe(url, plan=settings.plan, burst=BURST, window=pings)
    engine = Engine([probe], interval=settings.interval)
    app = create_app(settings, engine)
    async with app.run_test(size=(160, 48)) as pilot:
        while True:
            last = engine.latest("redis")
            if isinstance(last, RedisSample) and last.window and last.window.samples >= pings:
                return last.window.p50
            await pilot.pause(0.25)


def redis_benchmark(port: int) -> float | None:
    """p50 from `redis-benchmark -t ping -c 1 --precision 3` (None if not installed)."""
    try:
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "ping_inline", "-c", "1",
                              "-n", "20000", "--precision", "3"], capture_output=True,
                             text=True, timeout=120).stdout
    except FileNotFoundError:
        return None
    m = re.search(r"latency summary.*?\n.*?\n\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.S)
    return float(m.group(3)) if m else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pings", type=int, default=400)
    args = parser.parse_args()
    with redis_server() as (port, url):
        bare = asyncio.run(bare_loop(url, args.pings))
        dash = asyncio.run(dashboard_p50(url, args.pings))
        bench = redis_benchmark(port)
    rows = [("PING p50, wsmonitor with dashboard", f"{dash:.3f} ms", f"{bare:.3f} ms bare loop",
             f"{dash / bare:.2f}x", "<= 1.3x")]
    if bench is not None:
        rows.append(("PING p50, redis-benchmark -c 1", f"{bench:.3f} ms", f"{bare:.3f} ms bare loop",
                     f"{bench / bare:.2f}x", "reference"))
    print(table(rows))


if __name__ == "__main__":
    main()
