"""Snapshots of the dashboard, per theme, at 80x24 and 160x48.

The dashboard is fed a recording built here with fixed timestamps and played by a
`ReplayEngine`, whose clock is the recording's: ages, the banner's "since" and the panes'
freshness come from it, not from the wall clock. Local time is pinned to UTC. Regenerate with
``pytest tests/test_snapshots.py --snapshot-update`` and look at the SVGs before committing.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import wsmonitor.probes.channel_layer  # noqa: F401  registers its sample type for replay
from wsmonitor.replay import ReplayEngine, load_recording, replay_settings
from wsmonitor.theme_files import theme_names
from wsmonitor.ui.app import MonitorScreen, create_app

T0 = 1767225600.0
"""2026-01-01 00:00:00 UTC: where the recording starts."""

THEMES = ("dark", "light", "high-contrast", "colorblind", "ansi-dark", "ansi-light")
SIZES = ((80, 24), (160, 48))


def _handshake(variant: str, at: float, **fields: object) -> dict:
    base = {"type": "HandshakeSample", "probe": f"handshake:{variant}", "at": at,
            "variant": variant, "url": "wss://app.example.com/ws/notifications/?token=***",
            "address": "203.0.113.10:443", "tls": True, "token_sent": variant != "no-token",
            "timings_ms": {"dns": 1.2, "tcp": 11.5, "tls": 24.8, "upgrade": 38.4,
                           "first_message": None}}
    if variant == "token+origin":
        base.update(ok=True, classification="ok", phase="done", status=101,
                    reason="Switching Protocols", hold_s=3.0, held_s=3.0, ack_received=True,
                    ping_rtt_ms=12.3, pings_sent=3, pongs_received=3, app_ping_sent=True,
                    app_pong_ms=13.1, messages_received=4, notifications=1,
                    timings_ms={"dns": 1.2, "tcp": 11.5, "tls": 24.8, "upgrade": 38.4,
                                "first_message": 40.2})
    else:
        base.update(ok=False, classification="forbidden", error_kind="forbidden",
                    error="HTTP 403 Access denied", phase="upgrade", status=403,
                    reason="Access denied", hold_s=1.0)
    base.update(fields)
    return base


def _redis(i: int, at: float, *, ok: bool = True) -> dict:
    if not ok:
        return {"type": "RedisSample", "probe": "redis", "at": at, "ok": False,
                "error": "connection refused: nothing listens on that host and port",
                "error_kind": "refused", "server": "redis.example.com:6379"}
    latencies = [0.4 + 0.05 * ((i * 7 + k * 3) % 9) for k in range(5)]
    return {"type": "RedisSample", "probe": "redis", "at": at, "ok": True,
            "latencies_ms": latencies,
            "window": {"p50": 0.55, "p95": 0.8, "p99": 0.8, "max": 0.8, "samples": 5 * (i + 1)},
            "info_ok": True, "connected_clients": 6, "maxclients": 10000,
            "rejected_connections": 0, "total_commands_processed": 1000 + 40 * i,
            "redis_version": "7.0.15", "commands_per_second": 0.08 if i else None,
            "own_commands_per_second": 0.01 if i else None, "own_commands_total": 6 * (i + 1),
            "server": "redis.example.com:6379"}


def _event(at: float, message: str, category: str | None = None,
           label: str | None = None, severity: str | None = None) -> dict:
    return {"timestamp": at, "location": "service.log", "message": message,
            "category": category, "event_id": f"{at}:{message[:8]}",
            "tags": [category] if category else [], "label": label, "severity": severity}


def write_recording(path: Path, *, redis_down_from: int | None = None) -> Path:
    """A recording of a healthy service over 20 s (Redis failing from run N, if asked)."""
    lines = [{"type": "RecordingHeader", "version": "test", "started_at": T0, "interval": 2.0,
              "kiosk": False, "plan": "upstash-free", "max_connections": None,
              "max_commands": None, "redis_budget": 5.0,
              "redis_url": "rediss://default:***@redis.example.com:6379/0",
              "url": "wss://app.example.com/ws/notifications/", "logs": True,
              "probes": {"redis": {"server": "redis.example.com:6379", "tls": True,
                                   "commands_per_run": 6, "budget_per_day": 833.3,
                                   "budget_percent": 5.0, "steady_interval": 622.0,
                                   "timeout": 26.0},
                         "logs": {"steady_interval": 2.0, "timeout": 15.0}}}]
    for i in range(10):
        ok = redis_down_from is None or i < redis_down_from
        lines.append(_redis(i, T0 + 2 * i + 0.3, ok=ok))
    for at in (T0 + 4, T0 + 9, T0 + 14, T0 + 19):
        lines.append(_handshake("token+origin", at))
    for variant, offset in (("no-token", 2), ("no-origin", 3), ("wrong-origin", 4)):
        for at in (T0 + offset, T0 + offset + 10):
            lines.append(_handshake(variant, at))
    for endpoint, extra in (("redis-health", {"healthy": True, "json_ok": True}),
                            ("ws-diagnostic", {"healthy": True, "json_ok": True}),
                            ("polling", {"json_ok": True})):
        lines.append({"type": "HttpSample", "probe": f"http:{endpoint}", "at": T0 + 5,
                      "ok": True, "endpoint": endpoint, "status": 200, "reason": "OK",
                      "url": f"https://app.example.com/api/{endpoint}/", **extra})
    for at in (T0 + 7, T0 + 17):
        lines.append({"type": "ChannelLayerSample", "probe": "channel-layer", "at": at,
                      "ok": True, "server": "redis.example.com:6379", "tls": True,
                      "phase": "done", "send_ms": 0.9, "receive_ms": 0.8, "round_trip_ms": 1.7,
                      "commands": 8, "own_commands_total": 8})
    events = [
        _event(T0 + 1, "GET /api/notifications/ 200"),
        _event(T0 + 2, "WebSocket connection rejected: anonymous user", "auth-rejected",
               "auth", "warning"),
        _event(T0 + 2, '"WSREJECT /ws/notifications/" - -', "ws-reject", "reject", "warning"),
        _event(T0 + 3, "WebSocket connected for user 42"),
    ]
    counts = {"auth-rejected": 1, "ws-reject": 1}
    for at, batch in ((T0 + 4, events[:2]), (T0 + 18, events[2:])):
        lines.append({"type": "LogsSample", "probe": "logs", "at": at, "ok": True,
                      "source": "file", "mode": "file", "target": "service.log",
                      "events": batch, "by_category": counts, "window_seconds": 900.0,
                      "events_in_window": 4, "events_total": 4})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


CELL_WIDTH = 12.2
"""Width of a character cell in Rich's SVG export (0.61 x its 20 px font)."""


