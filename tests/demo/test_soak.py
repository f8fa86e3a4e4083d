"""The short soak (at most two minutes): one long-lived engine against the demo at ten times the default probe
rate, faults switched on and off. Every fault is named while it is on and cleared after; memory,
file descriptors, threads and the engine's asyncio tasks stay flat; nothing crashes.
(`bench/soak_kiosk.py` is the long version.)"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

import wsmonitor.probes.redis as redis_probe_module
from wsmonitor.demo.faults import FAULTS
from wsmonitor.runtime import check_context, judge

from .conftest import start

SOAK_FAULTS = ("proxy-502", "origin-rejected", "redis-down")
"""Faults that a running dashboard must name and then clear (log-based ones linger by design:
errors in the logs stay evidence for a few minutes)."""

RATE = 10
"""Times the default probe rate."""


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def layer_now(stack, engine, settings) -> str:  # noqa: ANN001
    history = {name: engine.history(name) for name in engine.probes}
    diagnosis, _ = judge(check_context(settings, engine), history)
    return diagnosis.layer


def wait_layer(stack, engine, settings, want, timeout: float, negate: bool = False) -> float:  # noqa: ANN001
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        layer = layer_now(stack, engine, settings)
        if (layer != want) if negate else (layer == want):
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"verdict {'still' if negate else 'not'} {want!r} after {timeout:g} s "
                         f"(now {layer_now(stack, engine, settings)!r})")


def test_two_minute_soak_at_ten_times_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_probe_module, "MIN_INTERVAL", redis_probe_module.MIN_INTERVAL / RATE)
    stack = start()
    try:
        settings = stack.monitor_settings(hold=1.0, interval=0.2, log_file=None)
        engine = stack.build_engine(settings)
        engine.max_backoff = 30.0 / RATE
        for probe in engine.probes.values():
            if hasattr(probe, "min_interval"):
                probe.min_interval = probe.min_interval / RATE
        engine.start()
        try:
            wait_layer(stack, engine, settings, "none", 40)
            time.sleep(5)  # warm: connections made, buffers started filling
            rss0, fds0, threads0 = rss_mib(), fds(), threading.active_count()
            loop = engine._loop
            assert loop is not None
            tasks0 = len(asyncio.all_tasks(loop))
            expected = {f.name: f.layer for f in FAULTS}
            deadline = time.monotonic() + 120
            named, cleared = {}, {}
            for name in SOAK_FAULTS * 2:
                if time.monotonic() > deadline - 20:
                    break
                stack.set_fault(name, True)
                named.setdefault(name, []).append(
                    wait_layer(stack, engine, settings, expected[name], 20))
                time.sleep(2)
                stack.set_fault(name, False)
                cleared.setdefault(name, []).append(
                    wait_layer(stack, engine, settings, expected[name], 30, negate=True))
                wait_layer(stack, engine, settings, "none", 30)
            assert set(named) == set(SOAK_FAULTS), named
            assert engine._thread is not None and engine._thread.is_alive()
            assert sum(s.runs for s in engine.states.values()) > 200  # it really ran fast
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
