"""Pure rule for what a browser sees: ``browser-websocket``, and its report renderings.

Runbook step 3 by machine: the frontend page loaded in headless Chromium, its sockets read as
DevTools' Network → WS tab shows them. The remedies name the line to change: the CSP
directive, the ``wss://`` URL an https page must use, or the server-side check that tells a
403's Origin from its auth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from wsmonitor.rules.base import FAIL, PASS, SKIPPED, UNKNOWN, WARN, CheckContext, CheckResult, \
    sample_age, stale_limit, stale_result
from wsmonitor.rules.websocket import CLOSE_MEANING
from wsmonitor.samples import Sample
from wsmonitor.samples_browser import BrowserSample, BrowserSocket

CID = "browser-websocket"

BROWSER_FAULTS = frozenset({"browser-start", "browser-failed", "probe-timeout", "probe-bug"})
"""Failures of the browser itself: they say nothing of the page (``unknown``)."""

STATUS_REMEDY = {
    401: "A gateway or auth layer in front of Daphne rejected the browser's handshake: check "
         "its authoriser (the page's token may not reach it).",
    404: "Nothing serves the WebSocket at the page's URL: the frontend builds the wrong path "
         "(NEXT_PUBLIC_WS_BASE_URL), or the routing misses it.",
    200: "Something answered plain HTTP: a proxy drops the Upgrade/Connection headers, or the "
         "page builds a URL that is not the WebSocket endpoint.",
    426: "Something answered plain HTTP: a proxy drops the Upgrade/Connection headers.",
    502: "The proxy cannot reach the app: see handshake-101 and platform-websocket.",
    503: "The service failed the handshake: see handshake-101 and the service logs.",
    504: "The proxy timed out waiting for the app: see handshake-101.",
    500: "An exception in the handshake: see handshake-101 and the service logs (often Redis).",
}

ERROR_REMEDY = {
    "ERR_CONNECTION_REFUSED": "Nothing listens where the page connects: the frontend builds "
                              "the wrong host or port (NEXT_PUBLIC_WS_BASE_URL), or the "
                              "service is down.",
    "ERR_NAME_NOT_RESOLVED": "The host the page connects to does not resolve: fix the "
                             "frontend's WebSocket URL (NEXT_PUBLIC_WS_BASE_URL).",
    "ERR_CERT": "The browser does not trust the wss:// certificate: serve a chain a browser "
                "trusts for that host.",
    "ERR_SSL": "TLS failed between the browser and the wss:// endpoint: check the "
               "certificate and the port.",
    "ERR_UNSAFE_PORT": "Browsers refuse that port: serve the WebSocket on 443 (or another "
                       "allowed port).",
    "ERR_TIMED_OUT": "The connection timed out: a firewall drops the browser's traffic.",
}


def _facts(ctx: CheckContext) -> Mapping[str, Any]:
    facts = ctx.extra.get("browser") if ctx.extra else None
    return facts if isinstance(facts, Mapping) else {}


def latest(history: Mapping[str, Sequence[Sample]]) -> Sample | None:
    """The browser probe's newest sample (a BrowserSample, or the engine's own failure)."""
    samples = history.get("browser", ())
    return samples[-1] if samples else None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a socket URL (for the CSP source to add)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    except ValueError:
        return url


def secure_url(url: str) -> str:
    """The ``wss://`` form of a ``ws://`` URL (its port kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme != "ws":
        return url
    return urlunsplit(("wss", *parts[1:]))


def socket_line(s: BrowserSocket) -> str:
    """One evidence line for a socket."""
    parts = [s.outcome]
    if s.status == 101 and s.opened_s is not None:
        parts.append(f"101 at {s.opened_s:.2f} s")
    if s.closed_s is not None and s.status == 101:
        parts.append(f"closed at {s.closed_s:.2f} s"
                     + (f" ({s.close_reason})" if s.close_reason else ""))
    if s.error and not s.blocked and s.status != 101:
        parts.append(s.error)
    if s.origin:
        parts.append(f"Origin {s.origin}")
    return f"socket {s.url}: " + "; ".join(dict.fromkeys(parts))


def _page_line(s: BrowserSample, now: float) -> str:
    loaded = f"loaded in {s.load_ms:.0f} ms" if s.load_ms is not None else \
        "no load event within the timeout"
    status = f" ({s.page_status})" if s.page_status else ""
    return (f"browser {sample_age(s, now)}: {s.page_url}{status} {loaded}, watched "
            f"{s.settle_s:.1f} s more; origin {s.page_origin or 'unknown'}")


def _polling_line(s: BrowserSample) -> str | None:
    if not s.polling_requests:
        return None
    codes = ", ".join(str(c) if c else "failed" for c in s.polling_statuses)
    return (f"{s.polling_requests} request(s) to the polling path {s.polling_path}"
            + (f" ({codes})" if codes else "") + ": the page's fallback is in use")


