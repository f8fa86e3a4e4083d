"""Handshake time: wsmonitor's probe against a bare `websockets.connect` to the same Daphne in the
same run (goal: within 1.15x), and the probe traffic per minute at default settings.

    python bench/handshake.py [--rounds 60]

Uses the real Django Channels target of the tests (tests/target/, Daphne + its own Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import websockets  # noqa: E402
from _common import table  # noqa: E402

from tests.handshake.processes import DaphneProcess, RedisProcess, Target, setup_target_db  # noqa: E402
from wsmonitor.probes.handshake import (  # noqa: E402
    DEFAULT_HOLD, PRIMARY_MIN_INTERVAL, VARIANT_MIN_INTERVAL, probe_handshake, url_with_token)
from wsmonitor.probes.http import MIN_INTERVAL as HTTP_MIN_INTERVAL  # noqa: E402


async def bare(url: str, origin: str, token: str) -> float:
    """Wall time of a bare connect and close."""
    t0 = time.perf_counter()
    async with websockets.connect(url_with_token(url, token), origin=origin, open_timeout=10):
        pass
    return (time.perf_counter() - t0) * 1000


async def probe(url: str, origin: str, token: str) -> float:
    """Wall time of one probe with no hold (connect, classify, close)."""
    t0 = time.perf_counter()
    sample = await probe_handshake(url, origin=origin, token=token, hold=0.0, app_ping=False)
    elapsed = time.perf_counter() - t0
    if sample.classification != "ok":
        raise SystemExit(f"probe failed: {sample.classification} {sample.error}")
    return elapsed * 1000


async def measure(target: Target, rounds: int) -> tuple[float, float]:
    token = target.token(lifetime=3600)
    for _ in range(5):  # warm both paths (imports, Django's first requests)
        await bare(target.url, target.origin, token)
        await probe(target.url, target.origin, token)
    b, p = [], []
    for _ in range(rounds):  # interleaved, so drift affects both alike
        b.append(await bare(target.url, target.origin, token))
        p.append(await probe(target.url, target.origin, token))
    return statistics.median(b), statistics.median(p)


def traffic() -> list[tuple[str, str, str, str, str]]:
    per_min_primary = 60 / max(PRIMARY_MIN_INTERVAL, 2.0)
    per_min_variants = 3 * 60 / VARIANT_MIN_INTERVAL
    per_min_http = 3 * 60 / HTTP_MIN_INTERVAL
    # token+origin is re-run after its hold ends: one run per (hold + interval)
    primary = 60 / (DEFAULT_HOLD + PRIMARY_MIN_INTERVAL)
    return [
        ("handshakes per minute (defaults)", f"{primary + per_min_variants:.1f}",
         f"{per_min_primary + per_min_variants:.0f} without the hold", "-", "gentle"),
        ("HTTP requests per minute (defaults)", f"{per_min_http:.0f}", "-", "-", "gentle"),
        ("sockets held open at once", "1", "-", "-", "gentle"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wsmonitor-bench-hs-"))
    user = setup_target_db(work / "db.sqlite3")
    redis = RedisProcess(work)
    redis.start()
    daphne = DaphneProcess(work, db=work / "db.sqlite3", redis_url=redis.url)
    daphne.start()
    try:
        b, p = asyncio.run(measure(Target(daphne=daphne, redis=redis, user_id=user),
                                   args.rounds))
    finally:
        daphne.stop()
        redis.stop()
    rows = [("handshake connect+close, wsmonitor probe (median)", f"{p:.2f} ms",
             f"{b:.2f} ms websockets.connect", f"{p / b:.2f}x", "<= 1.15x"), *traffic()]
    print(table(rows))


if __name__ == "__main__":
    main()
