"""What the browser saw, recorded by a real ``check --page-url --record`` and replayed through
the dashboard: the WebSocket pane's browser section, the checklist row, the banner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wsmonitor.config import with_overrides
from wsmonitor.replay import ReplayEngine, load_recording, replay_settings
from wsmonitor.samples_browser import BrowserSample
from wsmonitor.ui.app import MonitorScreen, create_app

from ..test_snapshots import svg_lines
from .conftest import GOOD_TOKEN, PageServer, SocketEndpoint, chromium_binary, open_socket
from .test_browser_cli import run

pytestmark = pytest.mark.timeout(240)


async def dashboard_text(recording_path: Path,
                         size: tuple[int, int]) -> tuple[str, object, object]:
    """The replayed dashboard's screen as text, the recording, and the verdict the banner
    shows."""
    recording = load_recording(str(recording_path))
    settings = with_overrides(replay_settings(recording), theme="dark")
    engine = ReplayEngine(recording, speed=1e9)
    engine.start()
    assert engine.finished.wait(30), "the replay did not finish"
    engine.stop()
    app = create_app(settings, engine, start_engine=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, MonitorScreen)
        screen.refresh_views()
        await pilot.pause()
        return svg_lines(app.export_screenshot()), recording, screen.verdict.shown


async def test_recorded_csp_block_replays_into_the_websocket_pane(
        tmp_path: Path, pages: PageServer, endpoint: SocketEndpoint) -> None:
    chromium_binary()
    pages.add("/csp", open_socket(endpoint.url()),
              {"Content-Security-Policy": "connect-src 'self'"})
    record = tmp_path / "browser.jsonl"
    result = run(tmp_path, "check", "--page-url", pages.url("/csp"), "--record", str(record))
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines[0]["type"] == "RecordingHeader" and lines[0]["page_url"] == pages.url("/csp")
    assert any(line.get("type") == "BrowserSample" for line in lines)
    assert GOOD_TOKEN not in record.read_text()

    text, recording, shown = await dashboard_text(record, (140, 40))
    [sample] = [s for s in recording.samples if isinstance(s, BrowserSample)]
    assert sample.sockets[0].blocked == "csp"  # rebuilt as dataclasses, not dicts
    assert "browser  ✖ blocked (csp)" in text, text
    assert f"origin http://127.0.0.1:{pages.port}" in text
    assert "violates the following" in text, text
    assert "server-side handshakes not probed: give --url" in text
    assert "token+origin" not in text
    assert "FAIL    browser-websocket" in text
    banner = f"{shown.summary} Do first: {shown.remedy}"
    assert "The browser fails" in text  # the banner shows it on screen too
    assert "The browser fails: the page's Content Security Policy" in banner, banner
    assert "No server-side check ran" in banner
    assert "Do first: Add ws://127.0.0.1:" in banner
    assert GOOD_TOKEN not in text


async def test_checklist_leaves_out_the_browser_check_until_configured(tmp_path: Path) -> None:
    # A recording without the browser probe: the 15 rows of the runbook fit at 80x24.
    record = tmp_path / "plain.jsonl"
    record.write_text(json.dumps({"type": "RecordingHeader", "interval": 2}) + "\n"
                      + json.dumps({"type": "Sample", "probe": "http:redis-health",
                                    "at": 1767225600.0, "ok": True}) + "\n")
    text, _, _ = await dashboard_text(record, (80, 24))
    assert "browser-websocket" not in text
    assert "browser  " not in text
