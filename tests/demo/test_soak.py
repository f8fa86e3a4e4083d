"""The short soak (two minutes): one long-lived engine against the demo at ten times the
default probe rate (`DemoStack.build_engine(…, rate=10)`), the faults switched on and off in
turn, each at least once. Each is named while on and cleared after, within two runs of the
slowest probe its verdict rests on; memory, file descriptors, threads and the engine's
asyncio tasks stay flat; nothing crashes. (`bench/soak_demo.py` is the long version and
prints the times.)"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from pathlib import Path

from wsmonitor.rules.base import FAIL
from wsmonitor.demo.faults import FAULTS
from wsmonitor.rules.diagnosis import CHECK_PROBES
from wsmonitor.runtime import check_context, judge

from .conftest import start

RATE = 10
"""Times the default probe rate."""

SOAK_SECONDS = 120.0
"""Faults are switched in turn until every one has been, and this long has passed."""

WINDOW_BOUND = ("consumer-errors",)
"""Faults whose only evidence is the log: they clear when their errors leave the log's recent
window (the demo's 60 s, divided by the rate), not within a count of runs."""


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Watch:
    """The verdict, and how many runs of its probes it took since a fault was switched."""

    def __init__(self, engine, settings) -> None:  # noqa: ANN001
        self.engine, self.settings = engine, settings
        self._since = 0.0
        self.observed_at = 0.0
        self.observed: dict = {}
        """The history `until` saw its condition hold on, and when."""

    def verdict(self, history=None, now=None):  # noqa: ANN001, ANN201
        if history is None:
            history = {name: self.engine.history(name) for name in self.engine.probes}
        diagnosis, results = judge(check_context(self.settings, self.engine), history, now)
        return diagnosis.layer, {r.id: r.status for r in results}, diagnosis.checks

    def mark(self) -> None:
        """The switch: runs that started before it do not count."""
        self._since = time.time()

    def probes_of(self, checks: set[str]) -> set[str]:
        out = set()
        for cid in checks:
            for want in CHECK_PROBES.get(cid, ()):
                out |= {p for p in self.engine.probes
                        if p == want or (want.endswith(":") and p.startswith(want))}
        return out

    def until(self, condition, timeout: float, what: str):  # noqa: ANN001, ANN201
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = {name: self.engine.history(name) for name in self.engine.probes}
            now = time.time()  # after the history: every sample in it is older
            got = self.verdict(history, now)
            if condition(*got):
                self.observed, self.observed_at = history, now
                return got
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {timeout:g} s (now {self.verdict()[0]!r})")

    def runs_until(self, condition, probes: set[str]) -> dict[str, int]:  # noqa: ANN001
        """Judge the history as it stood at each sample since the switch; at the first
        moment `condition` held: the runs of each probe that started after the switch and
        had finished (counted on the samples, so the watcher's own pace does not count)."""
        history = self.observed
        moments = sorted({s.at for h in history.values() for s in h if s.at > self._since})
        # Time alone can decide too (errors leaving the log window): the moment it was seen.
        for t in [*moments, self.observed_at]:
            upto = {n: [s for s in h if s.at <= t] for n, h in history.items()}
            if condition(*self.verdict(upto, t)):
                return {p: sum(1 for s in upto[p] if not getattr(s, "interim", False)
                               and s.at - (s.duration_ms or 0.0) / 1000 >= self._since)
                        for p in probes}
        raise AssertionError("the condition held live but not on the same history")


def test_soak_every_fault_named_and_cleared_at_ten_times_the_rate() -> None:
    # The target's notifications come ten times as often too: a consumer that fails on each
    # one logs its first error within a run of the logs probe.
    stack = start(notify_every=3.0 / RATE)
    try:
        settings = stack.monitor_settings(hold=30.0 / RATE, interval=2.0 / RATE)
        engine = stack.build_engine(settings, rate=RATE)
        engine.start()
        watch = Watch(engine, settings)
        try:
            watch.until(lambda layer, *_: layer == "none", 60, "healthy at the start")
            time.sleep(3)  # warm: connections made, buffers started filling
            rss0, fds0, threads0 = rss_mib(), fds(), threading.active_count()
            loop = engine._loop
            assert loop is not None
            tasks0 = len(asyncio.all_tasks(loop))
            slow: list[str] = []
            began = time.monotonic()
            done: set[str] = set()
            for f in itertools.cycle(FAULTS):
                if len(done) == len(FAULTS) and time.monotonic() - began > SOAK_SECONDS:
                    break
                done.add(f.name)
                stack.set_fault(f.name, True)  # in force when it returns
                watch.mark()
                def named(layer, status, _c, f=f) -> bool:  # noqa: ANN001
                    return layer == f.layer and status[f.check] == FAIL

                def cleared(layer, status, _c, f=f) -> bool:  # noqa: ANN001
                    return layer != f.layer and status[f.check] != FAIL

                _, _, cited = watch.until(named, 30, f"{f.name} named")
                probes = watch.probes_of({f.check, *cited})
                # Named before the slowest probe it rests on finished a third run since.
                runs = watch.runs_until(named, probes)
                if min(runs.values()) > 2:
                    slow.append(f"{f.name} named after {runs}")
                stack.set_fault(f.name, False)
                watch.mark()
                watch.until(cleared, 30, f"{f.name} cleared")
                runs = watch.runs_until(cleared, probes)
                if f.name not in WINDOW_BOUND and min(runs.values()) > 2:
                    slow.append(f"{f.name} cleared after {runs}")
                watch.until(lambda layer, *_: layer == "none", 30, f"all clear after {f.name}")
            assert not slow, slow
            assert engine._thread is not None and engine._thread.is_alive()
            rss1, fds1, threads1 = rss_mib(), fds(), threading.active_count()
            tasks1 = len(asyncio.all_tasks(loop))
            assert fds1 <= fds0 + 5, (fds0, fds1)
            assert threads1 <= threads0 + 2, (threads0, threads1)
            assert tasks1 <= tasks0 + 3, (tasks0, tasks1)
            assert rss1 - rss0 < 40, (rss0, rss1)
        finally:
            engine.stop()
    finally:
        stack.stop()
