"""The logs pane and the consumer-errors check, through the dashboard and `check`, on a real
log file (the same classification feeds both)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import Input, RichLog

from wsmonitor.config import load_settings
from wsmonitor.runtime import build_engine
from wsmonitor.ui.app import create_app
from wsmonitor.ui.logs_pane import LogsPane

from ..test_ui import checklist, wait_for

TRACEBACK_AT = """\
{stamp} ERROR Exception inside application: Error 111 connecting to redis:6379.
Traceback (most recent call last):
  File "/app/consumers.py", line 20, in connect
    await self.channel_layer.group_add(self.group_name, self.channel_name)
redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.
"""
QUIET = "2026-11-26 10:00:00 INFO 127.0.0.1:5000 - - [26/Nov/2026:10:00:00] \"GET /\" 200\n"


def stamp(ago: float = 0.0) -> str:
    """Daphne's asctime (local time, no zone) of `ago` seconds before now."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - ago)) + ",377"


def traceback(at: str) -> str:
    """A Redis traceback logged at `at` (events are judged at their own time)."""
    return TRACEBACK_AT.format(stamp=at)


def quiet(at: str) -> str:
    return f"{at} INFO 127.0.0.1:5000 - - \"GET /\" 200\n"


def lines_of(pane: LogsPane) -> str:
    log = pane.query_one(RichLog)
    return "\n".join(strip.text for strip in log.lines)


async def test_logs_pane_classifies_filters_and_jumps(tmp_path: Path, unused_port: int) -> None:
    path = tmp_path / "daphne.log"
    logged = stamp(5)
    path.write_text(QUIET * 3 + traceback(logged) + '127.0.0.1:4242 - - [26/Nov/2026:10:00:02] "WSREJECT /ws/notifications/" - -\n')
    settings = load_settings({"log_file": str(path),
                              "redis_url": f"redis://127.0.0.1:{unused_port}/0"}, environ={})
    app = create_app(settings, build_engine(settings))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.screen.query_one(LogsPane)
        await wait_for(pilot, lambda: "ConnectionError" in lines_of(pane), timeout=30)
        text = lines_of(pane)
        assert "(+4 lines)" in text  # the error line and its traceback are one event
        assert "REDIS" in text.upper()
        # the log's own time, not the time it was read
        assert logged[11:19] in text and "11-26 10:00" in text
        await wait_for(pilot, lambda: "FAIL    consumer-errors" in checklist(app))
        # a new line appended while it runs shows up
        with path.open("a") as fh:
            fh.write("2026-11-26 10:00:05 INFO something new and harmless\n")
        await wait_for(pilot, lambda: "something new and harmless" in lines_of(pane))
        # filter
        await pilot.press("slash")
        field = pane.query_one(Input)
        assert field.has_focus
        field.value = "harmless"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert "harmless" in lines_of(pane) and "ConnectionError" not in lines_of(pane)
        await pilot.press("slash")
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert "ConnectionError" in lines_of(pane)
        # jump to the lines around the newest probe failure (Redis refused, just now)
        await wait_for(pilot, lambda: any(not s.ok for s in app.engine.history("redis")))
        await pilot.press("j")
        await pilot.pause(0.1)
        # the redis or the channel-layer probe, whichever failed last: both hit the dead Redis
        assert pane.window is not None and "refused" in pane.window.label
        await pilot.press("j")
        assert pane.window is None


def test_check_consumer_errors_from_a_log_file(tmp_path: Path) -> None:
    path = tmp_path / "daphne.log"
    path.write_text(quiet(stamp(6)) + traceback(stamp(5)))
    proc = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--only", "logs",
                           "--log-file", str(path), "--json"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    check = next(c for c in report["checks"] if c["id"] == "consumer-errors")
    assert check["status"] == "fail"
    assert any("ConnectionError" in e or "Exception inside" in e for e in check["evidence"])
    logs = report["probes"]["logs"]
    assert logs["source"] == "file" and logs["events"] >= 2
    assert sum(logs["by_category"].values()) >= 1
    assert report["diagnosis"]["layer"] == "redis"
    # clean logs pass
    path.write_text(QUIET * 5)
    time.sleep(0.01)
    proc = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--only", "logs",
                           "--log-file", str(path), "--json"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    report = json.loads(proc.stdout)
    check = next(c for c in report["checks"] if c["id"] == "consumer-errors")
    assert check["status"] == "pass", check
    assert proc.returncode == 0


def test_bad_log_rule_and_command_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "wsmonitor.toml"
    cfg.write_text('log-file = "x.log"\n[[log-rules]]\ncategory = "broken"\npattern = "["\n')
    proc = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--config", str(cfg)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 2 and "broken" in proc.stderr and "log-rules" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--log-command",
                           "tail -f 'unbalanced"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 2 and "--log-command" in proc.stderr