def browser_websocket(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                      now: float) -> CheckResult:
    """Does a real browser, loading the frontend page, open the WebSocket?"""
    facts = _facts(ctx)
    if not facts.get("configured"):
        return CheckResult(CID, SKIPPED, "not configured: give --page-url (a page of the "
                           "frontend that opens the WebSocket)")
    last = latest(history)
    if last is None:
        return CheckResult(CID, UNKNOWN, "waiting for the first page load in Chromium")
    if last.error_kind == "no-chromium":
        return CheckResult(CID, SKIPPED, "Chromium is not installed: apt-get install chromium, "
                           "or give --chromium PATH", (f"browser probe: {last.error}",),
                           "Install Chromium (apt-get install chromium) or point --chromium "
                           "at a Chromium or Chrome binary.", last.at)
    if now - last.at > stale_limit(ctx, last.probe):
        return stale_result(CID, last, now, "page load")
    if last.error_kind in BROWSER_FAULTS or not isinstance(last, BrowserSample):
        return CheckResult(CID, UNKNOWN, f"the browser could not load the page: "
                           f"{last.error_kind or 'error'}",
                           (f"browser probe {sample_age(last, now)}: {last.error}",),
                           "wsmonitor restarts the browser on the next load; if this persists, "
                           "check that Chromium runs here (--chromium PATH).", last.at)
    s = last
    evidence = [_page_line(s, now)]
    evidence += [socket_line(x) for x in s.sockets[-6:]]
    evidence += [f"{m.source}: {m.text}" for m in s.blocked[:3]]
    polling = _polling_line(s)
    if polling:
        evidence.append(polling)
    url = facts.get("url")
    urls = {origin_of(x.url) + urlsplit(x.url).path for x in s.sockets}
    if url and urls and origin_of(str(url)) + urlsplit(str(url)).path not in urls:
        evidence.append(f"the page connects to {', '.join(sorted(urls))}; --url is {url}")
    ev = tuple(evidence)
    if s.navigation_error:
        return CheckResult(CID, FAIL, f"the page did not load: {s.navigation_error}", ev,
                           "Check --page-url and that the frontend answers (a browser shows "
                           "the same error).", s.at)
    csp = next((m for m in s.blocked if m.kind == "csp"), None)
    if csp is not None:
        target = origin_of(csp.url) if csp.url else "the WebSocket's origin"
        directive = csp.directive or "connect-src"
        name = directive.split()[0] if directive else "connect-src"
        if name == "connect-src":
            fix = (f"Add {target} to the connect-src directive of the page's "
                   f"Content-Security-Policy (now \"{directive}\"; e.g. \"{directive} "
                   f"{target}\")")
        else:
            # No connect-src: the browser fell back to default-src (or another directive).
            sources = directive.split(None, 1)[1] if " " in directive else "'self'"
            fix = (f"Add a connect-src directive that allows {target} to the page's "
                   f"Content-Security-Policy (e.g. \"connect-src {sources} {target}\"; without "
                   f"one, \"{directive}\" applies)")
        return CheckResult(
            CID, FAIL, f"the page's Content Security Policy blocks the WebSocket: {directive!s} "
            f"leaves out {target}", ev,
            f"{fix}: it is set by the frontend's server or CDN headers, or a <meta "
            "http-equiv> tag.", s.at)
    mixed = next((m for m in s.blocked if m.kind == "mixed-content"), None)
    if mixed is not None:
        bad = mixed.url or next((x.url for x in s.sockets if x.blocked == "mixed-content"), "")
        good = secure_url(bad) if bad else "wss://…"
        return CheckResult(
            CID, FAIL, f"mixed content: the https page opens {bad or 'a ws:// socket'}, which "
            "the browser blocks", ev,
            f"Use {good}: an https page may only open wss:// sockets (build the URL from "
            "location.protocol, or fix NEXT_PUBLIC_WS_BASE_URL).", s.at)
    open_now = [x for x in s.sockets if x.open_at_end]
    failed = [x for x in s.sockets if not x.open_at_end]
    if open_now:
        if failed:
            return CheckResult(CID, WARN, f"the WebSocket is open, after {len(failed)} failed "
                               "attempt(s) during the load", ev,
                               "The page reconnected: see the failed attempts' status.", s.at)
        extra = " (and it polls too)" if s.polling_requests else ""
        return CheckResult(CID, PASS, f"the browser opened the WebSocket: 101, open after "
                           f"{s.settle_s:.0f} s{extra}", ev, "", s.at)
    if failed:
        x = failed[-1]
        if x.status == 101:
            code = x.close_code

            meaning = CLOSE_MEANING.get(code or 0, "see stays-open")
            return CheckResult(CID, FAIL, f"the browser's WebSocket opened (101) and closed "
                               f"{code if code is not None else ''} at {x.closed_s or 0:.1f} s"
                               .replace("  ", " "), ev,
                               f"The server closed it: {meaning}. See stays-open and the "
                               "service logs.", s.at)
        if x.status == 403:
            origin = x.origin or s.page_origin or "the page's origin"
            return CheckResult(CID, FAIL, f"the browser's handshake is refused: 403 (Origin "
                               f"{origin})", ev,
                               f"A 403 before accept() is Origin or auth: see allowed-hosts "
                               f"(is {origin} allowed?) and jwt-valid (the page's token).", s.at)
        if x.status is not None:
            return CheckResult(CID, FAIL, f"the browser's handshake failed: {x.status}", ev,
                               STATUS_REMEDY.get(x.status, "See handshake-101."), s.at)
        error = x.error or "no answer"
        remedy = next((r for k, r in ERROR_REMEDY.items() if k in error),
                      "See handshake-101 and platform-websocket.")
        return CheckResult(CID, FAIL, f"the browser's WebSocket failed: {error}", ev, remedy,
                           s.at)
    if s.polling_requests:
        return CheckResult(CID, FAIL, f"the page opened no WebSocket and polls "
                           f"{s.polling_path}: it has fallen back to polling", ev,
                           "The frontend gave up on the socket before opening one: check its "
                           "WebSocket URL (NEXT_PUBLIC_WS_BASE_URL) and the console errors.",
                           s.at)
    if s.page_status and s.page_status >= 400:
        return CheckResult(CID, FAIL, f"the page answered {s.page_status} and opened no "
                           "WebSocket", ev, "Check --page-url and the frontend.", s.at)
    return CheckResult(CID, WARN, f"the page opened no WebSocket within "
                       f"{s.settle_s:.0f} s of loading", ev,
                       "Point --page-url at a page that opens the socket (one a logged-in "
                       "user sees), or check the frontend's WebSocket URL configuration.", s.at)


