"""The HTTP probes' sample and vocabulary: endpoints and error kinds.

Beside `wsmonitor.samples` so that the rules, the UI and replay read them without importing the
probe (and httpx); `wsmonitor.probes.http` re-exports them. Importing this module registers
`HttpSample` for replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsmonitor.samples import Sample, register_sample_type

ENDPOINTS = {
    "redis-health": "/api/redis-health/",
    "ws-diagnostic": "/api/ws-diagnostic/",
    "polling": "/api/notifications/",
}
"""Each HTTP probe's endpoint name and default path (the polling path is configurable)."""

AUTHENTICATED = frozenset({"ws-diagnostic", "polling"})
"""Endpoints that get ``Authorization: Bearer <token>`` (the runbook's redis-health is
``AllowAny``)."""

ERROR_TEXT = {
    "refused": "connection refused: nothing listens on that host and port",
    "dns": "the host name does not resolve",
    "tls": "TLS failed (certificate not trusted, or not a TLS port)",
    "timeout": "no answer in time",
    "closed": "the server closed the connection without an answer",
    "protocol": "the answer is not valid HTTP",
    "connect": "cannot connect",
    "auth": "rejected: the token is missing, expired or not accepted",
    "not-found": "no such endpoint (404): the path is wrong or the view is not deployed",
    "redirect": "redirected instead of answered",
    "server-error": "the endpoint failed with a server error",
    "status": "unexpected HTTP status",
    "unhealthy": "the endpoint answered, and reports a failure",
    "rate-limited": "rate limited (429): the endpoint protects Redis from too many requests",
    "bad-host": "400 Bad Request: Django refuses the Host header (not in ALLOWED_HOSTS)",
    "error": "HTTP request failed",
}
"""One line per error kind, for panes and reports."""


@register_sample_type
@dataclass(frozen=True, slots=True)
class HttpSample(Sample):
    """One request to one endpoint.

    ``ok`` means a 2xx answer whose body does not report a failure (``healthy`` is not False).
    """

    endpoint: str = ""
    """``redis-health``, ``ws-diagnostic`` or ``polling``."""
    url: str = ""
    """The URL requested (redacted)."""
    status: int | None = None
    reason: str | None = None
    server: str | None = None
    """The ``Server`` header."""
    content_type: str | None = None
    location: str | None = None
    """Where a redirect pointed (redacted)."""
    json_ok: bool = False
    """The body parsed as JSON."""
    summary: tuple[tuple[str, Any], ...] = ()
    """Top-level JSON keys and their values (scalars; nested values as compact JSON), redacted."""
    healthy: bool | None = None
    """The endpoint's own verdict (redis-health ``status``, ws-diagnostic ``redis_connected``
    and ``channel_layer_available``); None when it gives none."""
    body_excerpt: str | None = None
    """The start of a body that is not JSON, redacted."""
    auth_sent: bool = False
    """Whether a Bearer token was sent."""
    tls: bool = False
    # What wsmonitor.django's ws-diagnostic adds (None from the runbook's plain view):
    allowed_hosts: tuple[str, ...] | None = None
    """The service's ALLOWED_HOSTS, as its running settings have them."""
    origin_validator: bool | None = None
    """An Origin validator sits on the running ASGI application's WebSocket branch."""
    origin_patterns: tuple[str, ...] | None = None
    """The list that validator checks the Origin against."""
    layer_backend: str | None = None
    layer_round_trip_ms: float | None = None
    """The service's own send → receive on a fresh channel."""
    layer_error_kind: str | None = None
    layer_error: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """Response headers as (name, value) pairs, redacted and bounded (no cookie values): what
    tells the front that answered (`wsmonitor.rules.platform`)."""

    def __post_init__(self) -> None:
        if self.summary and not isinstance(self.summary[0], tuple):
            object.__setattr__(self, "summary", tuple(tuple(p) for p in self.summary))
        if self.headers and not isinstance(self.headers[0], tuple):
            object.__setattr__(self, "headers", tuple(tuple(p) for p in self.headers))

    def value(self, key: str) -> Any:
        """A summary value by key (None when absent)."""
        for k, v in self.summary:
            if k == key:
                return v
        return None
