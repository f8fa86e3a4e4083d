"""Soak: the kiosk dashboard for N minutes at 10x the default probe rate against a real Django
Channels target (Daphne + its Redis, from tests/target/), with Redis stopped and started on a
schedule; the dashboard must name every fault, clear it by itself, and not grow.

    python bench/soak_kiosk.py [--minutes 30] [--fault-every 90] [--fault-for 30]

Prints, after warm-up vs at the end: RSS, open file descriptors, asyncio tasks (the UI's loop
and the engine's), threads; and, per fault, time-to-named (redis-server stopped -> the banner
names the redis layer), time-to-cleared (redis-server back -> every check passes again, bar
the log window's consumer-errors) and time to all clear (the banner names no broken layer,
which waits for the 15-minute log window to forget the outage). The dashboard runs headless
(`App.run_test`), in this process, so its figures are read from /proc/self.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import process_figures  # noqa: E402

import wsmonitor.probes.redis as redis_probe  # noqa: E402
from tests.handshake.processes import (  # noqa: E402
    SECRET_KEY, DaphneProcess, RedisProcess, setup_target_db)
from wsmonitor.config import load_settings  # noqa: E402
from wsmonitor.runtime import build_engine  # noqa: E402
from wsmonitor.ui.app import KioskApp, create_app  # noqa: E402

RATE = 10.0
"""How much faster than the defaults the probes run."""


@dataclass
class Fault:
    stopped_at: float
    named_at: float | None = None
    restarted_at: float | None = None
    cleared_at: float | None = None
    """Every check passes again but the log window's (the dashboard's account of recovery)."""
    all_clear_at: float | None = None
    """The banner says nothing is broken (every check's evidence is healthy again)."""


LOG_WINDOW_CHECKS = frozenset({"consumer-errors"})
"""Checks that look back over the log window (15 min): they stay failed after a recovery."""


def failing_checks(app: KioskApp) -> set[str]:
    from wsmonitor.ui.checklist_pane import ChecklistPane

    failing = set()
    for line in app.screen.query_one(ChecklistPane).text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("FAIL", "UNKNOWN"):
            failing.add(parts[2])
    return failing


def banner_text(app: KioskApp) -> str:
    from textual.widgets import Static

    visual = app.screen.query_one("#banner", Static).visual
    return getattr(visual, "plain", str(visual))


async def soak(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="wsmonitor-soak-"))
    db = workdir / "target.sqlite3"
    user_id = setup_target_db(db)
    redis = RedisProcess(workdir)
    redis.start()
    daphne = DaphneProcess(workdir, db=db, redis_url=redis.url, name="daphne-soak")
    daphne.start()
    url = f"ws://127.0.0.1:{daphne.port}/ws/notifications/"
    # 10x the default rate: a 0.2 s base interval, and every probe's floor divided by ten.
    redis_probe.MIN_INTERVAL /= RATE
    settings = load_settings({
        "url": url, "jwt_secret": SECRET_KEY,
        "jwt_user_id": user_id, "redis_url": redis.url + "?socket_timeout=10",
        "log_file": str(daphne.log_path), "kiosk": True, "interval": 2.0 / RATE,
        "hold": 30.0 / RATE,
    })
    engine = build_engine(settings)
    for probe in engine.probes.values():
        if hasattr(probe, "min_interval"):
            probe.min_interval /= RATE
    app = create_app(settings, engine)
    assert isinstance(app, KioskApp)
    faults: list[Fault] = []
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            t0 = time.monotonic()
            while "nothing broken found" not in banner_text(app):
                if time.monotonic() - t0 > 120:
                    print(f"never healthy after warm-up: {banner_text(app)}", file=sys.stderr)
                    return 1
                await pilot.pause(0.2)
            await pilot.pause(5.0)  # caches and the first few cycles warmed up
            gc.collect()
            start = process_figures(engine)
            runs_start = sum(s.runs for s in engine.states.values())
            began = time.monotonic()
            end = began + args.minutes * 60
            next_fault = began + args.fault_every / 3
            fault: Fault | None = None
            settling: Fault | None = None
            last_verdict = ""
            rss_series: list[float] = []
            next_minute = began
            # A fault still open at the end gets up to `fault_every` more to clear.
            while time.monotonic() < end or (
                    fault is not None and time.monotonic() < end + args.fault_every):
                now = time.monotonic()
                text = banner_text(app)
                if now >= next_minute:
                    rss_series.append(process_figures(engine)["rss_mib"])
                    next_minute += 60
                verdict = text.split("(since")[0].strip()
                if args.verbose and verdict != last_verdict:
                    print(f"{now - began:7.1f} s  {verdict} | {text.splitlines()[1][:90]}")
                    last_verdict = verdict
                if settling is not None and "nothing broken found" in text:
                    settling.all_clear_at = now
                    settling = None
                if fault is None and now >= next_fault and now + args.fault_for < end:
                    redis.stop()
                    fault = Fault(time.monotonic())
                    faults.append(fault)
                    settling = None
                    next_fault = fault.stopped_at + args.fault_every
                elif fault is not None:
                    if fault.named_at is None and "broken layer: redis" in text:
                        fault.named_at = now
                    if fault.restarted_at is None and now - fault.stopped_at >= args.fault_for:
                        redis.start(port=redis.port)
                        fault.restarted_at = time.monotonic()
                    if fault.restarted_at is not None and \
                            not failing_checks(app) - LOG_WINDOW_CHECKS:
                        fault.cleared_at = now
                        fault, settling = None, fault
                await pilot.pause(0.2)
            if args.verbose:
                from wsmonitor.ui.checklist_pane import ChecklistPane

                print(app.screen.query_one(ChecklistPane).text())
            gc.collect()
            finish = process_figures(engine)
            runs = sum(s.runs for s in engine.states.values()) - runs_start
            elapsed = time.monotonic() - began
            await pilot.press("q")
    finally:
        engine.stop()
        daphne.stop()
        redis.stop()

    print(f"kiosk soak: {elapsed / 60:.1f} min at {RATE:g}x the default rate, {runs} probe "
          f"runs ({runs / elapsed:.1f}/s), {len(faults)} Redis fault(s) of "
          f"{args.fault_for:g} s every {args.fault_every:g} s")
    print(f"{'figure':<14}{'start':>10}{'end':>10}{'growth':>10}")
    for key in ("rss_mib", "fds", "ui_tasks", "engine_tasks", "threads"):
        a, b = start[key], finish[key]
        fmt = "{:.1f}" if key == "rss_mib" else "{:.0f}"
        print(f"{key:<14}{fmt.format(a):>10}{fmt.format(b):>10}{fmt.format(b - a):>10}")
    print("RSS each minute (MiB): " + " ".join(f"{v:.1f}" for v in rss_series))
    print(f"{'fault':<7}{'named after stop':>18}{'redis cleared after restart':>30}"
          f"{'all clear after restart':>26}")
    failed = False
    for i, f in enumerate(faults, 1):
        named = f"{f.named_at - f.stopped_at:.1f} s" if f.named_at else "NOT NAMED"
        cleared = (f"{f.cleared_at - f.restarted_at:.1f} s"
                   if f.cleared_at and f.restarted_at else "NOT CLEARED")
        clear = (f"{f.all_clear_at - f.restarted_at:.1f} s"
                 if f.all_clear_at and f.restarted_at else "not within the run")
        # All clear waits for the log window to forget the outage's errors: not a failure.
        failed |= f.named_at is None or f.cleared_at is None
        print(f"{i:<7}{named:>18}{cleared:>30}{clear:>26}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--fault-every", type=float, default=90.0, metavar="SECONDS",
                        help="seconds between Redis stops (default 90)")
    parser.add_argument("--fault-for", type=float, default=30.0, metavar="SECONDS",
                        help="seconds Redis stays stopped (default 30)")
    parser.add_argument("--verbose", action="store_true", help="print every verdict change")
    args = parser.parse_args()
    return asyncio.run(soak(args))


if __name__ == "__main__":
    raise SystemExit(main())
