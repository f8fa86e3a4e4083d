"""The browser probe: the frontend page loaded in headless Chromium, read as DevTools would.

Runbook step 3 is "open DevTools → Network → WS and read the status code". Server-side probes
cannot see what only the browser meets: a Content Security Policy whose ``connect-src`` leaves
the socket's host out, mixed content (``ws://`` from an https page), a frontend that builds the
wrong URL, the page's real Origin, a page that has already fallen back to polling. This probe
loads the page every few intervals, each time in a fresh browser context, and records:

- every WebSocket the page opened: URL (token masked), handshake status or error text, close
  code and when (CDP's ``Network.webSocket*`` events, and a hook on ``window.WebSocket`` for
  the close codes CDP does not report);
- the console and security messages that block a socket (``Log.entryAdded``);
- requests to the polling path (``Network.requestWillBeSent``);
- the page's origin.

I/O only: no Textual here. Failures come back as samples; the browser process is reused
across loads and stopped on close and on every fault (see `wsmonitor.probes.chromium`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from wsmonitor.probes.chromium import INSTALL_HINT, MAX_OLD_SPACE_MB, Chromium, ChromiumError, \
    resolve_chromium
from wsmonitor.samples import Sample
from wsmonitor.samples_browser import BrowserMessage, BrowserSample, BrowserSocket
from wsmonitor.secrets import redact

CADENCE = 6.0
"""The page is loaded every this many base intervals."""

MIN_INTERVAL = 10.0
"""Least seconds between two loads (each costs the frontend one page view)."""

LOAD_TIMEOUT = 15.0
"""Seconds the page has to fire its load event."""

SETTLE = 3.0
"""Seconds the page is watched after its load event: long enough to see a socket open and be
closed at once (a 403, a 1011), short enough to keep a load cheap."""

MEMORY_LIMIT_KIB = 768 * 1024
"""The browser is restarted before the next load when its processes' own (anonymous) memory
passes this; a fresh headless Chromium with one page holds about 220 MiB of it (and about
900 MiB of RSS counted per process, shared libraries included)."""

MAX_SOCKETS = 32
"""Sockets kept per load (a page in a reconnect loop opens many)."""

MAX_MESSAGES = 16
"""Console and security messages kept per load."""

MAX_TEXT = 400
"""Characters kept of a message."""

HOOK = r"""
(() => {
  if (window.__wsmonitor || !window.WebSocket) return;
  const seen = window.__wsmonitor = [];
  const Native = window.WebSocket;
  function WsMonitored(url, protocols) {
    const entry = {url: String(url), created: Date.now(), opened: null, closed: null,
                   code: null, reason: null, error: null};
    if (seen.length < 64) seen.push(entry);
    let ws;
    try {
      ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    } catch (e) {
      entry.error = String(e && e.name ? e.name + ": " + e.message : e).slice(0, 400);
      entry.closed = Date.now();
      throw e;
    }
    entry.url = ws.url;
    ws.addEventListener("open", () => { entry.opened = Date.now(); });
    ws.addEventListener("error", () => { entry.error = entry.error || "error event"; });
    ws.addEventListener("close", (e) => {
      entry.closed = Date.now(); entry.code = e.code; entry.reason = String(e.reason).slice(0, 200);
    });
    return ws;
  }
  WsMonitored.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) WsMonitored[k] = Native[k];
  window.WebSocket = WsMonitored;
})();
"""
"""Installed before the page's own scripts: CDP reports that a socket closed, not with which
code; the page's close event has it (and sockets the browser refused before any network
event, as CSP does)."""

READ_HOOK = "JSON.stringify(window.__wsmonitor || [])"

_CSP_URL = re.compile(r"(?:Connecting to|Refused to connect to) '([^']+)'")
_CSP_DIRECTIVE = re.compile(r'directive:\s*"([^"]+)"')
_MIXED_URL = re.compile(r"insecure (?:WebSocket|XMLHttpRequest|resource)[^']*'([^']+)'")
_STATUS = re.compile(r"Unexpected response code:\s*(\d{3})")


def classify_message(source: str, text: str) -> tuple[str, str | None, str | None] | None:
    """What a console message says about sockets: ``(kind, url, directive)``, or None when it
    is not a CSP or mixed-content block."""
    url = _CSP_URL.search(text)
    if "Content Security Policy" in text and url:
        # Only connections: a blocked inline script is the page's own problem (a console error).
        directive = _CSP_DIRECTIVE.search(text)
        return "csp", url.group(1), directive.group(1) if directive else None
    if text.startswith("Mixed Content") or (source == "security" and "insecure" in text
                                            and "HTTPS" in text):
        url = _MIXED_URL.search(text)
        return "mixed-content", url.group(1) if url else None, None
    return None


def page_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of a page URL (None when it has no host)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host or parts.scheme not in ("http", "https"):
        return None
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


@dataclass
class _Socket:
    url: str
    created: float
    status: int | None = None
    error: str | None = None
    origin: str | None = None
    opened: float | None = None
    closed: float | None = None
    frames: int = 0


@dataclass
class _Load:
    """What one load's events add up to (mutable while the load runs, then frozen)."""

    started_wall: float
    polling_path: str
    frame_id: str | None = None
    loader_id: str | None = None
    origin: str | None = None
    page_status: int | None = None
    loaded_at: float | None = None
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    sockets: dict[str, _Socket] = field(default_factory=dict)
    messages: list[BrowserMessage] = field(default_factory=list)
    console_errors: int = 0
    polling: dict[str, int] = field(default_factory=dict)
    polling_count: int = 0

    def at(self, wall: float | None = None) -> float:
        return round((time.time() if wall is None else wall) - self.started_wall, 3)

    def on_event(self, method: str, p: dict[str, Any]) -> None:
        handler = _HANDLERS.get(method)
        if handler is not None:
            handler(self, p)

    def _created(self, p: dict[str, Any]) -> None:
        if len(self.sockets) < MAX_SOCKETS:
            self.sockets[p["requestId"]] = _Socket(str(p.get("url", "")), time.time())

    def _will_send(self, p: dict[str, Any]) -> None:
        s = self.sockets.get(p.get("requestId", ""))
        if s is not None:
            headers = (p.get("request") or {}).get("headers") or {}
            s.origin = next((v for k, v in headers.items() if k.lower() == "origin"), None)

    def _response(self, p: dict[str, Any]) -> None:
        s = self.sockets.get(p.get("requestId", ""))
        if s is not None:
            s.status = int((p.get("response") or {}).get("status") or 0) or None
            if s.status == 101:
                s.opened = time.time()

    def _frame_error(self, p: dict[str, Any]) -> None:
        s = self.sockets.get(p.get("requestId", ""))
        if s is not None:
            text = str(p.get("errorMessage", ""))
            s.error = s.error or text[:MAX_TEXT]
            m = _STATUS.search(text)
            if m and s.status is None:
                s.status = int(m.group(1))

    def _closed(self, p: dict[str, Any]) -> None:
        s = self.sockets.get(p.get("requestId", ""))
        if s is not None and s.closed is None:
            s.closed = time.time()

    def _frame(self, p: dict[str, Any]) -> None:
        s = self.sockets.get(p.get("requestId", ""))
        if s is not None:
            s.frames += 1

    def _log(self, p: dict[str, Any]) -> None:
        entry = p.get("entry") or {}
        self._message(str(entry.get("source", "")), str(entry.get("level", "")),
                      str(entry.get("text", "")))

    def _console(self, p: dict[str, Any]) -> None:
        if p.get("type") not in ("error", "assert"):
            return
        args = p.get("args") or []
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
        self._message("console-api", "error", text)

    def _exception(self, p: dict[str, Any]) -> None:
        details = p.get("exceptionDetails") or {}
        exc = details.get("exception") or {}
        self._message("javascript", "error",
                      str(exc.get("description") or details.get("text") or "exception"))

    def _message(self, source: str, level: str, text: str) -> None:
        found = classify_message(source, text)
        if found is None:
            if level != "error" or source == "network":
                return  # network errors belong to their request (a socket's own error text)
            self.console_errors += 1
            kind, url, directive = "console", None, None
        else:
            kind, url, directive = found
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(BrowserMessage(
                kind=kind, text=redact(text[:MAX_TEXT]), source=source,
                url=redact(url) if url else None, directive=directive, at_s=self.at()))

    def _navigated(self, p: dict[str, Any]) -> None:
        frame = p.get("frame") or {}
        if frame.get("parentId"):
            return
        self.frame_id = frame.get("id")
        self.loader_id = frame.get("loaderId")
        origin = frame.get("securityOrigin")
        if origin and origin != "null" and origin.startswith(("http://", "https://")):
            self.origin = origin

    def _request(self, p: dict[str, Any]) -> None:
        url = str((p.get("request") or {}).get("url", ""))
        try:
            path = urlsplit(url).path
        except ValueError:
            return
        if self.polling_path and path.startswith(self.polling_path):
            self.polling_count += 1
            if len(self.polling) < 64:
                self.polling[p.get("requestId", "")] = 0

    def _http_response(self, p: dict[str, Any]) -> None:
        rid = p.get("requestId", "")
        status = int((p.get("response") or {}).get("status") or 0)
        if rid in self.polling:
            self.polling[rid] = status
        if p.get("type") == "Document" and (rid == self.loader_id or self.page_status is None):
            self.page_status = status or None

    def _load_event(self, p: dict[str, Any]) -> None:
        if self.loaded_at is None:
            self.loaded_at = time.time()
        self.loaded.set()

    def pending_sockets(self) -> bool:
        """A socket still waits for its handshake's answer."""
        return any(s.status is None and s.error is None and s.closed is None
                   for s in self.sockets.values())


