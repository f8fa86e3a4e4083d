"""Time to diagnosis, cold and warm, for each failure the demo can switch on
(`wsmonitor.demo.FAULTS`), judged as the dashboard judges: through a `VerdictPipeline` (one
judgement per burst of samples, and every couple of seconds), reading the verdict the banner
shows.

Cold (the default): a fresh demo stack with the fault already on, then a fresh engine.
- value: when the banner first showed the fault's layer, never to change again within the
  settle period after it; baseline: when the raw verdict first named it (the same run).

Warm (``--warm SECONDS``): one demo and one engine, running healthy for SECONDS (the issue asks
for at least 120), then each fault switched on while it runs (no "run now": a fault starts on
its own), and off again:
- named: switch → the shown verdict names the fault's layer (goal ≤ 10 s; consumer-stall
  ≤ 15 s); confirmed: → the same, confirmed;
- green again: switch off → the banner is green (``none``, confirmed) (goal ≤ 15 s; the
  log-borne consumer-errors: the demo's log window, 60 s);
- green over a failure: the longest time the banner was green while a check failed
  (goal 0 s); green after the switch: how long the banner stayed green after the fault began
  (the evidence had not come yet: at most one probe interval).

    python bench/time_to_diagnosis.py [--warm 120] [--no-cold] [--only redis-down,...]
        [--settle 10] [--timeout 60]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402

from wsmonitor.config import load_settings  # noqa: E402
from wsmonitor.demo import FAULTS, DemoStack, Fault  # noqa: E402
from wsmonitor.verdict import Verdict, VerdictPipeline  # noqa: E402

GOAL_S = 15.0
STALL_GOAL_S = 5.0 + 5.0
"""Cold: Daphne's 5 s connect timeout plus one probe of ``token+origin`` (5 s at least)."""
WARM_GOAL_S = 10.0
WARM_STALL_GOAL_S = 15.0
CLEAR_GOAL_S = 15.0
LOG_CLEAR_GOAL_S = 60.0 + 15.0
"""consumer-errors: its errors leave the demo's 60 s log window, then one judgement."""
POLL_S = 0.05


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


