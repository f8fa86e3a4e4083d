"""Soak against the demo: the kiosk dashboard for N minutes with every probe at R times the
default rate, the demo's ten faults switched on and off in turn.

    python bench/soak_demo.py [--minutes 30] [--rate 10] [--on 10] [--verbose]

The dashboard runs headless (`App.run_test`) in this process on `DemoStack.build_engine(…,
rate)`, so its figures are read from /proc/self. A fault is switched with `DemoStack.set_fault`
without waking the probes (as a real fault would be), then:

- named: the fault's check fails and the diagnosis names its layer (`judge`, what ``check``
  and the banner start from); the banner's own time (it confirms on renewed evidence) is shown
  beside it;
- cleared: after switching it off, the check no longer fails and the diagnosis no longer names
  the layer; all clear: the diagnosis names no broken layer.

Times are given in seconds and in the fault's *interval*: the longest sample period, measured
while healthy, of the probes behind its check and the checks the diagnosis cited when it named
it (`diagnosis.CHECK_PROBES`) — a held ``token+origin`` handshake's period includes its hold.
Goal: named and cleared within two.
Prints resources after warm-up and at the end (RSS each minute), and one table row per fault.
Exit 1 when a fault is not named or not cleared, or the dashboard died.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import process_figures, table  # noqa: E402

from wsmonitor.rules.base import FAIL
from wsmonitor.demo.faults import FAULTS, Fault  # noqa: E402
from wsmonitor.demo.stack import DemoStack  # noqa: E402
from wsmonitor.rules.diagnosis import CHECK_PROBES
from wsmonitor.runtime import check_context, judge  # noqa: E402
from wsmonitor.ui.app import KioskApp, create_app  # noqa: E402

POLL = 0.1
"""Seconds between looks at the verdict."""


@dataclass
class Round:
    fault: Fault
    on_at: float
    named_at: float | None = None
    banner_named_at: float | None = None
    cited: tuple[str, ...] = ()
    """The checks the diagnosis cited when it named the fault."""
    off_at: float | None = None
    cleared_at: float | None = None
    banner_cleared_at: float | None = None
    all_clear_at: float | None = None


@dataclass
class Figures:
    rss: list[float] = field(default_factory=list)


def banner_layer(app: KioskApp) -> str:
    """The layer the banner names (``none`` when it says nothing is broken)."""
    from textual.widgets import Static

    visual = app.screen.query_one("#banner", Static).visual
    text = getattr(visual, "plain", str(visual))
    if "nothing broken found" in text:
        return "none"
    if "broken layer:" in text:
        return text.split("broken layer:", 1)[1].split()[0].strip(" ,.(")
    return "?"


def periods(engine, names: list[str]) -> dict[str, float]:  # noqa: ANN001
    """Median gap between runs of each probe (over its retained history; a held socket's
    interim sample is not a run)."""
    out = {}
    for name in names:
        at = [s.at for s in engine.history(name) if not getattr(s, "interim", False)][-40:]
        gaps = [b - a for a, b in zip(at, at[1:])]
        out[name] = statistics.median(gaps) if gaps else float("nan")
    return out


def deciding(check: str, probes: list[str]) -> list[str]:
    wanted = CHECK_PROBES.get(check, ())
    return [p for p in probes if any(p == w or (w.endswith(":") and p.startswith(w))
                                     for w in wanted)]


async def soak(args: argparse.Namespace) -> int:
    rate = args.rate
    # The target's notifications are compressed too (a consumer failing on each logs sooner).
    stack = await asyncio.to_thread(DemoStack.start, (), redis=args.redis,
                                    notify_every=3.0 / rate)
    settings = stack.monitor_settings(kiosk=True, interval=2.0 / rate, hold=30.0 / rate)
    engine = stack.build_engine(settings, rate)
    app = create_app(settings, engine)
    assert isinstance(app, KioskApp)
    ctx_settings = settings
    rounds: list[Round] = []
    rss_minutes: list[float] = []
    fd_minutes: list[int] = []
    died = ""
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            cited: tuple[str, ...] = ()

            def raw() -> tuple[str, dict[str, str]]:
                nonlocal cited
                history = {name: engine.history(name) for name in engine.probes}
                diagnosis, results = judge(check_context(ctx_settings, engine), history)
                cited = diagnosis.checks
                return diagnosis.layer, {r.id: r.status for r in results}

            t0 = time.monotonic()
            while raw()[0] != "none" or banner_layer(app) != "none":
                if time.monotonic() - t0 > 120:
                    print(f"never healthy after warm-up: {raw()}", file=sys.stderr)
                    return 1
                await pilot.pause(0.2)
            await pilot.pause(5.0)
            probe_periods = periods(engine, list(engine.probes))
            gc.collect()
            start = process_figures(engine)
            runs0 = sum(s.runs for s in engine.states.values())
            began = time.monotonic()
            end = began + args.minutes * 60
            next_minute = began
            i = 0
            while time.monotonic() < end:
                f = FAULTS[i % len(FAULTS)]
                i += 1
                await asyncio.to_thread(stack.set_fault, f.name, True)
                r = Round(f, time.monotonic())
                rounds.append(r)
                while True:
                    now = time.monotonic()
                    if now >= next_minute:
                        figs = process_figures(engine)
                        rss_minutes.append(figs["rss_mib"])
                        fd_minutes.append(int(figs["fds"]))
                        next_minute += 60
                    layer, status = raw()
                    if r.named_at is None and layer == f.layer and status.get(f.check) == FAIL:
                        r.named_at, r.cited = now, cited
                    if r.banner_named_at is None and r.off_at is None \
                            and banner_layer(app) == f.layer:
                        r.banner_named_at = now
                    if r.off_at is None and (now - r.on_at >= args.on or (
                            r.named_at and r.banner_named_at and now - r.on_at >= args.on / 3)):
                        await asyncio.to_thread(stack.set_fault, f.name, False)
                        r.off_at = time.monotonic()
                    elif r.off_at is not None:
                        if r.cleared_at is None and layer != f.layer \
                                and status.get(f.check) != FAIL:
                            r.cleared_at = now
                        if r.banner_cleared_at is None and banner_layer(app) != f.layer \
                                and (r.banner_named_at is not None or now - r.off_at > 1):
                            r.banner_cleared_at = now
                        if layer == "none" and r.cleared_at and r.banner_cleared_at:
                            r.all_clear_at = now
                            break
                        if now - r.off_at > args.settle:
                            break
                    if engine._thread is None or not engine._thread.is_alive():
                        died = "the engine's thread died"
                        break
                    await pilot.pause(POLL)
                if died:
                    break
                if args.verbose:
                    print(row_of(r, probe_periods, list(engine.probes)), flush=True)
                await pilot.pause(1.0)  # healthy for a moment between faults
            gc.collect()
            finish = process_figures(engine)
            runs = sum(s.runs for s in engine.states.values()) - runs0
            elapsed = time.monotonic() - began
            await pilot.press("q")
    finally:
        engine.stop()
        await asyncio.to_thread(stack.stop)

    print(f"demo soak: {elapsed / 60:.1f} min at {rate:g}x the default rate, {runs} probe runs "
          f"({runs / elapsed:.1f}/s), {len(rounds)} fault rounds ({stack.redis_kind} Redis)"
          + (f"; {died}" if died else ""))
    print("sample periods while healthy: " + ", ".join(
        f"{k} {v:.2f} s" for k, v in probe_periods.items()))
    print(f"{'figure':<14}{'start':>10}{'end':>10}{'growth':>10}")
    for key in ("rss_mib", "fds", "ui_tasks", "engine_tasks", "threads"):
        a, b = start[key], finish[key]
        fmt = "{:.1f}" if key == "rss_mib" else "{:.0f}"
        print(f"{key:<14}{fmt.format(a):>10}{fmt.format(b):>10}{fmt.format(b - a):>10}")
    print(f"fds by kind: start {start['fd_kinds']}, end {finish['fd_kinds']}")
    print("RSS each minute (MiB): " + " ".join(f"{v:.1f}" for v in rss_minutes))
    print("fds each minute: " + " ".join(str(v) for v in fd_minutes))
    print()
    rows = []
    failed = bool(died)
    for f in FAULTS:
        mine = [r for r in rounds if r.fault is f]
        if not mine:
            continue
        checks = {f.check, *(c for r in mine for c in r.cited)}
        probes = {p for c in checks for p in deciding(c, list(engine.probes))}
        period = max((probe_periods[p] for p in probes), default=float("nan"))
        named = [r.named_at - r.on_at for r in mine if r.named_at]
        banner = [r.banner_named_at - r.on_at for r in mine if r.banner_named_at]
        cleared = [r.cleared_at - r.off_at for r in mine if r.cleared_at and r.off_at]
        bcleared = [r.banner_cleared_at - r.off_at for r in mine
                    if r.banner_cleared_at and r.off_at]
        failed |= len(named) < len(mine) or len(cleared) < len(mine)
        worst_named = max(named) / period if named else float("inf")
        worst_cleared = max(cleared) / period if cleared else float("inf")
        rows.append((f"{f.name} named (x{len(mine)}, worst; banner {fmt_max(banner)})",
                     f"{fmt_max(named)}", f"interval {period:.2f} s",
                     f"{worst_named:.1f} intervals", "<= 2"))
        rows.append((f"{f.name} cleared (worst; banner {fmt_max(bcleared)})",
                     f"{fmt_max(cleared)}", f"interval {period:.2f} s",
                     f"{worst_cleared:.1f} intervals", "<= 2"))
    print(table(rows))
    return 1 if failed else 0


def fmt_max(values: list[float]) -> str:
    return f"{max(values):.1f} s" if values else "never"


def row_of(r: Round, probe_periods: dict[str, float], names: list[str]) -> str:
    def d(a: float | None, b: float | None) -> str:
        return f"{a - b:5.1f}" if a is not None and b is not None else "  -  "

    return (f"{r.fault.name:<18} named {d(r.named_at, r.on_at)} banner "
            f"{d(r.banner_named_at, r.on_at)} | cleared {d(r.cleared_at, r.off_at)} banner "
            f"{d(r.banner_cleared_at, r.off_at)} all clear {d(r.all_clear_at, r.off_at)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=10.0,
                        help="times the default probe rate (default 10)")
    parser.add_argument("--on", type=float, default=15.0, metavar="SECONDS",
                        help="longest a fault stays on (default 15; a third of it once the "
                             "checks and the banner both name it)")
    parser.add_argument("--settle", type=float, default=60.0, metavar="SECONDS",
                        help="longest wait for a fault to clear (default 60)")
    parser.add_argument("--redis", default="auto", choices=("auto", "redis-server", "embedded"))
    parser.add_argument("--verbose", action="store_true", help="print each round")
    args = parser.parse_args()
    return asyncio.run(soak(args))


if __name__ == "__main__":
    raise SystemExit(main())
