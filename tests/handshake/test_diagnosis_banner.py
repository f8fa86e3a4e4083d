"""The dashboard's banner through Pilot: one odd sample is shown at once as an unconfirmed
candidate (never hidden behind the older verdict), and when the next sample says the confirmed
layer again, the banner returns to it with the time it was first reached."""

from __future__ import annotations

import time

from wsmonitor.config import load_settings
from wsmonitor.probes.handshake import HandshakeSample
from wsmonitor.runtime import build_engine
from wsmonitor.ui.app import create_app

from ..test_ui import banner, wait_for


async def test_one_odd_sample_does_not_flip_the_banner(misbehaving) -> None:  # noqa: ANN001
    settings = load_settings({"url": misbehaving.url("/status/502"), "hold": 1.0},
                             environ={})
    engine = build_engine(settings)
    app = create_app(settings, engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: "broken layer: proxy" in banner(app), timeout=30)
        since = banner(app).split("since ")[1][:8]
        engine.pause()
        await wait_for(pilot, lambda: not any(s.running for s in engine.states.values()))
        # One stalled handshake, as if connect() had hung once: alone it reads as the
        # channel layer, but it is one sample against a stable 502
        engine.publish(HandshakeSample(
            probe="handshake:token+origin", at=time.time(), ok=False,
            error="dropped 4.8 s after the request", error_kind="connect-stalled",
            variant="token+origin", classification="connect-stalled", elapsed_s=4.8,
            phase="upgrade"))
        await wait_for(pilot, lambda: "broken layer: channel-layer · unconfirmed" in banner(app))
        assert "was proxy" in banner(app)
        assert app.screen.query_one("#banner").has_class("-unconfirmed")
        # the next real sample is the 502 again: the odd one is forgotten
        engine.resume()
        engine.run_now("handshake:token+origin")
        await wait_for(pilot, lambda: "unconfirmed" not in banner(app), timeout=30)
        assert "broken layer: proxy · confirmed" in banner(app) and f"since {since}" in banner(app)
