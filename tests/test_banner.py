"""The verdict banner on its own: large word or compact band, every part of the verdict in
words, within its rows at 80 and 160 columns."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from wsmonitor.rules.base import Diagnosis
from wsmonitor.ui.banner import VerdictBanner, big_text

T = 1767225600.0

REMEDY = ("Compare the service's REDIS_URL with the one that works from here; for ElastiCache "
          "check the VPC connector and security groups, for Upstash use rediss://.")


class BannerApp(App[None]):
    def compose(self) -> ComposeResult:
        yield VerdictBanner(id="banner")


@pytest.mark.parametrize(("width", "height"), [(80, 24), (160, 48)])
@pytest.mark.parametrize("layer", ["channel-layer", "redis", "none", "unknown"])
async def test_every_part_in_words_within_its_rows(layer: str, width: int, height: int) -> None:
    diagnosis = Diagnosis(layer, "The channel-layer round trip fails: refused.", REMEDY,
                          confidence="likely" if layer == "redis" else "confirmed")
    app = BannerApp()
    async with app.run_test(size=(width, height)) as pilot:
        banner = app.query_one(VerdictBanner)
        banner.show(diagnosis, confirmed=layer != "channel-layer", since=T - 75, now=T,
                    paused=layer == "none")
        await pilot.pause()
        text = banner.plain()
        rows = text.splitlines()
        assert len(rows) <= (4 if height >= 40 else 3) and banner.region.height == len(rows)
        headline = {"none": "nothing broken found", "unknown": "not decided yet"}.get(
            layer, f"broken layer: {layer}")
        assert headline in text and "Do first:" in text
        assert "since" in text or "for 75 s" in text
        if layer == "channel-layer":
            assert "unconfirmed" in text
        if layer == "redis":
            assert "likely" in text
        if layer == "none":
            assert "PAUSED" in text
        big = big_text({"none": "OK", "unknown": "UNKNOWN"}.get(layer, layer))
        if width >= 160:
            assert all(row in text for row in big), text  # the word drawn large
            assert "use rediss://." in text and "…" not in text  # the do-first whole
        else:
            assert big[0] not in text


def test_big_text_is_three_even_rows() -> None:
    rows = big_text("plan-limit")
    assert len(rows) == 3 and len({len(r) for r in rows}) == 1 and len(rows[0]) == 40
    assert set("".join(rows)) <= set(" ▀▄█")
