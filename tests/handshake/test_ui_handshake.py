"""The WebSocket pane and banner, driven through Pilot against the real target."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from wsmonitor.config import load_settings
from wsmonitor.runtime import build_engine
from wsmonitor.ui.app import create_app
from wsmonitor.ui.handshake_pane import HandshakePane

from ..test_ui import banner, text_of, wait_for


def make(**flags: Any):  # noqa: ANN201
    flags.setdefault("hold", 2.0)
    settings = load_settings(flags, environ={})
    return create_app(settings, build_engine(settings))


def rows(app) -> str:  # noqa: ANN001
    return text_of(app.screen.query_one(HandshakePane).query_one("#hs-rows", Static))


def hold(app) -> str:  # noqa: ANN001
    return text_of(app.screen.query_one(HandshakePane).query_one("#hs-hold", Static))


def http(app) -> str:  # noqa: ANN001
    return text_of(app.screen.query_one(HandshakePane).query_one("#hs-http", Static))


async def test_pane_shows_variants_hold_and_http(target) -> None:  # noqa: ANN001
    app = make(url=target.url, jwt_secret=target.secret_key, jwt_user_id=target.user_id)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: "waiting" not in rows(app) and "open" in hold(app)
                       and "polling" in http(app), timeout=40)
        text = rows(app)
        assert "✔ token+origin  ok" in text
        for variant in ("no-token", "no-origin", "wrong-origin"):
            assert f"✔ {variant:<13} forbidden" in text  # rejected, as it should be
        assert "ack ✔" in hold(app) and "app pong" in hold(app)
        assert "✔ redis-health 200" in http(app)
        await wait_for(pilot, lambda: "nothing broken found" in banner(app), timeout=20)
        svg = app.export_screenshot()
        assert target.secret_key not in svg


async def test_banner_names_origin_and_pane_marks_failure(target) -> None:  # noqa: ANN001
    app = make(url=target.url, jwt_secret=target.secret_key, jwt_user_id=target.user_id,
               origin="https://evil.example.com")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: "broken layer: origin" in banner(app), timeout=40)
        assert "ALLOWED_HOSTS" in banner(app)
        assert "✖ token+origin  forbidden" in rows(app)
        assert app.screen.query_one(HandshakePane).has_class("-failing")
