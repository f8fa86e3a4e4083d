"""The real dashboard in a real terminal (tmux): ``wsmonitor demo`` runs healthy, a fault is
switched on from its fault menu, and the banner follows — naming the layer, then nothing
broken again once the fault is off — while at no capture does the banner read "nothing broken"
above a failing check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIZE = (160, 48)
GREEN = "nothing broken found"
FAILING = "✖ FAIL"


class Terminal:
    """One tmux server of our own (its own socket), one session running a command."""

    def __init__(self, tmp: Path, command: list[str]) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed (apt-get install tmux)")
        self.socket = str(tmp / "tmux.sock")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
        self.captures: list[str] = []
        subprocess.run(["tmux", "-S", self.socket, "new-session", "-d", "-s", "wsm",
                        "-x", str(SIZE[0]), "-y", str(SIZE[1]), "-c", str(tmp),
                        " ".join(_quote(c) for c in command)],
                       check=True, env=env)

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True,
                              text=True, timeout=10).stdout

    def capture(self) -> str:
        text = self.tmux("capture-pane", "-p", "-t", "wsm")
        self.captures.append(text)
        return text

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "wsm", key)
            time.sleep(0.3)

    def until(self, condition: Callable[[str], bool], timeout: float, what: str,
              check: Callable[[str], None]) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.capture()
            check(screen)
            if condition(screen):
                return screen
            time.sleep(0.25)
        raise AssertionError(f"not within {timeout:.0f} s: {what}\n{self.captures[-1]}")

    def close(self) -> None:
        self.tmux("send-keys", "-t", "wsm", "q")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "wsm" in self.tmux("list-sessions"):
            time.sleep(0.2)
        self.tmux("kill-server")


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def banner_of(screen: str) -> str:
    """The banner: the screen's lines above the first pane's border."""
    lines = screen.splitlines()
    end = next((i for i, line in enumerate(lines) if line.lstrip().startswith(("╭", "┌"))), 4)
    return "\n".join(lines[:end])


def never_green_over_a_failure(screen: str) -> None:
    if GREEN in banner_of(screen):
        assert FAILING not in screen, f"green banner above a failing check:\n{screen}"


def test_banner_follows_a_fault_and_never_contradicts_the_checklist(tmp_path: Path) -> None:
    term = Terminal(tmp_path, [sys.executable, "-m", "wsmonitor", "demo", "--hold", "4",
                               "--theme", "dark"])
    try:
        term.until(lambda s: GREEN in banner_of(s) and "✔ PASS" in s, 120,
                   "the healthy demo judged nothing broken", never_green_over_a_failure)
        term.keys("f", "2", "Escape")  # the proxy answers 502
        broken = term.until(lambda s: "broken layer: proxy" in banner_of(s), 60,
                            "the banner names the proxy", never_green_over_a_failure)
        assert GREEN not in banner_of(broken)
        term.until(lambda s: FAILING in s and "handshake-101" in s, 30,
                   "the checklist shows handshake-101 failing", never_green_over_a_failure)
        term.until(lambda s: "broken layer: proxy" in banner_of(s)
                   and "unconfirmed" not in banner_of(s), 60, "the proxy confirmed",
                   never_green_over_a_failure)
        term.keys("f", "2", "Escape")  # and off again
        term.until(lambda s: GREEN in banner_of(s), 90, "nothing broken once the fault is off",
                   never_green_over_a_failure)
        banners = {banner_of(c).splitlines()[0] for c in term.captures
                   if banner_of(c).strip()}
        assert len(banners) >= 2, banners
    finally:
        term.close()
