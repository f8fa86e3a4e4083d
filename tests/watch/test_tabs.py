"""The dashboard over several targets: one tab per target, each label carrying its verdict;
``]``/``[`` switch (and the keys act on the target shown); the kiosk cycles by itself."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.servers import RedisServer
from wsmonitor.config import load_settings
from wsmonitor.runtime import build_engine
from wsmonitor.ui.tabs import create_tabbed_app


def _targets(healthy: RedisServer, refused_port: int) -> list[tuple[str, object, object]]:
    out = []
    for name, url in (("eu", healthy.url), ("us", f"redis://127.0.0.1:{refused_port}/0")):
        settings = load_settings({"redis_url": url, "interval": 1}, environ={})
        out.append((name, settings, build_engine(settings)))
    return out


async def _until(pilot: object, condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await pilot.pause(0.2)  # type: ignore[attr-defined]


def _strip(app: object) -> str:
    return str(app.screen.query_one("#target-tabs").render())  # type: ignore[attr-defined]


async def test_tabs_carry_each_targets_verdict_and_switch(redis_server: RedisServer,
                                                          unused_port: int) -> None:
    targets = _targets(redis_server, unused_port)
    app = create_tabbed_app(targets)
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: "eu ✔" in _strip(app) and "us ✖ redis" in _strip(app))
        first = app.screen
        assert app.engine is targets[0][2]
        await pilot.press("right_square_bracket")
        await _until(pilot, lambda: app.screen is not first)
        assert app.engine is targets[1][2] and app.settings is targets[1][1]
        # The shown target's banner is its own verdict.
        await _until(pilot, lambda: "redis" in str(app.screen.query_one("#banner").render()))
        await pilot.press("p")  # pause acts on the target shown
        assert targets[1][2].paused and not targets[0][2].paused
        await pilot.press("left_square_bracket")
        await _until(pilot, lambda: app.screen is first)


async def test_the_kiosk_cycles_through_the_targets_with_no_keys(redis_server: RedisServer,
                                                                 unused_port: int) -> None:
    targets = _targets(redis_server, unused_port)
    for _, settings, _ in targets:
        object.__setattr__(settings, "kiosk", True)
    app = create_tabbed_app(targets, kiosk=True)
    app.cycle = 1.0  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        first = app.screen
        await pilot.press("right_square_bracket")  # no such key in the kiosk
        await pilot.pause(0.1)
        assert app.screen is first
        await _until(pilot, lambda: app.screen is not first)
        await _until(pilot, lambda: app.screen is first)
        await _until(pilot, lambda: "us ✖ redis" in _strip(app))
