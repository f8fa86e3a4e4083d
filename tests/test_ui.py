"""The dashboard driven through Pilot, against real redis-server processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.widgets import Static

from wsmonitor.config import load_settings
from wsmonitor.runtime import build_engine
from wsmonitor.ui.app import KioskApp, WsMonitorApp, create_app
from wsmonitor.ui.checklist_pane import ChecklistPane
from wsmonitor.ui.redis_pane import RedisPane

SIZE = (120, 40)


def text_of(widget: Static) -> str:
    visual = widget.visual
    return getattr(visual, "plain", str(visual))


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.1)


def make_app(**flags: object) -> WsMonitorApp:
    settings = load_settings(flags, environ={})
    engine = build_engine(settings)
    engine.max_backoff = 2.0
    return create_app(settings, engine)


def banner(app: WsMonitorApp) -> str:
    return text_of(app.screen.query_one("#banner", Static))


def redis_status(app: WsMonitorApp) -> str:
    return text_of(app.screen.query_one(RedisPane).query_one("#redis-status", Static))


def redis_figures(app: WsMonitorApp) -> str:
    return text_of(app.screen.query_one(RedisPane).query_one("#redis-figures", Static))


def checklist(app: WsMonitorApp) -> str:
    return app.screen.query_one(ChecklistPane).text()


async def test_redis_pane_shows_live_figures(redis_server) -> None:  # noqa: ANN001
    app = make_app(redis_url=redis_server.url + "?socket_timeout=10", interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "OK" in redis_status(app))
        await wait_for(pilot, lambda: "/day" in redis_figures(app)
                       and "service" in redis_figures(app))
        figures = redis_figures(app)
        assert "p50" in figures and "p99" in figures
        # Fewer than 100 pings so far: no p99 made up from them.
        assert "p99 n too small (n < 100)" in figures, figures
        assert "/ 10,000 (maxclients)" in figures
        assert "wsmonitor" in figures and "6 commands every 2 s" in figures
        assert "PASS    redis-reachable" in checklist(app)
        assert "updated" in str(app.screen.query_one(RedisPane).border_subtitle)
        assert "nothing broken found" in banner(app)


async def test_pane_names_failure_and_recovers_after_restart(redis_server) -> None:  # noqa: ANN001
    app = make_app(redis_url=redis_server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "OK" in redis_status(app))
        redis_server.kill()
        app.engine.run_now()
        await wait_for(pilot, lambda: "OK" not in redis_status(app))
        status = redis_status(app)
        assert "REFUSED" in status or "CLOSED" in status or "RESET" in status, status
        assert "retrying" in status
        await wait_for(pilot, lambda: "broken layer: redis" in banner(app))
        assert "FAIL    redis-reachable" in checklist(app)
        assert app.screen.query_one(RedisPane).has_class("-failing")
        redis_server.start()
        await wait_for(pilot, lambda: "OK" in redis_status(app), timeout=40)
        assert not app.screen.query_one(RedisPane).has_class("-failing")
        probe = app.engine.probes["redis"]
        assert probe.reconnects >= 1


async def test_budgeted_plan_stretches_interval_and_says_so(redis_server) -> None:  # noqa: ANN001
    app = make_app(redis_url=redis_server.url, redis_plan="upstash-free")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "OK" in redis_status(app))
        sub = str(app.screen.query_one(RedisPane).border_subtitle)
        # 5 % of 500,000/month = 833/day, half for PING+INFO (6 a run) and half for the
        # channel-layer round trips → one Redis run every ~20 min 44 s
        assert "every 20 min 44 s" in sub, sub
        figures = redis_figures(app)
        assert "budget 5% = 833/day" in figures, figures
        assert "channel-layer" in figures


async def test_pause_and_run_now_keys(redis_server) -> None:  # noqa: ANN001
    app = make_app(redis_url=redis_server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "nothing broken found" in banner(app))
        await pilot.press("p")
        assert app.engine.paused
        await pilot.pause(0.2)
        assert "PAUSED" in str(app.screen.query_one(RedisPane).border_subtitle)
        assert "PAUSED" in banner(app) and "nothing broken found" in banner(app)
        # r while paused runs nothing and says why (issue 14: it used to promise a run).
        paused_runs = app.engine.states["redis"].runs
        await pilot.press("r")
        await pilot.pause(0.5)
        assert app.engine.states["redis"].runs == paused_runs
        assert any("paused" in str(n.message) for n in app._notifications)
        await pilot.press("p")
        assert not app.engine.paused
        runs = app.engine.states["redis"].runs
        await pilot.press("r")
        await wait_for(pilot, lambda: app.engine.states["redis"].runs > runs)
        factor = app.engine.interval_factor
        await pilot.press("plus")
        assert app.engine.interval_factor == factor * 2
        await pilot.press("minus")
        assert app.engine.interval_factor == factor


async def test_kiosk_is_read_only(redis_server) -> None:  # noqa: ANN001
    app = make_app(redis_url=redis_server.url, kiosk=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "OK" in redis_status(app))
        assert isinstance(app, KioskApp)
        assert app.ENABLE_COMMAND_PALETTE is False
        assert app.focused is None
        actions = {b.binding.action for b in app.active_bindings.values()}
        assert actions == {"quit"}, actions
        for key in ("p", "r", "plus", "minus", "ctrl+p"):
            await pilot.press(key)
        assert not app.engine.paused
        assert app.engine.interval_factor == 1.0
        assert "KIOSK" in text_of(app.screen.query_one("#statusbar", Static))
        await pilot.press("q")
    assert app.return_code in (0, None)


async def test_no_secret_on_screen(redis_password) -> None:  # noqa: ANN001
    app = make_app(redis_url=redis_password.url, token="eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "OK" in redis_status(app))
        await pilot.pause(0.2)
        svg = app.export_screenshot()
    from urllib.parse import quote

    for form in (redis_password.password, quote(redis_password.password, safe="")):
        assert form not in svg
        assert form.replace(" ", "&#160;") not in svg


async def test_engine_runs_on_its_own_thread_and_stops_with_app(redis_server) -> None:  # noqa: ANN001
    app = make_app(redis_url=redis_server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.engine.states["redis"].runs >= 1)
        thread = app.engine._thread
        assert thread is not None and thread.is_alive()
    await asyncio.sleep(0)
    assert app.engine._thread is None
    # the probe's connection is gone from the server
    names = [c.get("name") for c in redis_server.client().client_list()]
    assert "wsmonitor" not in names


async def test_help_theme_pane_keys(redis_server) -> None:  # noqa: ANN001
    from wsmonitor.ui.help_screen import HelpScreen

    app = make_app(redis_url=redis_server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "OK" in redis_status(app))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        first = app.theme
        await pilot.press("t")
        assert app.theme != first and app.theme.startswith("wsmonitor-")
        from wsmonitor.theme_files import theme_names

        seen = {app.theme}
        for _ in range(len(theme_names()) - 1):
            await pilot.press("t")
            seen.add(app.theme)

        assert len(seen) == len(theme_names())  # every shipped theme, in turn
        # 1-4 follow the screen's order, top left first: without --url the checklist is the
        # left column, Redis the right (issue 14 changed this from a fixed Redis-first order).
        pane = app.screen.query_one(ChecklistPane)
        redis = app.screen.query_one(RedisPane)
        assert pane.region.x < redis.region.x
        await pilot.press("2")
        assert app.screen.focused is redis
        await pilot.press("1")
        assert pane.has_focus_within and not pane.has_class("-max")
        await pilot.press("1")
        # Maximised: the pane fills the grid below the banner, which stays.
        await pilot.pause(0.1)
        assert pane.has_class("-max") and not redis.display
        banner_region = app.screen.query_one("#banner").region
        assert 3 <= banner_region.height <= 4
        assert pane.region.width >= SIZE[0] - 2 and pane.region.y == banner_region.bottom
        await pilot.press("1")
        await pilot.pause(0.1)
        assert not pane.has_class("-max") and redis.display
        await pilot.press("3")  # only two panes without --url: a notice, not a crash
        await pilot.pause(0.1)
        assert not any(p.has_class("-max") for p in app.screen.query(".pane"))


async def test_export_writes_svg_and_markdown_without_secrets(redis_password, tmp_path,  # noqa: ANN001
                                                              monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    app = make_app(redis_url=redis_password.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "OK" in redis_status(app))
        await pilot.press("e")
        await pilot.pause(0.3)
    svgs, mds = list(tmp_path.glob("wsmonitor-*.svg")), list(tmp_path.glob("wsmonitor-*.md"))
    assert len(svgs) == 1 and len(mds) == 1
    md = mds[0].read_text()
    assert md.startswith("# wsmonitor incident report")
    assert "redis-reachable" in md
    for text in (svgs[0].read_text(), md):
        assert redis_password.password not in text


async def test_checklist_enter_shows_evidence_and_remedy(redis_server, unused_port) -> None:  # noqa: ANN001
    from textual.widgets import OptionList

    from wsmonitor.ui.checklist_pane import CheckDetailScreen

    app = make_app(redis_url=f"redis://127.0.0.1:{unused_port}/0")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "FAIL    redis-reachable" in checklist(app))
        options = app.screen.query_one(ChecklistPane).query_one(OptionList)
        options.focus()
        options.highlighted = [o.id for o in options._options].index("redis-reachable")
        await pilot.press("enter")
        assert isinstance(app.screen, CheckDetailScreen)
        detail = text_of(app.screen.query_one("#check-detail", Static))
        assert "Evidence" in detail and "refused" in detail
        assert "What to do" in detail and "security group" in detail
        await pilot.press("escape")
        assert not isinstance(app.screen, CheckDetailScreen)


async def test_kiosk_checklist_has_nothing_to_select(redis_server) -> None:  # noqa: ANN001
    from textual.widgets import Input, OptionList

    app = make_app(redis_url=redis_server.url, kiosk=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "PASS    redis-reachable" in checklist(app))
        assert not app.screen.query(OptionList) and not app.screen.query(Input)
        assert not [w for w in app.screen.walk_children() if w.focusable]
