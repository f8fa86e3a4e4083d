"""``wsmonitor demo``'s dashboard through Pilot: every pane live on the demo, and a fault key
that the checklist and banner follow (and the kiosk has no such key)."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.widgets import Static

from wsmonitor.demo.app import DemoApp, FaultMenu
from wsmonitor.demo.stack import DemoStack
from wsmonitor.ui.app import KioskApp, create_app
from wsmonitor.ui.checklist_pane import ChecklistPane
from wsmonitor.ui.handshake_pane import HandshakePane
from wsmonitor.ui.logs_pane import LogsPane
from wsmonitor.ui.redis_pane import RedisPane

SIZE = (140, 44)


def text(widget: Static) -> str:
    visual = widget.visual
    return getattr(visual, "plain", str(visual))


def shown(app: DemoApp, widget_type: type) -> str:
    """Every Static's text inside one pane of the dashboard."""
    pane = app.screen_stack[1].query_one(widget_type)
    return "\n".join(text(w) for w in pane.query(Static))


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 40.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.1)


def demo_app(demo: DemoStack) -> DemoApp:
    """The demo's dashboard at a quick pace (a failing probe retries within 2 s)."""
    settings = demo.monitor_settings(hold=1.0, interval=0.5)
    engine = demo.build_engine(settings)
    engine.max_backoff = 2.0
    return DemoApp(settings, engine, demo)


def checklist(app: DemoApp) -> str:
    return app.screen_stack[1].query_one(ChecklistPane).text()


def banner(app: DemoApp) -> str:
    return text(app.screen_stack[1].query_one("#banner", Static))


async def test_demo_dashboard_is_live_and_a_fault_key_works(demo: DemoStack) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "nothing broken found" in banner(app))
        assert "OK" in shown(app, RedisPane)
        assert "token+origin" in shown(app, HandshakePane) and "101" in shown(app, HandshakePane)
        assert demo.log_file in shown(app, LogsPane)
        assert "PASS    allowed-hosts" in checklist(app)
        assert "f" in app.active_bindings  # shown in the footer as "f Faults"

        await pilot.press("f")
        assert isinstance(app.screen, FaultMenu)
        menu = text(app.screen.query_one("#fault-list", Static))
        assert "4  ○ off  origin-rejected" in menu
        await pilot.press("4")
        await wait_for(pilot, lambda: "origin-rejected" in demo.faults and not app.switching)
        assert "4  ● ON   origin-rejected" in text(app.screen.query_one("#fault-list", Static))
        await pilot.press("escape")
        assert not isinstance(app.screen, FaultMenu)
        await wait_for(pilot, lambda: "FAIL    allowed-hosts" in checklist(app))
        await wait_for(pilot, lambda: "origin" in banner(app))

        await pilot.press("f", "4", "escape")
        await wait_for(pilot, lambda: "origin-rejected" not in demo.faults)
        await wait_for(pilot, lambda: "PASS    allowed-hosts" in checklist(app))


async def test_token_expired_key_changes_what_the_checks_know(demo: DemoStack) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "PASS    jwt-valid" in checklist(app))
        await pilot.press("f", "5", "escape")
        await wait_for(pilot, lambda: "FAIL    jwt-valid" in checklist(app))
        assert app.settings.token is not None  # wsmonitor now holds the expired token
        await pilot.press("f", "5", "escape")
        await wait_for(pilot, lambda: "PASS    jwt-valid" in checklist(app))
        assert app.settings.token is None


async def test_kiosk_on_the_demo_has_no_fault_key(demo: DemoStack) -> None:
    settings = demo.monitor_settings(kiosk=True)
    app = create_app(settings, demo.build_engine(settings), start_engine=False)
    assert isinstance(app, KioskApp) and not isinstance(app, DemoApp)
    async with app.run_test(size=SIZE) as pilot:
        assert "f" not in app.active_bindings
        await pilot.press("f")
        await pilot.pause(0.2)
        assert not any(isinstance(s, FaultMenu) for s in app.screen_stack)
    assert demo.faults == frozenset()
