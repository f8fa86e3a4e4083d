"""The browser check above the others: the banner's reading of a browser-only failure, and
the pure helpers the remedies are built from."""

from __future__ import annotations

from wsmonitor.rules.base import CheckResult
from wsmonitor.rules.browser import origin_of, secure_url
from wsmonitor.rules.diagnosis import diagnose
from wsmonitor.probes.browser import classify_message, page_origin

BROWSER_FAIL = CheckResult("browser-websocket", "fail", "the page's Content Security Policy "
                           "blocks the WebSocket", ("…",), "Add wss://api.example.com to "
                           "connect-src")


def test_browser_only_failure_points_at_the_frontend_page() -> None:
    others = [CheckResult(cid, "pass", "fine") for cid in
              ("platform-websocket", "allowed-hosts", "handshake-101", "stays-open")]
    d = diagnose([*others, BROWSER_FAIL])
    assert d.layer == "unknown" and d.checks == ("browser-websocket",)
    assert d.summary.startswith("Only the browser fails") and "frontend page" in d.summary
    assert d.remedy == BROWSER_FAIL.remedy
    alone = diagnose([CheckResult("handshake-101", "skipped", "not configured: give --url"),
                      BROWSER_FAIL])
    assert "No server-side check ran" in alone.summary and alone.remedy == BROWSER_FAIL.remedy
    # A server-side failure beside it is read by the server-side rules, not this one.
    both = diagnose([CheckResult("handshake-101", "fail", "403"), BROWSER_FAIL])
    assert not both.summary.startswith(("Only the browser", "The browser fails"))


def test_helpers_of_the_remedies() -> None:
    assert page_origin("https://app.example.com/dash?token=x") == "https://app.example.com"
    assert page_origin("http://app.example.com:80/") == "http://app.example.com"
    assert page_origin("https://[::1]:8443/x") == "https://[::1]:8443"
    assert page_origin("about:blank") is None
    assert origin_of("wss://api.example.com:8443/ws/?token=***") == "wss://api.example.com:8443"
    assert secure_url("ws://app.test:8001/ws/?token=***") == "wss://app.test:8001/ws/?token=***"
    assert secure_url("wss://already/") == "wss://already/"
    kind, url, directive = classify_message(
        "security", "Connecting to 'wss://api.example.com/ws/' violates the following Content "
        "Security Policy directive: \"connect-src 'self'\". The action has been blocked.")
    assert (kind, url, directive) == ("csp", "wss://api.example.com/ws/", "connect-src 'self'")
    assert classify_message("security", "Executing inline script violates the following "
                            "Content Security Policy directive 'script-src 'self''.") is None
    kind, url, _ = classify_message(
        "security", "Mixed Content: The page at 'https://app.test/' was loaded over HTTPS, but "
        "attempted to connect to the insecure WebSocket endpoint 'ws://app.test:8001/ws/'. This "
        "request has been blocked; this endpoint must be available over WSS.")
    assert (kind, url) == ("mixed-content", "ws://app.test:8001/ws/")
