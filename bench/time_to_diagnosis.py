"""Time to diagnosis: from a cold start of wsmonitor to a stable, correct verdict, for each
failure the demo can switch on (`wsmonitor.demo.FAULTS`). Goal: under 15 s for every failure
but the stalled connect, which is bounded by Daphne's 5 s timeout plus one probe.

Each fault gets a fresh demo stack with the fault on, then a fresh engine with the dashboard's
defaults (the demo's settings: --interval and --hold as a user gets them), judged the way the
dashboard judges: after every sample, and every second, through the banner's `VerdictTracker`.

- value: when the banner first showed the fault's layer, never to change again within the
  settle period after it;
- baseline: when the raw verdict (no hysteresis) first named that layer, in the same run — the
  ratio is what the hysteresis costs;
- the line under the table gives what the banner showed on the way.

    python bench/time_to_diagnosis.py [--settle 10] [--timeout 60] [--only redis-down,...]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402

from wsmonitor.config import load_settings  # noqa: E402
from wsmonitor.demo import FAULTS, DemoStack, Fault  # noqa: E402
from wsmonitor.diagnosis import VerdictTracker, streaks  # noqa: E402
from wsmonitor.runtime import check_context, judge  # noqa: E402

GOAL_S = 15.0
STALL_GOAL_S = 5.0 + 5.0
"""Daphne's 5 s connect timeout plus one probe of ``token+origin`` (5 s at least)."""
POLL_S = 0.1
TICK_S = 1.0
"""The dashboard re-judges at least this often even when no sample comes."""


@dataclass
class Run:
    """One cold start against one fault."""

    fault: str
    expected: str
    stable_at: float | None = None
    raw_at: float | None = None
    shown: list[tuple[float, str]] = field(default_factory=list)
    """The banner's layers as they changed: (seconds from start, layer)."""
    final_summary: str = ""


def measure(fault: Fault | None, settle: float, timeout: float) -> Run:
    """Start the demo with `fault` on (None: healthy) and wsmonitor cold; time the verdict."""
    expected = fault.layer if fault else "none"
    run = Run(fault.name if fault else "(healthy)", expected)
    with DemoStack.start(faults=[fault.name] if fault else []) as demo:
        settings = demo.monitor_settings(base=load_settings({}, environ={}))
        engine = demo.build_engine(settings)
        tracker = VerdictTracker()
        seen = -1
        last_eval = 0.0
        t0 = time.monotonic()
        engine.start()
        try:
            while True:
                elapsed = time.monotonic() - t0
                count = sum(len(engine.history(n)) for n in engine.probes)
                if count != seen or elapsed - last_eval >= TICK_S:
                    seen, last_eval = count, elapsed
                    history = {n: engine.history(n) for n in engine.probes}
                    now = engine.now()
                    diagnosis, results = judge(check_context(settings, engine), history, now)
                    shown = tracker.update(diagnosis, now, results, streaks(history))
                    if diagnosis.layer == expected and run.raw_at is None:
                        run.raw_at = elapsed
                    if not run.shown or run.shown[-1][1] != shown.layer:
                        run.shown.append((elapsed, shown.layer))
                    run.final_summary = shown.summary
                last_at, layer = run.shown[-1]
                if layer == expected and elapsed - last_at >= settle:
                    run.stable_at = last_at
                    return run
                if elapsed > timeout:
                    return run
                time.sleep(POLL_S)
        finally:
            engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds the verdict must hold to count as stable")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--only", default="", help="comma list of fault names")
    parser.add_argument("--healthy", action="store_true",
                        help="also time the healthy demo's 'none' (bounded by --hold)")
    args = parser.parse_args()
    wanted = [f for f in FAULTS if not args.only or f.name in args.only.split(",")]
    runs: list[tuple[Fault | None, Run]] = []
    for fault in wanted + ([None] if args.healthy else []):  # type: ignore[list-item]
        run = measure(fault, args.settle, args.timeout)
        runs.append((fault, run))
        print(f"  {run.fault}: " + " → ".join(f"{layer} ({at:.1f} s)" for at, layer in run.shown),
              file=sys.stderr, flush=True)
    rows = []
    for fault, run in runs:
        stall = fault is not None and fault.classification == "connect-stalled"
        goal = STALL_GOAL_S if stall else GOAL_S
        value = f"{run.stable_at:.1f} s" if run.stable_at is not None else \
            f"not within {args.timeout:.0f} s"
        base = f"{run.raw_at:.1f} s raw verdict" if run.raw_at is not None else "never"
        ratio = f"{run.stable_at / run.raw_at:.2f}x" if run.stable_at is not None \
            and run.raw_at else "-"
        met = run.stable_at is not None and run.stable_at < goal
        rows.append((f"{run.fault} → {run.expected}", value, base, ratio,
                     (f"< {goal:.0f} s" + (" (stall: 5 s + 1 probe)" if stall else "")
                      + (" ok" if met else " MISSED")) if fault else "reference"))
    print(table(rows))
    print()
    for _fault, run in runs:
        path = " → ".join(layer for _at, layer in run.shown)
        print(f"{run.fault}: banner {path}; {run.final_summary}")


if __name__ == "__main__":
    main()