class Tape:
    """Every verdict the pipeline publishes, with the wall time it arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.verdicts: list[tuple[float, Verdict]] = []

    def __call__(self, verdict: Verdict) -> None:
        with self.lock:
            self.verdicts.append((time.monotonic(), verdict))

    def since(self, t0: float) -> list[tuple[float, Verdict]]:
        with self.lock:
            return [(t, v) for t, v in self.verdicts if t >= t0]

    def latest(self) -> Verdict | None:
        with self.lock:
            return self.verdicts[-1][1] if self.verdicts else None


def measure(fault: Fault | None, settle: float, timeout: float) -> Run:
    """Start the demo with `fault` on (None: healthy) and wsmonitor cold; time the verdict."""
    expected = fault.layer if fault else "none"
    run = Run(fault.name if fault else "(healthy)", expected)
    with DemoStack.start(faults=[fault.name] if fault else []) as demo:
        settings = demo.monitor_settings(base=load_settings({}, environ={}))
        engine = demo.build_engine(settings)
        pipeline = VerdictPipeline(engine, settings)
        tape = Tape()
        pipeline.subscribe(tape)
        t0 = time.monotonic()
        pipeline.start()
        engine.start()
        try:
            while True:
                elapsed = time.monotonic() - t0
                for at, v in tape.since(t0 + (run.shown[-1][0] if run.shown else 0.0)):
                    if v.diagnosis.layer == expected and run.raw_at is None:
                        run.raw_at = at - t0
                    if not run.shown or run.shown[-1][1] != v.shown.layer:
                        run.shown.append((at - t0, v.shown.layer))
                    run.final_summary = v.shown.summary
                if run.shown:
                    last_at, layer = run.shown[-1]
                    if layer == expected and elapsed - last_at >= settle:
                        run.stable_at = last_at
                        return run
                if elapsed > timeout:
                    return run
                time.sleep(POLL_S)
        finally:
            engine.stop()
            pipeline.stop()


@dataclass
class WarmRun:
    """One fault switched on and off in a dashboard that had been running."""

    fault: Fault
    named: float | None = None
    confirmed: float | None = None
    green_after_on: float = 0.0
    cleared: float | None = None
    none_shown: float | None = None
    """switch off → ``none`` first shown (still unconfirmed: the warning colour)."""
    green_over_failure: float = 0.0
    path: list[str] = field(default_factory=list)


def green(v: Verdict) -> bool:
    return v.shown.layer == "none" and v.confirmed


def longest_green_over_failure(tape: list[tuple[float, Verdict]], end: float) -> float:
    """The longest stretch during which the verdict on screen was green with a check failing."""
    longest, start = 0.0, None
    for (t, v), nxt in zip(tape, [*tape[1:], (end, None)], strict=True):
        bad = v.shown.layer == "none" and bool(v.failing)
        if bad and start is None:
            start = t
        if start is not None and (not bad or nxt[1] is None):
            longest = max(longest, nxt[0] - start)
            start = None
    return longest


def warm(faults: list[Fault], warmup: float, timeout: float) -> tuple[list[WarmRun], float]:
    """One demo, one engine and pipeline; healthy for `warmup` s, then each fault in turn."""
    runs: list[WarmRun] = []
    with DemoStack.start() as demo:
        base = load_settings({}, environ={})
        settings = demo.monitor_settings(base=base)
        engine = demo.build_engine(settings)
        pipeline = VerdictPipeline(engine, settings)
        tape = Tape()
        pipeline.subscribe(tape)
        t_start = time.monotonic()
        pipeline.start()
        engine.start()
        try:
            time.sleep(warmup)
            healthy_at = wait(tape, green, 120)
            if healthy_at is None:
                print(f"  the demo is not green after {warmup + 120:.0f} s: "
                      f"{tape.latest().shown.layer if tape.latest() else '?'}", file=sys.stderr)
            for f in faults:
                run = WarmRun(f)
                demo.set_fault(f.name, True)
                t_on = time.monotonic()
                if f.name == "token-expired":  # what the checks know of the token changes
                    pipeline.settings = demo.monitor_settings(base)
                    pipeline.poke()
                goal = WARM_STALL_GOAL_S if f.classification == "connect-stalled" \
                    else WARM_GOAL_S
                t = wait(tape, lambda v, f=f: v.shown.layer == f.layer and v.confirmed,
                         max(timeout, goal * 3), t_on)
                for at, v in tape.since(t_on):
                    if run.named is None and v.shown.layer == f.layer:
                        run.named = at - t_on
                    if not run.path or run.path[-1] != _label(v):
                        run.path.append(_label(v))
                run.confirmed = None if t is None else t - t_on
                still_green = [at for at, v in tape.since(t_on) if not green(v)]
                run.green_after_on = (still_green[0] - t_on) if still_green else \
                    time.monotonic() - t_on
                demo.set_fault(f.name, False)
                t_off = time.monotonic()
                if f.name == "token-expired":
                    pipeline.settings = demo.monitor_settings(base)
                    pipeline.poke()
                clear_goal = LOG_CLEAR_GOAL_S if f.check == "consumer-errors" else CLEAR_GOAL_S
                t = wait(tape, green, max(timeout, clear_goal * 2), t_off)
                run.cleared = None if t is None else t - t_off
                first = wait(tape, lambda v: v.shown.layer == "none", 0.0, t_off) \
                    if t is not None else None
                run.none_shown = None if first is None else first - t_off
                runs.append(run)
                print(f"  {f.name}: named {_s(run.named)}, confirmed {_s(run.confirmed)}, "
                      f"green again {_s(run.cleared)}; {' → '.join(run.path)}",
                      file=sys.stderr, flush=True)
                time.sleep(3.0)  # a few healthy rounds between faults
            worst = longest_green_over_failure(tape.since(t_start), time.monotonic())
        finally:
            engine.stop()
            pipeline.stop()
    return runs, worst


def _label(v: Verdict) -> str:
    return v.shown.layer + ("" if v.confirmed else "?")


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def wait(tape: Tape, condition, timeout: float, t0: float | None = None) -> float | None:  # noqa: ANN001
    """When a verdict (published after `t0`) first meets `condition`, or None."""
    t0 = time.monotonic() if t0 is None else t0
    deadline = t0 + timeout
    while True:
        for at, v in tape.since(t0):
            if condition(v):
                return at
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_S)


def cold_table(wanted: list[Fault], args: argparse.Namespace) -> None:
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
        rows.append((f"cold {run.fault} → {run.expected}", value, base, ratio,
                     (f"< {goal:.0f} s" + (" (stall: 5 s + 1 probe)" if stall else "")
                      + (" ok" if met else " MISSED")) if fault else "reference"))
    print(table(rows))
    print()
    for _fault, run in runs:
        path = " → ".join(layer for _at, layer in run.shown)
        print(f"{run.fault}: banner {path}; {run.final_summary}")
    print()


def warm_table(wanted: list[Fault], args: argparse.Namespace) -> None:
    runs, worst = warm(wanted, args.warm, args.timeout)
    rows = []
    for r in runs:
        f = r.fault
        goal = WARM_STALL_GOAL_S if f.classification == "connect-stalled" else WARM_GOAL_S
        clear = LOG_CLEAR_GOAL_S if f.check == "consumer-errors" else CLEAR_GOAL_S
        rows.append((f"warm {f.name}: named {f.layer}", _s(r.named),
                     f"confirmed {_s(r.confirmed)}", "-",
                     f"≤ {goal:.0f} s" + (" ok" if r.named is not None and r.named <= goal
                                          else " MISSED")))
        rows.append((f"warm {f.name}: green again", _s(r.cleared),
                     f"none first shown {_s(r.none_shown)}; still green "
                     f"{r.green_after_on:.1f} s after the switch on", "-",
                     f"≤ {clear:.0f} s" + (" ok" if r.cleared is not None and r.cleared <= clear
                                           else " MISSED")))
    rows.append(("warm: longest green over a failing check", f"{worst:.1f} s", "-", "-",
                 "0 s" + (" ok" if worst == 0 else " MISSED")))
    print(f"warm: healthy for {args.warm:.0f} s first")
    print(table(rows))
    print()
    for r in runs:
        print(f"{r.fault.name}: banner {' → '.join(r.path)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=10.0,
                        help="cold: seconds the verdict must hold to count as stable")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--only", default="", help="comma list of fault names")
    parser.add_argument("--healthy", action="store_true",
                        help="cold: also time the healthy demo's 'none' (bounded by --hold)")
    parser.add_argument("--warm", type=float, metavar="SECONDS", default=None,
                        help="also measure warm: the demo healthy this long, then each fault "
                             "switched on and off while it runs (the issue asks for ≥ 120)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold figures")
    args = parser.parse_args()
    wanted = [f for f in FAULTS if not args.only or f.name in args.only.split(",")]
    if not args.no_cold:
        cold_table(wanted, args)
    if args.warm is not None:
        warm_table(wanted, args)


if __name__ == "__main__":
    main()
