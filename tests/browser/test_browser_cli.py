"""``wsmonitor check --page-url`` end to end, the settings around it, and no Chromium left behind
after the command exits or its process is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wsmonitor.config import ConfigError, load_settings

from ..delivery.helpers import run_wsmonitor, statuses, validate_report
from .conftest import GOOD_TOKEN, DEADLINE, PageServer, SocketEndpoint, chromium_binary, \
    open_socket, profile_processes, wait_gone

pytestmark = pytest.mark.timeout(240)


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """``wsmonitor ARGS`` with TMPDIR in `tmp_path`: every Chromium it starts has its profile
    there, so what is left of it can be found by that path."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    result = run_wsmonitor(*args, env={"TMPDIR": str(tmp), **(env or {})})
    assert "Traceback" not in result.stderr, result.stderr
    wait_gone(str(tmp), "after the command exited")
    assert not any(p.name.startswith("wsmonitor-chromium-") for p in tmp.iterdir()), \
        "a Chromium profile directory was left behind"
    return result


def test_check_json_shows_what_the_browser_saw(tmp_path: Path, pages: PageServer,
                                               endpoint: SocketEndpoint) -> None:
    chromium_binary()
    pages.add("/app", open_socket(endpoint.url()))
    result = run(tmp_path, "check", "--page-url", pages.url("/app"), "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads(result.stdout)
    validate_report(report)
    assert statuses(report)["browser-websocket"] == "pass", report["checks"][-1]
    browser = report["probes"]["browser"]
    assert browser["origin"] == f"http://127.0.0.1:{pages.port}"
    [sock] = browser["sockets"]
    assert sock["status"] == 101 and sock["open_at_end"] and sock["origin"] == browser["origin"]
    assert "token=***" in sock["url"]
    assert GOOD_TOKEN not in result.stdout
    assert browser["chromium"]["version"].startswith("Chrome/")


def test_check_fails_on_csp_and_says_which_directive(tmp_path: Path, pages: PageServer,
                                                     endpoint: SocketEndpoint) -> None:
    chromium_binary()
    pages.add("/csp", open_socket(endpoint.url()),
              {"Content-Security-Policy": "connect-src 'self'"})
    result = run(tmp_path, "check", "--page-url", pages.url("/csp"), "--markdown")
    assert result.returncode == 1, result.stderr + result.stdout
    assert "`browser-websocket` — fail" in result.stdout
    assert "connect-src 'self' ws://127.0.0.1:" in result.stdout
    assert "## What the browser saw" in result.stdout and "blocked (csp)" in result.stdout
    text = run(tmp_path, "check", "--page-url", pages.url("/csp"))
    assert text.returncode == 1
    assert "FAIL    browser-websocket" in text.stdout
    assert GOOD_TOKEN not in result.stdout + text.stdout


def test_without_chromium_the_check_is_skipped_never_exit_2(tmp_path: Path,
                                                            pages: PageServer) -> None:
    pages.add("/app", "")
    result = run(tmp_path, "check", "--page-url", pages.url("/app"), "--chromium",
                 "/nonexistent/chromium", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    validate_report(report)
    check = next(c for c in report["checks"] if c["id"] == "browser-websocket")
    assert check["status"] == "skipped"
    assert "apt-get install chromium" in check["summary"] and "--chromium" in check["summary"]
    assert report["probes"]["browser"]["error_kind"] == "no-chromium"
    # Nothing on PATH either: the same, from the environment variable.
    result = run(tmp_path, "check", "--page-url", pages.url("/app"), "--json",
                 env={"WSMONITOR_CHROMIUM": "no-such-browser"})
    assert result.returncode == 0 and "apt-get install chromium" in result.stdout


def test_page_origin_becomes_the_default_origin(tmp_path: Path, pages: PageServer,
                                                endpoint: SocketEndpoint) -> None:
    page = pages.url("/app")
    settings = load_settings({"page_url": page, "url": endpoint.url()}, environ={})
    assert settings.effective_origin == f"http://127.0.0.1:{pages.port}"
    explicit = load_settings({"page_url": page, "origin": "https://given.example"}, environ={})
    assert explicit.effective_origin == "https://given.example"
    from_env = load_settings({}, environ={"WSMONITOR_PAGE_URL": "https://app.example.com:8443/x"})
    assert from_env.effective_origin == "https://app.example.com:8443"
    config = tmp_path / "wsmonitor.toml"
    config.write_text(f'page-url = "{page}"\nchromium = "/opt/chrome"\n')
    from_toml = load_settings({}, environ={}, config_path=str(config))
    assert from_toml.page_url == page and from_toml.chromium == "/opt/chrome"
    # The server-side handshake variants send the page's Origin.
    result = run(tmp_path, "check", "--url", endpoint.url(), "--page-url", page,
                 "--only", "handshake", "--hold", "0", "--json")
    report = json.loads(result.stdout)
    sent = {h["variant"]: h["origin"] for h in report["probes"]["handshake"]}
    assert sent["token+origin"] == f"http://127.0.0.1:{pages.port}"
    assert f"http://127.0.0.1:{pages.port}" in endpoint.origins


@pytest.mark.parametrize("bad", ["ftp://app.example.com/", "not a url", "https://"])
def test_bad_page_url_is_one_line_and_exit_2(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        load_settings({"page_url": bad}, environ={})
    result = run(tmp_path, "check", "--page-url", bad)
    assert result.returncode == 2
    assert result.stderr.startswith("wsmonitor: error: --page-url")
    assert len(result.stderr.strip().splitlines()) == 1


OWNER = """
import asyncio, sys
from wsmonitor.probes.browser import BrowserProbe

async def main():
    probe = BrowserProbe(sys.argv[1], chromium=sys.argv[2], settle=0.5)
    sample = await probe.run()
    print(probe.browser.pid, probe.browser.reaper.pid, sample.ok, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_orphan_chromium_when_the_owner_is_killed(tmp_path: Path, pages: PageServer,
                                                     endpoint: SocketEndpoint,
                                                     sig: signal.Signals) -> None:
    pages.add("/app", open_socket(endpoint.url()))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    owner = subprocess.Popen([sys.executable, "-c", OWNER, pages.url("/app"), chromium_binary()],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = owner.stdout.readline()  # type: ignore[union-attr]
        assert line, owner.stderr.read()  # type: ignore[union-attr]
        pid, reaper, ok = line.split()
        assert ok == "True"
        assert profile_processes(str(tmp)), "the browser should run while its owner does"
        owner.send_signal(sig)
        owner.wait(DEADLINE)
        # No close() ran: the reaper sees its pipe close and takes the whole group down.
        wait_gone(str(tmp), f"after the owner died of {sig.name}")
        deadline = time.monotonic() + DEADLINE
        while os.path.exists(f"/proc/{reaper}") and time.monotonic() < deadline:
            with open(f"/proc/{reaper}/stat", "rb") as fh:
                if fh.read().split(b")")[-1].split()[0] == b"Z":
                    break
            time.sleep(0.1)
        assert not any(p.name.startswith("wsmonitor-chromium-") for p in tmp.iterdir())
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)


def test_kiosk_runs_the_browser_probe_and_only_browser_runs_it_alone(
        tmp_path: Path, pages: PageServer, endpoint: SocketEndpoint) -> None:
    from wsmonitor.runtime import build_probes

    page = pages.url("/app")
    kiosk = load_settings({"page_url": page, "kiosk": True, "url": endpoint.url()}, environ={})
    names = [p.name for p in build_probes(kiosk)]
    assert "browser" in names, "the browser probe only reads: kiosk runs it"
    assert [p.name for p in build_probes(kiosk, {"browser"})] == ["browser"]
    assert "browser" not in [p.name for p in build_probes(kiosk, {"handshake"})]
    chromium_binary()
    pages.add("/app", open_socket(endpoint.url()))
    result = run(tmp_path, "check", "--kiosk", "--url", endpoint.url(), "--page-url", page,
                 "--only", "browser", "--json")
    report = json.loads(result.stdout)
    assert statuses(report)["browser-websocket"] == "pass", report["checks"]
    assert report["probes"]["handshake"] == []
