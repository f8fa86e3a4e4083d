"""Fidelity: the PING p50 wsmonitor reports, in every mode, against bare redis-py asyncio loops
on the same redis-server in the same run. Goal: within 1.3x of the loop at the same cadence.

Rows:
- ``check --only redis`` (each a fresh process, as a user runs it; its pings read from
  ``--record``), against a bare loop with check's cadence (bursts of the product's 5 PINGs,
  1 s apart);
- the dashboard's engine at the product's default burst (5) and interval (2 s), with the
  dashboard rendering (headless) on the main thread, against a bare loop with that cadence;
- both against a hot loop (PING after PING) and redis-benchmark, for reference.

    python bench/redis_fidelity.py [--pings 100] [--checks 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
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

BURST = RedisProbe.__init__.__kwdefaults__["burst"]
"""PINGs per run: the product's default."""
CHECK_PAUSE = 1.0
"""Seconds between check's Redis runs (``min(1, --interval)``)."""
DASHBOARD_PAUSE = 2.0
"""The dashboard's Redis interval (the default ``--interval``)."""


async def bare_loop(url: str, pings: int, pause: float) -> list[float]:
    """A bare asyncio redis-py loop: bursts of `BURST` PINGs, `pause` seconds apart (0: a hot
    loop, PING after PING). One untimed PING first, as the probe warms a new connection."""
    client = aioredis.Redis.from_url(url, single_connection_client=True, protocol=2)
    await client.ping()
    values: list[float] = []
    while len(values) < pings:
        for _ in range(BURST if pause else pings):
            t0 = time.perf_counter_ns()
            await client.ping()
            values.append((time.perf_counter_ns() - t0) / 1e6)
        if pause:
            await asyncio.sleep(pause)
    await client.aclose()
    return values


def check_pings(url: str, runs: int) -> tuple[list[float], list[float], list[int], list[float]]:
    """(every PING of `runs` ``check --only redis`` processes, each one's reported p50, each
    one's sample count, the PINGs of each process's first Redis run: taken while its other
    probes start)."""
    pings: list[float] = []
    first: list[float] = []
    p50s: list[float] = []
    counts: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            rec = Path(tmp) / f"check{i}.jsonl"
            out = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--only", "redis",
                                  "--redis-url", url, "--json", "--record", str(rec)],
                                 capture_output=True, text=True, timeout=120)
            latency = json.loads(out.stdout)["probes"]["redis"]["latency_ms"]
            p50s.append(latency["p50"])
            counts.append(latency["samples"])
            seen = 0
            for line in rec.read_text().splitlines():
                row = json.loads(line)
                if row.get("probe") == "redis":
                    pings.extend(row.get("latencies_ms") or ())
                    if not seen:
                        first.extend(row.get("latencies_ms") or ())
                    seen += 1
    return pings, p50s, counts, first


async def dashboard_pings(url: str, pings: int) -> list[float]:
    """Every PING the engine took at the product's burst and interval while the dashboard
    rendered (headless) on the main thread, until `pings` were taken."""
    settings = load_settings({"redis_url": url}, environ={})
    probe = RedisProbe(url, plan=settings.plan, window=max(pings, 200))
    engine = Engine([probe], interval=settings.interval)
    app = create_app(settings, engine)
    async with app.run_test(size=(160, 48)) as pilot:
        while True:
            values = [v for s in engine.history("redis") if isinstance(s, RedisSample)
                      for v in s.latencies_ms]
            if len(values) >= pings:
                return values
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


def _p50(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pings", type=int, default=100,
                        help="PINGs per loop and for the dashboard (default 100)")
    parser.add_argument("--checks", type=int, default=8,
                        help="check --only redis processes to run (default 8)")
    args = parser.parse_args()
    with redis_server() as (port, url):
        hot = _p50(asyncio.run(bare_loop(url, max(args.pings, 1000), 0)))
        check_loop = _p50(asyncio.run(bare_loop(url, args.pings, CHECK_PAUSE)))
        check_all, check_p50s, counts, check_first = check_pings(url, args.checks)
        dash_loop = _p50(asyncio.run(bare_loop(url, args.pings, DASHBOARD_PAUSE)))
        dash = _p50(asyncio.run(dashboard_pings(url, args.pings)))
        bench = redis_benchmark(port)
    check = _p50(check_all)
    each = statistics.median(check_p50s)
    rows = [
        ("PING p50, check --only redis (pooled)", f"{check:.3f} ms",
         f"{check_loop:.3f} ms loop, {BURST} per {CHECK_PAUSE:g} s", f"{check / check_loop:.2f}x",
         "<= 1.3x"),
        (f"PING p50, check --only redis (median of {args.checks} reports, n={counts[0]})",
         f"{each:.3f} ms", f"{check_loop:.3f} ms loop, {BURST} per {CHECK_PAUSE:g} s",
         f"{each / check_loop:.2f}x", "<= 1.3x"),
        ("PING p50, check's first Redis run (other probes starting)",
         f"{_p50(check_first):.3f} ms", f"{check_loop:.3f} ms loop, {BURST} per {CHECK_PAUSE:g} s",
         f"{_p50(check_first) / check_loop:.2f}x", "<= 1.3x"),
        ("PING p50, dashboard engine (burst 5, 2 s)", f"{dash:.3f} ms",
         f"{dash_loop:.3f} ms loop, {BURST} per {DASHBOARD_PAUSE:g} s", f"{dash / dash_loop:.2f}x",
         "<= 1.3x"),
        ("PING p50, check --only redis vs hot loop", f"{check:.3f} ms", f"{hot:.3f} ms hot loop",
         f"{check / hot:.2f}x", "reference"),
        ("PING p50, dashboard vs hot loop", f"{dash:.3f} ms", f"{hot:.3f} ms hot loop",
         f"{dash / hot:.2f}x", "reference"),
    ]
    if bench is not None:
        rows.append(("PING p50, redis-benchmark -c 1", f"{bench:.3f} ms",
                     f"{hot:.3f} ms hot loop", f"{bench / hot:.2f}x", "reference"))
    print(table(rows))


if __name__ == "__main__":
    main()
