"""What a browser saw loading the frontend page: the browser probe's immutable sample.

Kept beside `wsmonitor.samples` rather than in the probe module, so the rules, the report and
replay read it without importing the probe (and its process management).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from wsmonitor.samples import Sample, register_sample_type


@dataclass(frozen=True, slots=True)
class BrowserSocket:
    """One WebSocket the page opened (or tried to), as DevTools' Network → WS tab shows it."""

    url: str
    """The URL the page asked for, redacted (``?token=***``)."""
    status: int | None = None
    """The handshake's HTTP status (101, 403 …); None when no answer came."""
    error: str | None = None
    """Chromium's error text (``Unexpected response code: 403``,
    ``net::ERR_CONNECTION_REFUSED``), or what blocked it, redacted."""
    blocked: str | None = None
    """``csp`` or ``mixed-content`` when the browser refused to open it at all."""
    origin: str | None = None
    """The Origin header the browser sent."""
    created_s: float | None = None
    """Seconds from the start of the navigation to the page creating it."""
    opened_s: float | None = None
    """Seconds from the start of the navigation to its 101."""
    closed_s: float | None = None
    """Seconds from the start of the navigation to its close (None: open at the end)."""
    close_code: int | None = None
    """The close event's code, as the page saw it (1006 for a handshake that failed)."""
    close_reason: str | None = None
    frames_received: int = 0
    """Messages the server sent on it during the load."""

    @property
    def open_at_end(self) -> bool:
        """Upgraded and still open when the load's settle time ended."""
        return self.status == 101 and self.closed_s is None and self.blocked is None

    @property
    def outcome(self) -> str:
        """A few words for panes and evidence: ``101 open``, ``403``, ``blocked (csp)`` …"""
        if self.blocked:
            return f"blocked ({self.blocked})"
        if self.status == 101:
            if self.closed_s is None:
                return "101 open"
            code = f" {self.close_code}" if self.close_code is not None else ""
            return f"101, closed{code}"
        if self.status is not None:
            return str(self.status)
        return self.error or "no answer"


@dataclass(frozen=True, slots=True)
class BrowserMessage:
    """A console or security message that bears on the socket (CSP, mixed content)."""

    kind: str
    """``csp``, ``mixed-content`` or ``console`` (an error the page itself logged)."""
    text: str
    """The message, redacted and shortened."""
    source: str = ""
    """DevTools' source: ``security``, ``network``, ``console-api`` …"""
    url: str | None = None
    """The URL it is about (what was blocked), redacted."""
    directive: str | None = None
    """The CSP directive that blocked it, e.g. ``connect-src 'self'``."""
    at_s: float | None = None
    """Seconds from the start of the navigation."""


def _rebuild(cls: type, items: Any) -> tuple[Any, ...]:
    names = {f.name for f in fields(cls)}
    out = []
    for item in items or ():
        if isinstance(item, dict):
            item = cls(**{k: v for k, v in item.items() if k in names})
        out.append(item)
    return tuple(out)


@register_sample_type
@dataclass(frozen=True, slots=True)
class BrowserSample(Sample):
    """One load of the frontend page in headless Chromium.

    ``ok`` means a WebSocket was upgraded and still open when the load settled, and nothing
    blocked another one.
    """

    page_url: str = ""
    """The page loaded (redacted)."""
    page_origin: str | None = None
    """The page's origin (``scheme://host[:port]``): the Origin its sockets send."""
    page_status: int | None = None
    """The HTTP status of the page itself."""
    navigation_error: str | None = None
    """Why the page did not load (``net::ERR_CONNECTION_REFUSED`` …)."""
    loaded: bool = False
    """The load event fired within the load timeout."""
    load_ms: float | None = None
    """Navigation start to the load event."""
    settle_s: float = 0.0
    """How long the page was watched after the load."""
    sockets: tuple[BrowserSocket, ...] = ()
    messages: tuple[BrowserMessage, ...] = ()
    polling_path: str = ""
    """The polling fallback's path requests were counted under."""
    polling_requests: int = 0
    """Requests the page made to the polling path during the load."""
    polling_statuses: tuple[int, ...] = ()
    """Their statuses (0: failed without one), newest last, a few at most."""
    console_errors: int = 0
    """Errors the page logged (all of them; a few are kept in `messages`)."""
    chromium_version: str = ""
    chromium_rss_kib: int | None = None
    """Resident memory of the browser's processes after the load, KiB, as ``ps`` adds it up."""
    chromium_anon_kib: int | None = None
    """Their own (anonymous) memory, KiB: what the memory bound is judged on."""
    browser_starts: int = 0
    """How many times the probe has started Chromium so far (restarts show as growth)."""
    restart_reason: str | None = None
    """Why the browser is restarted before the next load (memory bound, crash)."""

    def __post_init__(self) -> None:
        # A replayed recording holds plain dicts; the rules read dataclasses.
        if self.sockets and not isinstance(self.sockets[0], BrowserSocket):
            object.__setattr__(self, "sockets", _rebuild(BrowserSocket, self.sockets))
        if self.messages and not isinstance(self.messages[0], BrowserMessage):
            object.__setattr__(self, "messages", _rebuild(BrowserMessage, self.messages))

    @property
    def blocked(self) -> tuple[BrowserMessage, ...]:
        """The messages that say the browser blocked a socket (CSP, mixed content)."""
        return tuple(m for m in self.messages if m.kind in ("csp", "mixed-content"))
