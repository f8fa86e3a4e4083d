"""``wsmonitor serve``: the page over HTTP, the dashboard streamed over its WebSocket, no secret
on any command line, clean stops, and the warnings and errors of the command line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import websockets

from wsmonitor.config import load_settings
from wsmonitor.serve import (SETTINGS_ENV, app_command, decode_settings, encode_settings,
                             is_loopback)

from .conftest import PASSWORD
from .servers import free_port

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiNDIifQ.c2VydmUtdG9rZW4tc2lnbmF0dXJl"
JWT_KEY = "serve-test-jwt-signing-key-0123456789abcdef"
START = 60.0
"""Seconds a server (or an app on a busy machine) gets to come up."""

CSI = re.compile(r"\x1b\[([0-9;?<>=]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


class TerminalScreen:
    """Just enough of a terminal to read what Textual draws: absolute cursor moves and text."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells = [[" "] * width for _ in range(height)]
        self.row = self.col = 0
        self._pending = b""

    def feed(self, data: bytes) -> None:
        data = self._pending + data
        # Keep an incomplete UTF-8 sequence or escape for the next chunk.
        cut = len(data)
        for back in range(1, min(4, len(data)) + 1):
            byte = data[-back]
            if byte & 0xC0 == 0xC0:  # a lead byte: is its sequence complete?
                need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
                if back < need:
                    cut = len(data) - back
                break
            if byte < 0x80:
                break
        text, self._pending = data[:cut].decode("utf-8", "replace"), data[cut:]
        last_esc = text.rfind("\x1b")
        if last_esc != -1 and not CSI.match(text, last_esc):
            self._pending = text[last_esc:].encode() + self._pending
            text = text[:last_esc]
        start = 0
        for m in CSI.finditer(text):
            self._write(text[start:m.start()])
            start = m.end()
            if m.group(2) == "H":
                parts = [int(p or 1) for p in (m.group(1) or "1;1").split(";")]
                self.row, self.col = parts[0] - 1, (parts[1] if len(parts) > 1 else 1) - 1
        self._write(text[start:])

    def _write(self, text: str) -> None:
        for ch in text:
            if ch == "\n":
                self.row, self.col = self.row + 1, 0
            elif ch == "\r":
                self.col = 0
            else:
                if 0 <= self.row < self.height and 0 <= self.col < self.width:
                    self.cells[self.row][self.col] = ch
                self.col += 1

    def text(self) -> str:
        return "\n".join("".join(row) for row in self.cells)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the ppid follows its end.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} ({' '.join(_cmdline(pid))}) still running")
        time.sleep(0.1)