_HANDLERS = {
    "Network.webSocketCreated": _Load._created,
    "Network.webSocketWillSendHandshakeRequest": _Load._will_send,
    "Network.webSocketHandshakeResponseReceived": _Load._response,
    "Network.webSocketFrameError": _Load._frame_error,
    "Network.webSocketClosed": _Load._closed,
    "Network.webSocketFrameReceived": _Load._frame,
    "Network.requestWillBeSent": _Load._request,
    "Network.responseReceived": _Load._http_response,
    "Log.entryAdded": _Load._log,
    "Runtime.consoleAPICalled": _Load._console,
    "Runtime.exceptionThrown": _Load._exception,
    "Page.frameNavigated": _Load._navigated,
    "Page.loadEventFired": _Load._load_event,
}


def merge_sockets(load: _Load, hooked: list[dict[str, Any]]) -> tuple[BrowserSocket, ...]:
    """One record per socket: CDP's network view joined with the page's own (close codes, and
    sockets the browser refused before the network saw them), by URL in creation order."""
    unmatched = [h for h in hooked if isinstance(h, dict)]
    blocked = {m.url: m.kind for m in load.messages if m.kind in ("csp", "mixed-content")
               and m.url}
    out: list[BrowserSocket] = []

    def seconds(ms: Any) -> float | None:
        return None if not isinstance(ms, (int, float)) else load.at(ms / 1000.0)

    for s in load.sockets.values():
        hook = next((h for h in unmatched if _same_url(str(h.get("url", "")), s.url)), None)
        if hook is not None:
            unmatched.remove(hook)
        code = hook.get("code") if hook else None
        closed = s.closed
        if hook and hook.get("closed") is not None:
            closed = hook["closed"] / 1000.0 if closed is None else closed
        out.append(BrowserSocket(
            url=redact(s.url), status=s.status, error=redact(s.error) if s.error else None,
            origin=s.origin, created_s=load.at(s.created),
            opened_s=load.at(s.opened) if s.opened else None,
            closed_s=load.at(closed) if closed is not None else None,
            close_code=int(code) if isinstance(code, int) else None,
            close_reason=(redact(str(hook.get("reason") or ""))[:200] or None) if hook else None,
            frames_received=s.frames))
    for h in unmatched:
        # The page asked for it but the network never saw it: refused by the browser itself.
        url = str(h.get("url", ""))
        kind = blocked.get(redact(url)) or next(
            (k for u, k in blocked.items() if _same_url(u, redact(url))), None)
        error = h.get("error")
        if kind is None and not error and h.get("closed") is None:
            continue  # created during the final read: no outcome yet
        reason = {"csp": "blocked by the Content Security Policy (connect-src)",
                  "mixed-content": "blocked as mixed content (ws:// from an https page)"}
        out.append(BrowserSocket(
            url=redact(url), blocked=kind,
            error=reason.get(kind or "", redact(str(error)) if error else "never opened"),
            created_s=seconds(h.get("created")), closed_s=seconds(h.get("closed")),
            close_code=h.get("code") if isinstance(h.get("code"), int) else None))
    out.sort(key=lambda b: b.created_s if b.created_s is not None else 0.0)
    return tuple(out[:MAX_SOCKETS])