def svg_lines(svg: str) -> str:
    """The text of a screenshot, line by line, each element at its column (Rich splits a line
    into one element per style and leaves out blank runs, so a secret could hide across
    elements in the raw SVG)."""
    rows: dict[float, dict[int, str]] = {}
    for m in re.finditer(r'<text[^>]*?x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg, re.S):
        cells = rows.setdefault(float(m.group(2)), {})
        start = round(float(m.group(1)) / CELL_WIDTH)
        for i, ch in enumerate(html.unescape(m.group(3)).replace("\xa0", " ")):
            cells[start + i] = ch
    return "\n".join("".join(cells.get(i, " ") for i in range(max(cells) + 1)).rstrip()
                     for _, cells in sorted(rows.items()) if cells)


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    """Local time pinned to UTC: the panes print clock times of the recording."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def replay_app(path: Path, theme: str, *, kiosk: bool = False):  # noqa: ANN201
    """The dashboard over a replay of `path`, played to its end before the app starts.

    Played first, the dashboard judges the whole recording once, at the recording's last
    moment: what it shows cannot depend on how many samples the UI happened to take in
    along the way (the banner's "since" would).
    """
    from wsmonitor.config import with_overrides

    recording = load_recording(str(path))
    settings = with_overrides(replay_settings(recording), theme=theme, kiosk=kiosk)
    engine = ReplayEngine(recording, speed=1e9)
    engine.start()
    assert engine.finished.wait(30), "the replay did not finish"
    engine.stop()
    app = create_app(settings, engine, start_engine=False)

    async def settle(pilot) -> None:  # noqa: ANN001
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, MonitorScreen)
        screen.refresh_views()
        await pilot.pause()

    return app, settle


def test_every_theme_is_covered() -> None:
    assert set(THEMES) <= set(theme_names())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_dashboard(snap_compare, tmp_path: Path, theme: str, size: tuple[int, int]) -> None:  # noqa: ANN001
    app, play = replay_app(write_recording(tmp_path / "healthy.jsonl"), theme)
    assert snap_compare(app, terminal_size=size, run_before=play)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_kiosk_with_redis_down(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # noqa: ANN001
    """A failure in the high-contrast theme, read-only: the screen-share case."""
    app, play = replay_app(write_recording(tmp_path / "down.jsonl", redis_down_from=6),
                           "high-contrast", kiosk=True)
    assert snap_compare(app, terminal_size=size, run_before=play)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_maximised_logs_keep_the_banner(snap_compare, tmp_path: Path,  # noqa: ANN001
                                        size: tuple[int, int]) -> None:
    """4 twice: the logs fill the grid; banner, status bar and footer stay."""
    app, play = replay_app(write_recording(tmp_path / "down.jsonl", redis_down_from=6), "dark")

    async def run_before(pilot) -> None:  # noqa: ANN001
        await play(pilot)
        await pilot.press("4", "4")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


LAYOUT_SIZES = ((80, 24), (100, 30), (120, 40), (160, 48), (200, 60))


@pytest.mark.parametrize("kiosk", [False, True], ids=["interactive", "kiosk"])
@pytest.mark.parametrize("size", LAYOUT_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_nothing_essential_is_cut(tmp_path: Path, size: tuple[int, int],
                                        kiosk: bool) -> None:
    """From 80x24 to 200x60, with all four panes: the verdict and what to do first, every
    check, every handshake variant with its outcome, Redis's state and the log counts are on
    the screen — not scrolled away, not cut off."""
    from wsmonitor.rules.base import CHECKS

    app, settle = replay_app(write_recording(tmp_path / "down.jsonl", redis_down_from=6),
                             "dark", kiosk=kiosk)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        text = svg_lines(app.export_screenshot())
        for pane in ("#handshake-pane", "#redis-pane", "#checklist-pane", "#logs-pane"):
            region = app.screen.query_one(pane).region
            assert region.height >= 3 and region.bottom <= size[1], (pane, region)
    for needle in ("Diagnosis", "not decided yet", "Do first:", "REFUSED",
                   "auth-rejected 1"):
        assert needle in text, (needle, text)
    assert re.search(r"connections .*\b6 ?/ ?10,000", text), text
    for check_id, _ in CHECKS:
        if check_id == "browser-websocket":
            continue  # opt-in: listed once --page-url is given (tests/browser/test_browser_ui.py)
        assert re.search(rf"(PASS|FAIL|WARN|UNKNOWN|SKIPPED) +{check_id}\b", text), check_id
    for variant, outcome in (("token+origin", "ok"), ("no-token", "forbidden"),
                             ("no-origin", "forbidden"), ("wrong-origin", "forbidden")):
        assert re.search(rf"✔ {re.escape(variant)} +{outcome}", text), variant


@pytest.mark.parametrize("size", LAYOUT_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_layout_steps_keep_titles_freshness_banner_and_footer(tmp_path: Path,
                                                                   size: tuple[int, int]) -> None:
    """With a fault, at every size: each pane keeps its title and freshness on its border,
    the logs keep rows for lines, the banner stays within three rows (four from 40 lines), the
    checklist says more than ids once it has the room, and the footer ends on a whole key."""
    from textual.widgets import Footer

    from wsmonitor.ui.banner import VerdictBanner

    app, settle = replay_app(write_recording(tmp_path / "down.jsonl", redis_down_from=6), "dark")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        text = svg_lines(app.export_screenshot())
        banner = screen.query_one(VerdictBanner)
        assert banner.region.height <= (4 if size[1] >= 40 else 3), banner.region
        for pane_id, title in (("#handshake-pane", "WebSocket"), ("#redis-pane", "Redis"),
                               ("#logs-pane", "Logs"), ("#checklist-pane", "Checklist")):
            pane = screen.query_one(pane_id)
            assert re.search(rf"[╭┌]─ {title}", text), (title, text)
            if pane_id != "#checklist-pane":
                assert "updated" in str(pane.border_subtitle), pane_id
        logs = screen.query_one("#logs-lines")
        assert logs.region.height >= 2, logs.region
        footer = screen.query_one(Footer)
        last = text.splitlines()[-1].rstrip()
        assert footer.region.bottom == size[1]
        assert last.endswith("Help"), last  # every key shown whole, none cut mid-word
        if size[0] >= 160:
            # summaries in full width: the failing check's says why
            assert "unreachable from here: refused" in text, text
