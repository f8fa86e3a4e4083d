"""Log classification: throughput on one core against a plain compiled-regex scan of the same
lines (goal: at least 50,000 lines/s absolute), and RSS after 1,000,000 events through the logs
probe's buffers (goal: bounded — flat between 100,000 and 1,000,000 events).

    python bench/log_classify.py [--lines 200000] [--events 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import rss_kib, table  # noqa: E402

from wsmonitor.log_rules import EventAssembler, default_rules  # noqa: E402
from wsmonitor.probes.logs import Batch, LogsProbe  # noqa: E402

BASELINE = re.compile(r"ERROR|Exception|Traceback")
"""The plain scan people write by hand: one compiled regex, searched per line."""

TRACEBACK = [
    "2026-11-26 11:46:34,123 ERROR    Exception inside application: Error 111 connecting to "
    "redis.internal:6379. Connection refused.",
    "Traceback (most recent call last):",
    '  File "/app/.venv/lib/python3.11/site-packages/channels/consumer.py", line 58, in __call__',
    "    await await_many_dispatch(",
    '  File "/app/.venv/lib/python3.11/site-packages/channels/generic/websocket.py", line 182, '
    "in websocket_connect",
    "    await self.connect()",
    '  File "/app/.venv/lib/python3.11/site-packages/redis/asyncio/connection.py", line 301, '
    "in connect",
    "    raise ConnectionError(self._error_message(e))",
    "redis.exceptions.ConnectionError: Error 111 connecting to redis.internal:6379. "
    "Connection refused.",
]


def corpus(n: int, seed: int = 7) -> list[str]:
    """Daphne/Django/channels-like lines: mostly access and INFO lines, ~3 % errors."""
    rnd = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        r = rnd.random()
        ip = f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}:{rnd.randrange(30000, 60000)}"
        if r < 0.55:
            out.append(f'{ip} - - [26/Nov/2026:11:46:{rnd.randrange(60):02d}] "GET '
                       f'/api/notifications/?page={rnd.randrange(9)} HTTP/1.1" 200 '
                       f"{rnd.randrange(100, 9000)}")
        elif r < 0.75:
            verb = rnd.choice(("WSCONNECTING", "WSCONNECT", "WSDISCONNECT"))
            out.append(f'{ip} - - [26/Nov/2026:11:46:34] "{verb} /ws/notifications/" - -')
        elif r < 0.97:
            out.append(f"2026-11-26 11:46:34,{rnd.randrange(1000):03d} INFO     WebSocket "
                       f"connected for user {rnd.randrange(10000)}")
        elif r < 0.98:
            out.append(f'{ip} - - [26/Nov/2026:11:46:34] "WSREJECT /ws/notifications/" - -')
        elif r < 0.99:
            out.append("redis.exceptions.TimeoutError: Timeout reading from "
                       "eu1-able-cat-12345.upstash.io:6379")
        elif r < 0.995:
            out.append("ERR max daily request limit exceeded. Limit: 10000, Usage: 10000.")
        else:
            out.extend(TRACEBACK)
    return out[:n]


def pin_one_core() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def best_rate(fn: Any, n: int, repeat: int = 3) -> float:
    best = 0.0
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


class _Firehose:
    """A log source that hands the probe a fixed batch per run."""

    kind = "command"
    timeout = 30.0

    def __init__(self, lines: list[str], per_run: int) -> None:
        self.lines = lines
        self.per_run = per_run
        self.pos = 0
        self.sent = 0

    def interval(self, base: float) -> float:
        return base

    def describe(self) -> dict[str, Any]:
        return {"mode": "command", "target": "bench"}

    async def fetch(self) -> Batch:
        now = time.time()
        n = len(self.lines)
        out = []
        for _ in range(self.per_run):
            line = self.lines[self.pos % n]
            out.append(("bench", now, str(self.sent), line))
            self.pos += 1
            self.sent += 1
        return Batch(out)

    async def close(self) -> None:
        return None


async def feed_probe(events: int, per_run: int, checkpoint: int) -> tuple[int, int, float]:
    source = _Firehose(corpus(50_000, seed=11), per_run)
    probe = LogsProbe(source, hold=0.0)
    at_checkpoint = 0
    t0 = time.perf_counter()
    while source.sent < events:
        await probe.run()
        if not at_checkpoint and source.sent >= checkpoint:
            gc.collect()
            at_checkpoint = rss_kib()
    rate = source.sent / (time.perf_counter() - t0)
    gc.collect()
    await probe.close()
    return at_checkpoint, rss_kib(), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--per-run", type=int, default=10_000,
                        help="lines handed to the probe per run in the RSS test")
    args = parser.parse_args()
    pinned = pin_one_core()
    lines = corpus(args.lines)
    rules = default_rules()

    search = BASELINE.search
    baseline = best_rate(lambda: [search(line) for line in lines], len(lines))
    classify = rules.classify
    per_line = best_rate(lambda: [classify(line) for line in lines], len(lines))
    raw = [("svc", 0.0, str(i), line) for i, line in enumerate(lines)]

    def pipeline() -> None:
        assembler = EventAssembler(hold=0.0)
        for ev in assembler.feed(raw, 0.0):
            classify(ev[3])

    grouped = best_rate(pipeline, len(lines))
    hits = sum(1 for line in lines if classify(line).category)

    rss_start = rss_kib()
    rss_mid, rss_end, probe_rate = asyncio.run(
        feed_probe(args.events, args.per_run, checkpoint=args.events // 10))

    goal = 50_000
    rows = [
        ("classify, per line (lines/s)", f"{per_line:,.0f}", f"{baseline:,.0f} plain regex",
         f"{per_line / baseline:.3f}", f">= {goal:,}/s"),
        ("group + classify (lines/s)", f"{grouped:,.0f}", f"{baseline:,.0f} plain regex",
         f"{grouped / baseline:.3f}", f">= {goal:,}/s"),
        ("probe run() end to end (lines/s)", f"{probe_rate:,.0f}", f"{baseline:,.0f} plain regex",
         f"{probe_rate / baseline:.3f}", "-"),
        (f"RSS after {args.events:,} events (MiB)", f"{rss_end / 1024:.1f}",
         f"{rss_mid / 1024:.1f} after {args.events // 10:,}",
         f"{rss_end / max(1, rss_mid):.2f}", "bounded (~1.0)"),
    ]
    print(f"{len(lines):,} lines, {hits:,} classified ({hits / len(lines):.1%}); {pinned}; "
          f"RSS before the probe {rss_start / 1024:.1f} MiB")
    print(table(rows))


if __name__ == "__main__":
    main()