class BrowserProbe:
    """Loads ``--page-url`` in headless Chromium, as an engine probe named ``browser``.

    Args:
        page_url: The frontend page that opens the WebSocket.
        chromium: ``--chromium`` (a path or a name on PATH); None looks up `chromium`.
        polling_path: Requests under this path count as the polling fallback.
        extra_args: More Chromium flags (tests map host names, trust a test certificate).
        load_timeout: Seconds for the load event.
        settle: Seconds to watch the page after it loaded.
        memory_limit_kib: Restart the browser when its processes' anonymous memory passes
            this, KiB.
        cadence: Base intervals between loads.
        min_interval: Least seconds between loads.
    """

    name = "browser"

    def __init__(self, page_url: str, *, chromium: str | None = None,
                 polling_path: str = "/api/notifications/", extra_args: tuple[str, ...] = (),
                 load_timeout: float = LOAD_TIMEOUT, settle: float = SETTLE,
                 memory_limit_kib: int = MEMORY_LIMIT_KIB, cadence: float = CADENCE,
                 min_interval: float = MIN_INTERVAL,
                 max_old_space_mb: int = MAX_OLD_SPACE_MB) -> None:
        self.page_url = page_url
        self.chromium = chromium
        self.polling_path = polling_path
        self.extra_args = tuple(extra_args)
        self.load_timeout = load_timeout
        self.settle = settle
        self.memory_limit_kib = memory_limit_kib
        self.cadence = cadence
        self.min_interval = min_interval
        self.max_old_space_mb = max_old_space_mb
        self.timeout = 20.0 + load_timeout + 2 * settle + 15.0
        """Start-up, load, settle, the final reads and disposing of the context."""
        self.browser: Chromium | None = None
        self.starts = 0

    def interval(self, base: float) -> float:
        """Every `cadence` base intervals, never more often than `min_interval`."""
        return max(self.min_interval, base * self.cadence)

    def describe(self, base: float) -> dict[str, Any]:
        """For the recording's header."""
        return {"steady_interval": self.interval(base), "timeout": self.timeout,
                "page_url": redact(self.page_url), "settle": self.settle}

    def _sample(self, started: float, **kwargs: Any) -> BrowserSample:
        kwargs.setdefault("ok", False)
        return BrowserSample(
            probe=self.name, at=time.time(), duration_ms=(time.perf_counter() - started) * 1000,
            page_url=redact(self.page_url), polling_path=self.polling_path,
            chromium_version=self.browser.version if self.browser else "",
            browser_starts=self.starts, **kwargs)

    async def run(self) -> Sample:
        started = time.perf_counter()
        binary = resolve_chromium(self.chromium)
        if binary is None:
            which = f"--chromium {self.chromium!r} is not an executable" if self.chromium \
                else "no chromium on PATH"
            return self._sample(started, error=f"Chromium not found ({which}): {INSTALL_HINT}",
                                error_kind="no-chromium")
        try:
            browser = await self._browser(binary)
        except ChromiumError as exc:
            return self._sample(started, error=redact(f"Chromium did not start: {exc}"),
                                error_kind="browser-start")
        try:
            sample = await self._load(browser, started)
        except ChromiumError as exc:
            self._stop_now()
            return self._sample(started, error=redact(f"the browser failed during the load: "
                                                      f"{exc}"), error_kind="browser-failed",
                                restart_reason="the browser failed")
        except BaseException:
            # Cancelled (the engine's timeout, shutdown) mid-load: the browser's state is
            # unknown, so it goes, by PID, now.
            self._stop_now()
            raise
        rss, anon = browser.memory_kib() or (None, None)
        reason = None
        if anon is not None and anon > self.memory_limit_kib:
            reason = (f"the browser's processes held {anon // 1024} MiB of their own memory, "
                      f"over the {self.memory_limit_kib // 1024} MiB bound")
            await self._stop()
        return replace(sample, chromium_rss_kib=rss, chromium_anon_kib=anon,
                       restart_reason=reason,
                       duration_ms=(time.perf_counter() - started) * 1000)

    async def _browser(self, binary: str) -> Chromium:
        if self.browser is not None and (not self.browser.alive or self.browser.binary != binary):
            await self._stop()
        if self.browser is None:
            browser = Chromium(binary, extra_args=self.extra_args,
                               max_old_space_mb=self.max_old_space_mb)
            self.starts += 1
            await browser.start()
            self.browser = browser
        return self.browser

    async def _load(self, browser: Chromium, started: float) -> BrowserSample:
        context: str | None = (await browser.call(
            "Target.createBrowserContext", disposeOnDetach=True))["browserContextId"]
        session = None
        try:
            target = await browser.call("Target.createTarget", url="about:blank",
                                        browserContextId=context)
            session = (await browser.call("Target.attachToTarget", targetId=target["targetId"],
                                          flatten=True))["sessionId"]
            load = _Load(time.time(), self.polling_path)
            dialogs: list[asyncio.Task[Any]] = []

            def on_event(method: str, params: dict[str, Any]) -> None:
                if method == "Page.javascriptDialogOpening":
                    # An alert() would stop the page (and every later call) until answered.
                    dialogs.append(asyncio.ensure_future(browser.call(
                        "Page.handleJavaScriptDialog", session, accept=True)))
                load.on_event(method, params)

            browser.listen(session, on_event)
            await browser.call("Network.enable", session, maxTotalBufferSize=1_000_000,
                               maxResourceBufferSize=100_000)
            for method in ("Page.enable", "Log.enable", "Runtime.enable"):
                await browser.call(method, session)
            await browser.call("Page.addScriptToEvaluateOnNewDocument", session, source=HOOK)
            load.started_wall = time.time()
            try:
                nav = await browser.call("Page.navigate", session, url=self.page_url,
                                         timeout=self.load_timeout)
            except ChromiumError:
                if not browser.alive:
                    raise
                nav = {"errorText": f"no answer within {self.load_timeout:g} s"}
            error = nav.get("errorText") or None
            if error:
                return self._sample(started, navigation_error=redact(error),
                                    page_origin=page_origin(self.page_url),
                                    error=redact(f"the page did not load: {error}"),
                                    error_kind="page-load")
            deadline = load.started_wall + self.load_timeout
            try:
                await asyncio.wait_for(load.loaded.wait(), max(0.0, deadline - time.time()))
            except TimeoutError:
                pass
            # Watch the settle time; then give sockets still waiting for their handshake's
            # answer until the load timeout, so a slow 101 is not mistaken for none.
            await asyncio.sleep(self.settle)
            while load.pending_sockets() and time.time() < deadline + self.settle:
                await asyncio.sleep(0.1)
            settled = load.at()
            hooked = await self._read_hook(browser, session)
            for task in dialogs:
                task.cancel()
            await asyncio.gather(*dialogs, return_exceptions=True)
            return self._finish(load, hooked, settled, started)
        except ChromiumError:
            raise
        except BaseException:
            # Cancelled: the caller kills the browser; waiting on it here would only delay that.
            context = None
            raise
        finally:
            if session is not None:
                browser.unlisten(session)
            if context is not None:
                try:
                    await browser.call("Target.disposeBrowserContext", browserContextId=context)
                except ChromiumError:
                    pass

    async def _read_hook(self, browser: Chromium, session: str) -> list[dict[str, Any]]:
        try:
            result = await browser.call("Runtime.evaluate", session, expression=READ_HOOK,
                                        returnByValue=True, timeout=5.0)
            value = json.loads((result.get("result") or {}).get("value") or "[]")
        except (ChromiumError, ValueError, TypeError):
            return []
        return value if isinstance(value, list) else []

    def _finish(self, load: _Load, hooked: list[dict[str, Any]], settled: float,
                started: float) -> BrowserSample:
        sockets = merge_sockets(load, hooked)
        blocked = any(s.blocked for s in sockets) or any(
            m.kind in ("csp", "mixed-content") and m.url and m.url.startswith(("ws:", "wss:"))
            for m in load.messages)
        ok = any(s.open_at_end for s in sockets) and not blocked
        statuses = tuple(load.polling.values())[-10:]
        return self._sample(
            started, ok=ok, page_origin=load.origin or page_origin(self.page_url),
            page_status=load.page_status, loaded=load.loaded_at is not None,
            load_ms=round((load.loaded_at - load.started_wall) * 1000, 1)
            if load.loaded_at else None,
            settle_s=round(settled - (load.at(load.loaded_at) if load.loaded_at else settled),
                           3),
            sockets=sockets, messages=tuple(load.messages),
            polling_requests=load.polling_count, polling_statuses=statuses,
            console_errors=load.console_errors,
            error=None if ok else _failure_text(sockets, load),
            error_kind=None if ok else "websocket")

    def _stop_now(self) -> None:
        browser, self.browser = self.browser, None
        if browser is not None:
            browser.kill()

    async def _stop(self) -> None:
        browser, self.browser = self.browser, None
        if browser is not None:
            await browser.close()

    async def close(self) -> None:
        """Stop the browser (by its process group's id)."""
        await self._stop()


def _failure_text(sockets: tuple[BrowserSocket, ...], load: _Load) -> str:
    blocked = [m for m in load.messages if m.kind in ("csp", "mixed-content")]
    if blocked:
        return blocked[0].text
    if sockets:
        s = sockets[-1]
        return f"{s.url}: {s.outcome}"
    if load.polling_count:
        return f"no WebSocket; {load.polling_count} request(s) to {load.polling_path}"
    return "the page opened no WebSocket"


def browser_probe(settings: Any) -> BrowserProbe | None:
    """The browser probe the settings ask for (None without ``--page-url``)."""
    if not getattr(settings, "page_url", None):
        return None
    return BrowserProbe(settings.page_url, chromium=getattr(settings, "chromium", None),
                        polling_path=settings.polling_path)
