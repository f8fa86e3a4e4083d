"""Fixtures for the demo target: one running demo per module, faults cleared after each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from wsmonitor.demo.stack import DemoStack
from wsmonitor.demo.target import DemoUnavailable
from wsmonitor.runtime import check_context, judge
from wsmonitor.secrets import register_secret

HOLD = 1.0
"""Seconds the stays-open probe holds its socket in these tests."""


def start(**kwargs: Any) -> DemoStack:
    try:
        return DemoStack.start(**kwargs)
    except DemoUnavailable as exc:
        # No Redis for the demo fails the test: never a skip.
        pytest.fail(f"cannot start the demo: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def demo_module() -> Iterator[DemoStack]:
    stack = start()
    yield stack
    stack.stop()


@pytest.fixture
def demo(demo_module: DemoStack) -> Iterator[DemoStack]:
    """The module's demo, its secret registered, every fault off again afterwards."""
    register_secret(demo_module.secret)
    yield demo_module
    demo_module.clear_faults()


class Monitor:
    """wsmonitor pointed at a demo, as the dashboard runs it: a fresh engine per verdict, its
    Redis connection and log position taken before the fault is switched."""

    def __init__(self, stack: DemoStack, hold: float = HOLD) -> None:
        self.stack = stack
        self.hold = hold

    async def verdict(self, switch: str | None = None,
                      on: bool = True) -> tuple[Any, dict[str, Any], dict[str, list[Any]]]:
        """Switch a fault (optional), run every probe once, and judge.

        Returns:
            The diagnosis, the check results by id, and each probe's samples.
        """
        settings = self.stack.monitor_settings(hold=self.hold)
        engine = self.stack.build_engine(settings)
        engine.stagger = 0.02  # verdicts here, not timings: no need to spread the first runs
        try:
            # Connected and at the end of the log before the fault, as a running dashboard is.
            await engine.run_once(["redis", "logs"])
            if switch is not None:
                self.stack.set_fault(switch, on)
                settings = self.stack.monitor_settings(hold=self.hold)
            await engine.run_once([n for n in engine.probes if n != "logs"])
            await engine.run_once(["logs"])  # what the service logged meanwhile
        finally:
            await engine.close_probes()
        history = {name: engine.history(name) for name in engine.probes}
        diagnosis, results = judge(check_context(settings, engine), history)
        return diagnosis, {r.id: r for r in results}, history
