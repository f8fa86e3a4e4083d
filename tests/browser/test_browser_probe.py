"""The browser probe against real Chromium and pages served on loopback: each case the runbook's
DevTools step tells apart, judged by the `browser-websocket` rule, and no Chromium left behind."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable

import pytest

from wsmonitor.rules.base import CheckContext
from wsmonitor.rules.browser import browser_websocket
from wsmonitor.plans import load_plans
from wsmonitor.probes.browser import BrowserProbe
from wsmonitor.probes.chromium import group_members
from wsmonitor.samples import sample_from_dict
from wsmonitor.samples_browser import BrowserSample

from .conftest import GOOD_TOKEN, POLLING, WRONG_TOKEN, PageServer, SocketEndpoint, \
    chromium_binary, open_socket, wait_gone

pytestmark = pytest.mark.timeout(240)


def context(page_url: str, url: str | None = None) -> CheckContext:
    return CheckContext(plan=load_plans()["none"], extra={"browser": {
        "configured": True, "page_url": page_url, "url": url,
        "polling_path": "/api/notifications/"}})


@pytest.fixture
async def make_probe() -> AsyncIterator[Callable[..., BrowserProbe]]:
    """Probes made here are closed at teardown, and must leave no Chromium process behind."""
    made: list[BrowserProbe] = []

    def make(page_url: str, **kwargs: object) -> BrowserProbe:
        kwargs.setdefault("chromium", chromium_binary())
        kwargs.setdefault("settle", 1.5)
        probe = BrowserProbe(page_url, **kwargs)  # type: ignore[arg-type]
        made.append(probe)
        return probe

    yield make
    for probe in made:
        browser = probe.browser
        profile = browser.profile if browser else None
        reaper = browser.reaper if browser else None
        await probe.close()
        if profile:
            wait_gone(profile, "after close()")
            assert not os.path.exists(profile), "the browser's profile directory was left"
        if reaper is not None:
            assert reaper.poll() is not None, "the reaper outlived close()"


async def load(probe: BrowserProbe) -> BrowserSample:
    sample = await probe.run()
    assert isinstance(sample, BrowserSample), sample
    # Every sample survives a recording and a replay unchanged.
    assert sample_from_dict(sample.to_dict()) == sample
    return sample


async def test_healthy_page_opens_a_socket_that_stays_open(
        make_probe, pages: PageServer, endpoint: SocketEndpoint) -> None:  # noqa: ANN001
    pages.add("/app", open_socket(endpoint.url()))
    probe = make_probe(pages.url("/app"))
    sample = await load(probe)
    assert sample.ok, sample.error
    [sock] = sample.sockets
    assert sock.status == 101 and sock.open_at_end and sock.frames_received >= 1
    # The token is masked; the Origin is the page's, as the server saw it.
    assert GOOD_TOKEN not in repr(sample) and "token=***" in sock.url
    assert sock.origin == sample.page_origin == f"http://127.0.0.1:{pages.port}"
    assert endpoint.origins[-1] == sample.page_origin
    result = browser_websocket(context(pages.url("/app")), {"browser": [sample]}, time.time())
    assert result.status == "pass", result
    assert "101" in result.summary
    # One browser serves the next load, in a fresh context.
    pid = probe.browser.pid
    again = await load(probe)
    assert again.ok and probe.browser.pid == pid and probe.starts == 1
    assert group_members(pid), "the browser should still run between loads"


async def test_csp_connect_src_blocks_a_socket_on_another_port(
        make_probe, pages: PageServer, endpoint: SocketEndpoint) -> None:  # noqa: ANN001
    pages.add("/csp", open_socket(endpoint.url()),
              {"Content-Security-Policy": "connect-src 'self'"})
    sample = await load(make_probe(pages.url("/csp")))
    assert not sample.ok
    [message] = sample.blocked
    assert message.kind == "csp" and message.directive == "connect-src 'self'"
    assert sample.sockets and sample.sockets[0].blocked == "csp"
    assert endpoint.origins == [], "a blocked socket must never reach the server"
    result = browser_websocket(context(pages.url("/csp")), {"browser": [sample]}, time.time())
    assert result.status == "fail"
    assert "connect-src" in result.summary
    assert f"ws://127.0.0.1:{endpoint.port}" in result.remedy
    assert "connect-src 'self' ws://127.0.0.1:" in result.remedy
    assert GOOD_TOKEN not in str(result)


async def test_csp_default_src_fallback_names_connect_src(
        make_probe, pages: PageServer, endpoint: SocketEndpoint) -> None:  # noqa: ANN001
    # No connect-src: default-src applies to the socket; the blocked inline script of another
    # page element is no socket's business (a console error, not a block).
    pages.add("/csp", open_socket(endpoint.url()) + "</script><script src='/nope.js'>",
              {"Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'"})
    sample = await load(make_probe(pages.url("/csp")))
    [message] = sample.blocked
    assert message.directive == "default-src 'self'"
    result = browser_websocket(context(pages.url("/csp")), {"browser": [sample]}, time.time())
    assert result.status == "fail"
    assert f"connect-src 'self' ws://127.0.0.1:{endpoint.port}" in result.remedy


async def test_wrong_token_is_refused_with_403(
        make_probe, pages: PageServer, endpoint: SocketEndpoint) -> None:  # noqa: ANN001
    pages.add("/app", open_socket(endpoint.url(token=WRONG_TOKEN)))
    sample = await load(make_probe(pages.url("/app")))
    assert not sample.ok
    [sock] = sample.sockets
    assert sock.status == 403 and sock.close_code == 1006 and not sock.open_at_end
    assert "403" in (sock.error or "")
    result = browser_websocket(context(pages.url("/app")), {"browser": [sample]}, time.time())
    assert result.status == "fail" and "403" in result.summary
    assert "allowed-hosts" in result.remedy and "jwt-valid" in result.remedy
    assert WRONG_TOKEN not in str(result) + repr(sample)


async def test_socket_closed_by_the_server_after_101(
        make_probe, pages: PageServer, endpoint: SocketEndpoint) -> None:  # noqa: ANN001
    pages.add("/app", open_socket(endpoint.url("/close/")))
    sample = await load(make_probe(pages.url("/app")))
    [sock] = sample.sockets
    assert sock.status == 101 and sock.close_code == 1011
    assert sock.close_reason == "channel layer failed" and sock.closed_s is not None
    result = browser_websocket(context(pages.url("/app")), {"browser": [sample]}, time.time())
    assert result.status == "fail" and "1011" in result.summary


async def test_page_without_a_socket_that_polls(make_probe, pages: PageServer) -> None:  # noqa: ANN001
    pages.add("/polls", POLLING)
    pages.add("/quiet", "document.title = 'nothing here';")
    polls = await load(make_probe(pages.url("/polls"), settle=3.0))
    assert polls.sockets == () and polls.polling_requests == 2
    assert polls.polling_statuses == (200, 200) and pages.polls == 2
    result = browser_websocket(context(pages.url("/polls")), {"browser": [polls]}, time.time())
    assert result.status == "fail" and "polling" in result.summary
    quiet = await load(make_probe(pages.url("/quiet")))
    assert quiet.sockets == () and quiet.polling_requests == 0
    result = browser_websocket(context(pages.url("/quiet")), {"browser": [quiet]}, time.time())
    assert result.status == "warn" and "no WebSocket" in result.summary


async def test_mixed_content_on_an_https_page(make_probe, tls_pages, endpoint) -> None:  # noqa: ANN001
    # Loopback is exempt from mixed-content blocking: the page and the socket use a mapped name.
    pages, spki = tls_pages
    ws_url = endpoint.url(host="app.test")
    pages.add("/app", open_socket(ws_url))
    probe = make_probe(pages.url("/app", host="app.test"), extra_args=(
        "--host-resolver-rules=MAP app.test 127.0.0.1",
        f"--ignore-certificate-errors-spki-list={spki}", "--no-proxy-server"))
    sample = await load(probe)
    assert sample.page_status == 200 and sample.page_origin == f"https://app.test:{pages.port}"
    assert not sample.ok
    [message] = sample.blocked
    assert message.kind == "mixed-content"
    assert endpoint.origins == []
    result = browser_websocket(context(pages.url("/app", host="app.test")),
                               {"browser": [sample]}, time.time())
    assert result.status == "fail" and "mixed content" in result.summary
    assert f"wss://app.test:{endpoint.port}/ws/?token=***" in result.remedy
    assert GOOD_TOKEN not in str(result)


async def test_page_that_does_not_load(make_probe) -> None:  # noqa: ANN001
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/app"
    sample = await load(make_probe(url))
    assert sample.navigation_error and "REFUSED" in sample.navigation_error
    result = browser_websocket(context(url), {"browser": [sample]}, time.time())
    assert result.status == "fail" and "did not load" in result.summary


async def test_no_chromium_is_skipped_naming_what_to_install(make_probe, pages) -> None:  # noqa: ANN001
    sample = await make_probe(pages.url("/app"), chromium="/nonexistent/chromium").run()
    assert sample.error_kind == "no-chromium" and "apt-get install chromium" in sample.error
    result = browser_websocket(context(pages.url("/app")), {"browser": [sample]}, time.time())
    assert result.status == "skipped"
    assert "apt-get install chromium" in result.summary and "--chromium" in result.summary


async def test_memory_bound_restarts_the_browser(make_probe, pages, endpoint) -> None:  # noqa: ANN001
    pages.add("/app", open_socket(endpoint.url()))
    probe = make_probe(pages.url("/app"), memory_limit_kib=1)
    first = await load(probe)
    assert first.ok and first.restart_reason and "bound" in first.restart_reason
    assert first.chromium_anon_kib and first.chromium_rss_kib
    assert probe.browser is None, "over the bound, the browser is stopped before the next load"
    second = await load(probe)
    assert second.ok and probe.starts == 2


async def test_killed_browser_is_replaced(make_probe, pages, endpoint) -> None:  # noqa: ANN001
    import signal

    pages.add("/app", open_socket(endpoint.url()))
    probe = make_probe(pages.url("/app"))
    assert (await load(probe)).ok
    profile = probe.browser.profile
    os.killpg(probe.browser.pid, signal.SIGKILL)
    wait_gone(profile, "after SIGKILL")
    # The next load notices, starts a fresh browser and still answers.
    sample = await probe.run()
    if not sample.ok:  # the dead connection may be noticed mid-load: the load after recovers
        assert sample.error_kind in ("browser-failed", "browser-start"), sample
        sample = await probe.run()
    assert sample.ok, sample.error
    assert probe.starts == 2


def test_engine_runs_the_probe_at_its_cadence_and_stops_the_browser(pages, endpoint) -> None:  # noqa: ANN001
    from wsmonitor.engine import Engine

    pages.add("/app", open_socket(endpoint.url()))
    probe = BrowserProbe(pages.url("/app"), chromium=chromium_binary(), settle=0.5,
                         min_interval=0.5, cadence=1.0)
    assert BrowserProbe(pages.url("/app")).interval(2.0) == 12.0  # 6 base intervals
    engine = Engine([probe], interval=0.5)
    engine.start()
    try:
        deadline = time.monotonic() + 90
        while len(engine.history("browser")) < 3:
            assert time.monotonic() < deadline, engine.history("browser")
            time.sleep(0.2)
        profile = probe.browser.profile
        pid = probe.browser.pid
    finally:
        engine.stop()
    samples = engine.history("browser")
    assert all(isinstance(s, BrowserSample) and s.ok for s in samples), samples
    assert probe.starts == 1, "one browser serves every load"
    assert probe.browser is None
    wait_gone(profile, "after the engine stopped")
    assert not group_members(pid)


async def test_alert_does_not_stall_the_load(make_probe, pages, endpoint) -> None:  # noqa: ANN001
    # An alert() stops the page's script until answered: the probe answers it.
    pages.add("/app", "alert('welcome back'); " + open_socket(endpoint.url()))
    probe = make_probe(pages.url("/app"))
    sample = await load(probe)
    assert sample.ok, sample.error
    assert (await load(probe)).ok and probe.starts == 1


async def test_a_load_cut_by_the_engines_timeout_kills_the_browser(make_probe, pages) -> None:  # noqa: ANN001
    from wsmonitor.engine import Engine

    probe = make_probe(pages.url("/hang"))
    probe.timeout = 8.0  # the engine gives up long before the 15 s load timeout
    engine = Engine([probe])
    import asyncio

    run = asyncio.ensure_future(engine._run_one(probe))  # noqa: SLF001 - its timeout path
    deadline = time.monotonic() + 60
    while probe.browser is None or probe.browser.profile is None:
        assert time.monotonic() < deadline and not run.done(), "the browser never started"
        await asyncio.sleep(0.05)
    profile = probe.browser.profile
    sample = await run
    assert sample.error_kind == "probe-timeout"
    assert probe.browser is None, "a cancelled load leaves no browser behind"
    wait_gone(profile, "after the engine cut the load")
    # The fault is data: the next load starts a fresh browser and says what it saw.
    pages.add("/app", "")
    probe.page_url = pages.url("/app")
    again = await load(probe)
    assert again.loaded and probe.starts == 2
