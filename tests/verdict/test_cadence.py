"""Cadence (SPEC "Checks"): every variant on a fresh socket at its own interval, the held socket
a probe of its own. A fault switched on while the dashboard runs shows in the WebSocket pane
from the next fresh handshake, while the held socket is still mid-hold; the pane's footer
states the true cadence and follows ``+``/``-``."""

from __future__ import annotations

import time

from textual.widgets import Static

from wsmonitor.probes.handshake import HOLD_PROBE, HandshakeSample
from wsmonitor.ui.app import create_app
from wsmonitor.ui.handshake_pane import HandshakePane

from ..demo.conftest import start
from ..test_ui import banner, text_of, wait_for

HOLD = 30.0
"""A hold as long as the default: the fault must not wait for it."""


async def test_a_fault_shows_from_the_next_fresh_handshake_while_a_socket_is_held() -> None:
    stack = start()
    try:
        settings = stack.monitor_settings(hold=HOLD)
        engine = stack.build_engine(settings)
        app = create_app(settings, engine)
        async with app.run_test(size=(160, 48)) as pilot:
            pane = app.screen.query_one(HandshakePane)

            def footer() -> str:
                return str(pane.border_subtitle)

            def rows() -> str:
                return text_of(pane.query_one("#hs-rows", Static))

            # the held socket is open (its 101 is in), and its hold has far to go
            await wait_for(pilot, lambda: any(
                isinstance(s, HandshakeSample) and s.interim
                for s in engine.history(HOLD_PROBE)), timeout=60)
            await wait_for(pilot, lambda: "✔ token+origin  ok" in rows(), timeout=30)
            assert "token+origin every 5 s" in footer() and "variants every 10 s" in footer()
            assert "hold every 35 s" in footer(), footer()
            holds_before = [s for s in engine.history(HOLD_PROBE) if not s.interim]
            switched = time.time()
            stack.set_fault("proxy-502", True)
            await wait_for(pilot, lambda: "✖ token+origin  bad-gateway" in rows(), timeout=40)
            await wait_for(pilot, lambda: "broken layer: proxy" in banner(app), timeout=20)
            # ...before the held socket's hold ended: the handshakes did not wait for it
            holds_after = [s for s in engine.history(HOLD_PROBE) if not s.interim]
            assert holds_after == holds_before, "the fault waited for the end of a hold"
            fresh = [s for s in engine.history("handshake:token+origin") if s.at > switched]
            assert fresh and fresh[0].classification == "bad-gateway", fresh
            assert pane.has_class("-failing")
            # + doubles the base interval twice (2 s → 8 s): the footer follows
            await pilot.press("plus")
            await pilot.press("plus")
            await wait_for(pilot, lambda: "token+origin every 8 s" in footer(), timeout=10)
            assert "variants every 10 s" in footer() and "hold every 38 s" in footer(), footer()
            await pilot.press("minus")
            await wait_for(pilot, lambda: "token+origin every 5 s" in footer(), timeout=10)
    finally:
        stack.stop()