class Served:
    """A ``wsmonitor serve`` process on a loopback port."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                 host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.out = tmp_path / f"serve-{self.port}.out"
        self.err = tmp_path / f"serve-{self.port}.err"
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("WSMONITOR_") and k not in ("REDIS_URL", "AWS_ENDPOINT_URL")}
        base.update(env or {})
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wsmonitor", "serve", "--host", host,
                 "--port", str(self.port), *args],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=base)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def wait_page(self) -> str:
        deadline = time.monotonic() + START
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.stderr()}")
            try:
                response = httpx.get(self.base_url + "/", timeout=5)
                if response.status_code == 200:
                    return response.text
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no page from serve: {self.stderr()}")
            time.sleep(0.2)

    def apps(self) -> list[int]:
        return [pid for pid in _children(self.proc.pid) if _alive(pid)]

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not stop on {signal.Signals(sig).name}") from None

    def kill(self) -> None:
        for pid in [*self.apps(), self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:  # noqa: ANN001
    started: list[Served] = []

    def start(*args: str, **kwargs: object) -> Served:
        served = Served(tmp_path, *args, **kwargs)  # type: ignore[arg-type]
        started.append(served)
        return served

    yield start
    for served in started:
        served.kill()


def websocket_url(page: str) -> str:
    match = re.search(r'data-session-websocket-url="([^"]+)"', page)
    assert match, page[:2000]
    return match.group(1)


async def watch(ws, screen: TerminalScreen, *needles: str, timeout: float = START) -> str:  # noqa: ANN001
    """Read the stream until every needle is on the screen; returns the screen."""
    deadline = time.monotonic() + timeout
    while not all(n in screen.text() for n in needles):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{needles} not on screen:\n{screen.text()}")
        try:
            message = await asyncio.wait_for(ws.recv(), min(remaining, 2.0))
        except TimeoutError:
            continue
        if isinstance(message, bytes):
            screen.feed(message)
    return screen.text()


async def test_page_and_websocket_stream_the_dashboard(serve, redis_password) -> None:  # noqa: ANN001
    """The worst case: every secret given as a flag of `serve` itself."""
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{redis_password.port}/0"
    served = serve("--redis-url", url, "--token", TOKEN, "--jwt-secret", JWT_KEY,
                   env={"AWS_SECRET_ACCESS_KEY": "serveAwsSecretKey0123456789abcdefghijkl"})
    page = served.wait_page()
    assert "<title>wsmonitor</title>" in page or ">wsmonitor<" in page
    ws_url = websocket_url(page)
    assert ws_url == f"ws://127.0.0.1:{served.port}/ws"
    screen = TerminalScreen(120, 40)
    async with websockets.connect(f"{ws_url}?width=120&height=40", max_size=None) as ws:
        text = await watch(ws, screen, "Diagnosis", "PASS    redis-reachable", "PONG",
                           "interactive")
        apps = served.apps()
        assert len(apps) == 1, apps
        # What `ps` shows of the app: the command alone, no setting, no secret.
        assert _cmdline(apps[0])[1:3] == ["-m", "wsmonitor.serve"], _cmdline(apps[0])
        for pid in (apps[0], served.proc.pid):
            visible = " ".join(_cmdline(pid))
            assert SETTINGS_ENV not in visible
        assert PASSWORD not in " ".join(_cmdline(apps[0]))
        assert TOKEN not in " ".join(_cmdline(apps[0]))
        assert JWT_KEY not in " ".join(_cmdline(apps[0]))
        for secret in (PASSWORD, quote(PASSWORD, safe=""), TOKEN, JWT_KEY,
                       "serveAwsSecretKey0123456789abcdefghijkl"):
            assert secret not in text
        # The browser's keys reach the app: q quits it, and its process ends.
        await ws.send(json.dumps(["stdin", "q"]))
        _wait_gone(apps[0], 30)
    assert served.stop() == 0
    assert served.apps() == []
    for secret in (PASSWORD, TOKEN, JWT_KEY):
        assert secret not in served.stderr()
        assert secret not in served.out.read_text(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_stop_with_a_browser_connected_ends_its_app(serve, redis_server, sig) -> None:  # noqa: ANN001
    served = serve("--redis-url", redis_server.url, "--kiosk", "--theme", "light")
    ws_url = websocket_url(served.wait_page())
    screen = TerminalScreen(100, 30)
    async with websockets.connect(f"{ws_url}?width=100&height=30", max_size=None) as ws:
        # The options of `serve` reach the app: read-only, and the theme asked for.
        await watch(ws, screen, "KIOSK", "theme wsmonitor-light", "PASS    redis-reachable")
        [app] = served.apps()
        named = [c for c in redis_server.client().client_list() if c["name"] == "wsmonitor"]
        assert named, "the app's Redis probe is not connected"
        assert served.stop(sig) == 0
        _wait_gone(app, 30)
        # The browser is told, with a close frame, rather than left hanging.
        with pytest.raises(websockets.ConnectionClosedOK):
            while True:
                await asyncio.wait_for(ws.recv(), 30)
    # And the app's Redis connection is gone with it.
    deadline = time.monotonic() + 30
    while [c for c in redis_server.client().client_list() if c["name"] == "wsmonitor"]:
        assert time.monotonic() < deadline, "the app's Redis connection outlived it"
        time.sleep(0.2)


async def test_app_quits_when_the_server_is_killed(serve, redis_server) -> None:  # noqa: ANN001
    served = serve("--redis-url", redis_server.url)
    ws_url = websocket_url(served.wait_page())
    screen = TerminalScreen(100, 30)
    async with websockets.connect(f"{ws_url}?width=100&height=30", max_size=None) as ws:
        await watch(ws, screen, "Diagnosis")
        [app] = served.apps()
        served.proc.kill()
        served.proc.wait(10)
        # No orphan keeps probing the service with nobody watching.
        _wait_gone(app, 30)


async def test_beyond_loopback_warns_and_page_follows_the_host(serve, redis_server) -> None:  # noqa: ANN001
    served = serve("--redis-url", redis_server.url, "--redis-budget", "2", host="0.0.0.0")
    page = served.wait_page()
    # The page's socket URL is the address the browser used, not 0.0.0.0.
    assert websocket_url(page) == f"ws://127.0.0.1:{served.port}/ws"
    warning = served.stderr()
    assert warning.startswith("wsmonitor: warning: serving on 0.0.0.0:")
    for needle in ("no authentication", "its own probes", "its own Redis connection",
                   "command budget (2% of the plan's quota per tab)", "--kiosk"):
        assert needle in warning, needle
    assert served.stop() == 0


async def test_loopback_does_not_warn(serve, redis_server) -> None:  # noqa: ANN001
    served = serve("--redis-url", redis_server.url, "--public-url",
                   "https://wsmonitor.example.com")
    page = served.wait_page()
    assert websocket_url(page) == "wss://wsmonitor.example.com/ws"
    assert served.stop() == 0
    assert "warning" not in served.stderr()


def _serve_exit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wsmonitor", "serve", *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("WSMONITOR_") and k != "REDIS_URL"})


def _one_error_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wsmonitor: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_bad_input_is_exit_2() -> None:
    _one_error_line(_serve_exit(), "nothing to serve", "--redis-url")
    _one_error_line(_serve_exit("--redis-url", "redis://127.0.0.1:1/0", "--port", "70000"),
                    "--port 70000", "1-65535")
    _one_error_line(_serve_exit("--redis-url", "redis://127.0.0.1:1/0", "--host",
                                "no-such-host.invalid"), "no-such-host.invalid", "resolve")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _one_error_line(_serve_exit("--redis-url", "redis://127.0.0.1:1/0", "--port",
                                    str(port)), f"127.0.0.1:{port}", "another --port")


def test_missing_textual_serve_is_exit_2(monkeypatch, capsys) -> None:  # noqa: ANN001
    from wsmonitor.cli import main

    monkeypatch.setitem(sys.modules, "textual_serve", None)
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert main(["serve", "--redis-url", "redis://127.0.0.1:1/0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wsmonitor: error: ") and "install wsmonitor[serve]" in err, err


def test_app_subprocess_refuses_to_start_without_the_server() -> None:
    env = {k: v for k, v in os.environ.items() if k != SETTINGS_ENV}
    proc = subprocess.run([sys.executable, "-m", "wsmonitor.serve"], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, env=env)
    _one_error_line(proc, SETTINGS_ENV, "wsmonitor serve")


def test_settings_round_trip_outside_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "wsmonitor.toml"
    config.write_text('[[log-rules]]\ncategory = "auth-rejected"\npattern = "denied"\n')
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:6379/0"
    settings = load_settings({"redis_url": url, "token": TOKEN, "jwt_secret": JWT_KEY,
                              "log_group": ("a", "b"), "kiosk": True, "interval": 0.5,
                              "theme": "high-contrast"}, environ={}, config_path=str(config))
    assert settings.log_rules
    text = encode_settings(settings)
    again = decode_settings(text, environ={})
    assert again == settings
    assert again.sources == settings.sources
    assert PASSWORD not in app_command() and TOKEN not in app_command()
    assert app_command().endswith("-m wsmonitor.serve")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.10", False),
    ("no-such-host.invalid", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


HOOK = r"""
(() => {
  // Keep what the page's WebSocket receives, to read it back: xterm.js draws on a canvas.
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__wsm = {text: "", urls: []};
  window.WebSocket = function (url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    window.__wsm.urls.push(url);
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") {
        window.__wsm.text += decoder.decode(new Uint8Array(e.data), {stream: true});
      }
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""

PAGE_STATE = ("JSON.stringify({body: document.body ? document.body.className : '', "
              "urls: window.__wsm ? window.__wsm.urls : [], "
              "text: window.__wsm ? window.__wsm.text.slice(-400000) : ''})")


class Chromium:
    """Headless Debian chromium driven over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        import shutil

        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.fail("chromium is not installed (apt-get install chromium; .ci/run does)",
                        pytrace=False)
        self.profile = profile
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1280,800", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self._id = 0

    def devtools_page(self) -> str:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"chromium did not start ({self.proc.returncode})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        return next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]

    async def call(self, cdp, method: str, **params: object) -> dict:  # noqa: ANN001
        self._id += 1
        mine = self._id
        await cdp.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(cdp.recv(), START))
            if message.get("id") == mine:
                assert "error" not in message, message
                return message["result"]

    async def state(self, cdp) -> dict:  # noqa: ANN001
        result = await self.call(cdp, "Runtime.evaluate", expression=PAGE_STATE,
                                 returnByValue=True)
        return json.loads(result["result"]["value"])

    async def wait(self, cdp, condition, what: str) -> dict:  # noqa: ANN001
        deadline = time.monotonic() + START
        while True:
            state = await self.state(cdp)
            if condition(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: {state['body']!r} {state['urls']}")
            await asyncio.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def test_headless_chromium_shows_the_dashboard_and_sends_keys(serve, redis_server,  # noqa: ANN001
                                                                    tmp_path: Path) -> None:
    served = serve("--redis-url", redis_server.url)
    served.wait_page()
    browser = Chromium(tmp_path / "chromium")
    try:
        async with websockets.connect(browser.devtools_page(), max_size=None) as cdp:
            await browser.call(cdp, "Page.enable")
            await browser.call(cdp, "Page.addScriptToEvaluateOnNewDocument", source=HOOK)
            await browser.call(cdp, "Page.navigate", url=served.base_url + "/")
            state = await browser.wait(
                cdp, lambda s: "-first-byte" in s["body"] and "Diagnosis" in s["text"]
                and "PONG" in s["text"], "the dashboard never reached the page")
            [ws_url] = state["urls"]
            assert ws_url.startswith(f"ws://127.0.0.1:{served.port}/ws?width=")
            assert len(served.apps()) == 1
            # A key typed in the page reaches the app: p pauses the probes.
            await browser.call(cdp, "Runtime.evaluate", expression=(
                "document.querySelector('.xterm-helper-textarea').focus()"))
            await browser.call(cdp, "Input.dispatchKeyEvent", type="keyDown", key="p",
                               text="p", code="KeyP", windowsVirtualKeyCode=80)
            await browser.call(cdp, "Input.dispatchKeyEvent", type="keyUp", key="p",
                               code="KeyP", windowsVirtualKeyCode=80)
            await browser.wait(cdp, lambda s: "PAUSED" in s["text"],
                               "p typed in the page did not pause the probes")
    finally:
        browser.stop()
    # The tab is gone: its app quits.
    deadline = time.monotonic() + 30
    while served.apps():
        assert time.monotonic() < deadline, "the app outlived its browser tab"
        time.sleep(0.2)
    assert served.stop() == 0
