"""The real dashboard in a real terminal: ``wsmonitor demo`` under tmux, driven with send-keys
and read with capture-pane — every key of the footer and the help, as a user presses them.

tmux runs on a socket of its own (``-L``), so no other session on the machine is touched; the
server is killed by its PID at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class Tmux:
    """One tmux server and session running one command."""

    def __init__(self, command: list[str], cwd: Path, width: int, height: int) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed (apt-get install -y tmux)", pytrace=False)
        self.socket = f"wsm-{uuid.uuid4().hex[:8]}"
        self.session = "dash"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WSMONITOR_", "TMUX")) and k != "REDIS_URL"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["TERM"] = "xterm-256color"
        self.env = env
        shell = " ".join(_quote(a) for a in command)
        self.tmux("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
                  "-c", str(cwd), f"env PYTHONPATH={_quote(env['PYTHONPATH'])} {shell}")
        self.tmux("set-option", "-t", self.session, "remain-on-exit", "on")
        self.server_pid = int(self.tmux("display-message", "-p", "-t", self.session,
                                        "#{pid}").strip())

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, env=self.env, timeout=30)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def wait(self, condition: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"not on screen in time: {what}\n{screen}")
            time.sleep(0.2)

    def wait_for(self, needle: str, timeout: float = 60) -> str:
        return self.wait(lambda s: needle in s, repr(needle), timeout)

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))

    def close(self) -> None:
        try:
            self.keys("q")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if self.tmux("display-message", "-p", "-t", self.session,
                             "#{pane_dead}").strip() == "1":
                    break
                time.sleep(0.2)
        finally:
            try:
                os.kill(self.server_pid, 15)
            except ProcessLookupError:
                pass


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
def dash(export_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tmux]:
    """``wsmonitor demo`` at 160x48, probes at a quick pace, exports into a directory of its
    own (given before the command: common options go either side)."""
    cwd = tmp_path_factory.mktemp("cwd")
    term = Tmux([sys.executable, "-m", "wsmonitor", "--export-dir", str(export_dir), "demo",
                 "--hold", "1", "--interval", "0.5"], cwd, 160, 48)
    try:
        term.wait_for("nothing broken found", timeout=120)
        yield term
    finally:
        term.close()
    assert not list(cwd.iterdir()), "nothing is written to the working directory"


def banner(screen: str) -> str:
    return "\n".join(screen.splitlines()[:4])


def toast(term: Tmux, needle: str) -> str:
    return term.wait_for(needle, timeout=20)


def test_help_is_complete(dash: Tmux) -> None:
    dash.keys("?")
    screen = dash.wait_for("Reading it")
    for key, words in (("q", "quit"), ("p", "pause"), ("r", "run every probe"),
                       ("+", "double"), ("-", "halve"), ("1–4", "focus a pane"),
                       ("/", "filter the logs"), ("j", "around the newest real"),
                       ("t", "next theme"), ("e", "export-dir"), ("f", "fault switches"),
                       ("?", "this help"), ("Enter", "evidence")):
        assert re.search(rf"(^|\s){re.escape(key)}\s.*{re.escape(words)}", screen, re.M), \
            (key, screen)
    # The "recent" strip's letters, and the panes 1-4 focus, in screen order.
    for letter, name in (("●", "ok"), ("F", "forbidden"), ("5", "server-error"),
                         ("B", "bad-gateway"), ("G", "gateway-timeout"),
                         ("N", "no-status-line"), ("S", "connect-stalled"),
                         ("C", "closed-after-accept")):
        assert f"{letter} {name}" in screen, (letter, screen)
    assert re.search(r"panes: 1 WebSocket, 2 Checklist, 3 Redis, 4 Logs", screen), screen
    dash.keys("Escape")
    dash.wait(lambda s: "Reading it" not in s, "help closed")


def test_pause_says_so_and_keeps_the_verdict(dash: Tmux) -> None:
    dash.keys("p")
    screen = dash.wait_for("PAUSED")
    assert "PAUSED" in banner(screen) and "nothing broken found" in banner(screen)
    dash.keys("r")
    toast(dash, "r runs nothing until p resumes")
    # Long past the point where the evidence goes stale: the banner still gives the verdict
    # as the probes left it, never "not decided yet … waiting for".
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        screen = dash.text()
        assert "not decided yet" not in banner(screen), screen
        assert "PAUSED" in banner(screen), screen
        time.sleep(0.5)
    assert "STALE" in screen or "PAUSED" in screen
    dash.keys("p")
    dash.wait(lambda s: "PAUSED" not in banner(s), "resumed")
    dash.keys("r")
    toast(dash, "running every probe now")


def test_pane_keys_follow_the_screen_and_maximise_keeps_the_banner(dash: Tmux) -> None:
    for number, title, others in (("1", "WebSocket", ("Checklist", "Redis ·", "Logs")),
                                  ("2", "Checklist", ("WebSocket ·", "Redis ·", "Logs")),
                                  ("3", "Redis", ("WebSocket ·", "Checklist", "Logs")),
                                  ("4", "Logs", ("WebSocket ·", "Checklist", "Redis ·"))):
        dash.keys(number)
        time.sleep(0.3)
        dash.keys(number)
        screen = dash.wait(lambda s: all(o not in s for o in others),  # noqa: B023
                           f"pane {number} maximised")
        assert title in screen
        assert "Diagnosis" in banner(screen), screen  # the banner stays
        lines = screen.splitlines()
        # The pane fills the screen: its lower border is just above the status bar.
        border = [i for i, line in enumerate(lines) if line.startswith("╰")]
        assert border and border[-1] >= len(lines) - 4, screen
        assert not re.search(r"[╱╲]{8}", screen), screen  # no field of hatching
        dash.keys(number)
        dash.wait(lambda s: all(o in s for o in others), f"pane {number} restored")  # noqa: B023


def test_j_on_a_healthy_system_ignores_expected_rejections(dash: Tmux) -> None:
    dash.wait_for("nothing broken found")
    dash.keys("j")
    toast(dash, "no real probe failure")
    assert "showing lines around" not in dash.text()


def test_export_writes_into_export_dir_with_a_whole_toast(dash: Tmux, export_dir: Path) -> None:
    dash.keys("e")
    screen = toast(dash, "Exported")
    svgs = list(export_dir.glob("wsmonitor-*.svg"))
    mds = list(export_dir.glob("wsmonitor-*.md"))
    assert len(svgs) == 1 and len(mds) == 1
    assert svgs[0].name in screen and mds[0].name in screen, screen  # not cut


def test_theme_key_cycles(dash: Tmux) -> None:
    before = re.search(r"theme (\S+)", dash.text())
    assert before
    dash.keys("t")
    dash.wait(lambda s: (m := re.search(r"theme (\S+)", s)) is not None
              and m.group(1) != before.group(1), "another theme")


def test_filter_and_enter(dash: Tmux) -> None:
    dash.keys("/")
    time.sleep(0.3)
    dash.keys("GET", "Enter")
    screen = dash.wait_for("filter: GET")
    log_lines = [line for line in screen.splitlines() if re.search(r"\d\d:\d\d:\d\d ", line)]
    assert log_lines, screen
    dash.keys("Escape")
    dash.keys("/")
    time.sleep(0.3)
    dash.keys("Escape")
    dash.wait(lambda s: "filter: GET" not in s, "filter cleared")
    dash.keys("2")  # the checklist: Enter opens a check's evidence and remedy
    time.sleep(0.3)
    dash.keys("Enter")
    screen = dash.wait_for("Esc closes.")
    assert "Evidence" in screen or "What to do" in screen or "newest evidence" in screen
    dash.keys("Escape")
    dash.wait(lambda s: "Esc closes." not in s, "evidence closed")


def test_fault_then_j_jumps_to_the_failure(dash: Tmux) -> None:
    dash.keys("f")
    dash.wait_for("Fault switches")
    dash.keys("2")  # proxy-502
    dash.wait_for("● ON")
    dash.keys("Escape")
    dash.wait(lambda s: "broken layer: proxy" in banner(s), "proxy named", timeout=90)
    screen = dash.text()
    assert "PROXY" not in screen  # the word is drawn large, not as plain text
    dash.keys("j")
    dash.wait_for("showing lines around")
    dash.keys("j")
    dash.wait(lambda s: "showing lines around" not in s, "back from the failure")
    dash.keys("f")
    dash.wait_for("Fault switches")
    dash.keys("c", "Escape")
    dash.wait_for("nothing broken found", timeout=90)


def test_80x24_keeps_every_pane_titled_and_fresh(dash: Tmux) -> None:
    dash.keys("f")
    dash.wait_for("Fault switches")
    dash.keys("7")  # redis-down
    dash.wait_for("● ON")
    dash.keys("Escape")
    dash.resize(80, 24)
    # Toasts (the fault switch's, an export's from an earlier test) stack up from the bottom
    # right and, at 24 rows, may cover a title for a few seconds: judge the screen without them.
    screen = dash.wait(lambda s: "REDIS" in s.splitlines()[0] and "▌" not in s,
                       "compact banner, no toast", timeout=90)
    lines = screen.splitlines()
    assert len(lines) <= 24
    for title in ("WebSocket", "Redis", "Logs", "Checklist"):
        assert re.search(rf"[╭┌]─ {title}", screen), (title, screen)
    assert screen.count("updated") >= 3, screen  # freshness on the panes' lower borders
    assert "Do first:" in "\n".join(lines[:3])
    assert lines[3].startswith("╭─ WebSocket"), screen  # the banner took three rows
    footer = lines[-1]
    assert footer.rstrip().endswith(("Help", "Faults")), footer  # not cut mid-word
    dash.resize(160, 48)
    dash.keys("f")
    dash.wait_for("Fault switches")
    dash.keys("c", "Escape")
