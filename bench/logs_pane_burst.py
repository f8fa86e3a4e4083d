"""A burst of 10,000 log events into the running logs pane: the longest gap between frames,
against the longest gap of the same app idle in the same run.

    python bench/logs_pane_burst.py [--events 10000]

Two bursts: 10,000 lines appended to the tailed file at once (what the probe lets through: it
caps a run at 500 events and counts the rest), and one sample carrying all 10,000 events handed
straight to the pane (the pane's own worst case).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402

from wsmonitor.config import load_settings  # noqa: E402
from wsmonitor.log_samples import LogEvent, LogsSample  # noqa: E402
from wsmonitor.runtime import build_engine  # noqa: E402
from wsmonitor.ui.app import create_app  # noqa: E402
from wsmonitor.ui.logs_pane import LogsPane  # noqa: E402

LINE = ("2026-11-26 10:00:{s:02d} ERROR Exception inside application: Error 111 connecting to "
        "redis:6379. Connection refused. event {i}\n")


class GapMeter:
    """Ticks 100 times a second on the app's loop and keeps the longest gap between ticks."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0

    def tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0


async def run(events: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="wsmonitor-bench-logs-"))
    path = work / "app.log"
    path.write_text("")
    settings = load_settings({"log_file": str(path), "interval": 0.5}, environ={})
    engine = build_engine(settings)
    app = create_app(settings, engine)
    meter = GapMeter()
    out: dict[str, float] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        app.set_interval(0.01, meter.tick)
        await pilot.pause(3)
        meter.reset()
        await pilot.pause(3)
        out["idle"] = meter.longest
        pane = app.screen.query_one(LogsPane)
        # 1: through the probe
        with path.open("a") as fh:
            fh.writelines(LINE.format(s=i % 60, i=i) for i in range(events))
        meter.reset()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(pane.events) < 500:
            await pilot.pause(0.05)
        await pilot.pause(1)
        out["probe"] = meter.longest
        out["probe_events"] = len(pane.events)
        # 2: one sample with every event, straight into the pane
        now = time.time()
        burst = tuple(LogEvent(now, str(path), LINE.format(s=i % 60, i=i).strip(),
                               "exception-in-app", f"b{i}", label="exception",
                               severity="error") for i in range(events))
        sample = LogsSample(probe="logs", at=now, ok=True, source="file", mode="file",
                            target=str(path), events=burst, events_in_window=events)
        meter.reset()
        t0 = time.perf_counter()
        pane.show([sample], now, 60.0, False)
        out["direct_call"] = time.perf_counter() - t0
        await pilot.pause(1)
        out["direct"] = meter.longest
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    r = asyncio.run(run(args.events))
    idle = r["idle"] * 1000
    print(table([
        ("longest frame gap, idle", f"{idle:.0f} ms", "-", "1.00x", "report"),
        (f"longest gap, {args.events:,} lines appended (probe caps a run at 500)",
         f"{r['probe'] * 1000:.0f} ms", f"{idle:.0f} ms idle", f"{r['probe'] * 1000 / idle:.1f}x",
         "< 250 ms"),
        (f"longest gap, {args.events:,} events in one sample", f"{r['direct'] * 1000:.0f} ms",
         f"{idle:.0f} ms idle", f"{r['direct'] * 1000 / idle:.1f}x", "report"),
        ("events kept by the pane", f"{len(range(args.events)) and int(r['probe_events'])}",
         "-", "-", "bounded (5,000)"),
    ]))


if __name__ == "__main__":
    main()