# --- renderings -------------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def browser_report(history: Mapping[str, Sequence[Sample]]) -> dict[str, Any] | None:
    """The ``probes.browser`` object of the JSON report (None without the probe)."""
    last = latest(history)
    if last is None:
        return None
    if not isinstance(last, BrowserSample):
        return {"page_url": None, "origin": None, "page_status": None, "loaded": False,
                "sockets": [], "blocked": [], "polling": None, "error_kind": last.error_kind,
                "error": last.error, "at": _iso(last.at)}
    s = last
    return {
        "page_url": s.page_url, "origin": s.page_origin, "page_status": s.page_status,
        "loaded": s.loaded, "load_ms": s.load_ms, "settle_s": s.settle_s,
        "navigation_error": s.navigation_error,
        "sockets": [{"url": x.url, "status": x.status, "error": x.error, "blocked": x.blocked,
                     "origin": x.origin, "created_s": x.created_s, "opened_s": x.opened_s,
                     "closed_s": x.closed_s, "close_code": x.close_code,
                     "close_reason": x.close_reason, "open_at_end": x.open_at_end,
                     "frames_received": x.frames_received} for x in s.sockets],
        "blocked": [{"kind": m.kind, "text": m.text, "url": m.url, "directive": m.directive,
                     "source": m.source} for m in s.blocked],
        "console": [m.text for m in s.messages if m.kind == "console"],
        "console_errors": s.console_errors,
        "polling": {"path": s.polling_path, "requests": s.polling_requests,
                    "statuses": list(s.polling_statuses)},
        "chromium": {"version": s.chromium_version, "rss_kib": s.chromium_rss_kib,
                     "anon_kib": s.chromium_anon_kib, "starts": s.browser_starts},
        "ok": s.ok, "error_kind": s.error_kind, "error": s.error, "at": _iso(s.at),
    }


def browser_markdown(history: Mapping[str, Sequence[Sample]]) -> list[str]:
    """The markdown report's browser section (no lines without the probe)."""
    report = browser_report(history)
    if report is None:
        return []
    lines = ["## What the browser saw", ""]
    if report["page_url"]:
        lines.append(f"- **Page:** {report['page_url']} (origin {report['origin'] or '?'}, "
                     f"status {report['page_status'] or '—'})")
    if report.get("navigation_error"):
        lines.append(f"- **Did not load:** {report['navigation_error']}")
    for x in report["sockets"]:
        what = x["blocked"] and f"blocked ({x['blocked']})" or (
            "101, open" if x["open_at_end"] else
            f"{x['status'] or '—'}" + (f", closed {x['close_code']}" if x["close_code"]
                                       is not None else ""))
        lines.append(f"- **WebSocket** `{x['url']}`: {what}"
                     + (f" — {x['error']}" if x["error"] and not x["open_at_end"] else ""))
    for m in report["blocked"]:
        lines.append(f"- **{m['kind']}:** {m['text']}")
    polling = report.get("polling")
    if polling and polling["requests"]:
        lines.append(f"- **Polling:** {polling['requests']} request(s) to `{polling['path']}`")
    if report.get("error") and not report["sockets"]:
        lines.append(f"- **Probe:** {report['error']}")
    lines.append("")
    return lines
