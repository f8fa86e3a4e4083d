"""The handshake probe's sample and vocabulary: variants, classifications and their meaning.

On the ground floor beside `wsmonitor.samples` so that the rules, the UI and replay read them
without importing the probe (and its websockets machinery); `wsmonitor.probes.handshake`
re-exports them. Importing this module registers `HandshakeSample` for replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wsmonitor.samples import Sample, register_sample_type

VARIANTS = ("token+origin", "no-token", "no-origin", "wrong-origin")
"""The handshake variants, in the order panes show them."""

PRIMARY_VARIANT = "token+origin"
"""What the browser does."""

HOLD_PROBE = "hold"
"""The probe that holds a ``token+origin`` socket open for the hold period (stays-open,
ping-pong, notification delivery), beside the fresh-socket probe of each variant."""

VARIANT_MEANING = {
    "token+origin": "token and the right Origin, as the browser sends them",
    "no-token": "the right Origin without a token: should be rejected by auth",
    "no-origin": "a token without an Origin header: should be rejected by origin validation",
    "wrong-origin": "a token with an Origin the service cannot allow: should be rejected",
}
"""One line per variant."""

WRONG_ORIGIN = "https://wsmonitor-wrong-origin.invalid"
"""The Origin of the ``wrong-origin`` variant: ``.invalid`` can never be in ALLOWED_HOSTS."""

CLASSIFICATIONS = (
    "ok", "forbidden", "connect-stalled", "unauthorized", "server-error", "bad-gateway",
    "gateway-timeout", "not-upgraded", "no-status-line", "timeout", "refused", "dns-error",
    "tls-error", "closed-after-accept",
)
"""SPEC's handshake outcome vocabulary; every sample's ``classification`` is one of these."""

MEANING = {
    "ok": "upgrade passed (101)",
    "forbidden": "403 at once: Origin rejected, or auth rejected before accept()",
    "connect-stalled": "failed 4-6 s after the request: Daphne's handshake timeout fired, "
                       "connect() hung (often on Redis)",
    "unauthorized": "401: a gateway or auth layer rejected the request",
    "server-error": "500/501/503: an exception in the handshake (often Redis down)",
    "bad-gateway": "502: the proxy cannot reach the app",
    "gateway-timeout": "504: the proxy timed out waiting for the app",
    "not-upgraded": "plain HTTP answered: a proxy dropped the Upgrade headers, or wrong path",
    "no-status-line": "closed (or garbage) before an HTTP status line: the platform or load "
                      "balancer cut the upgrade",
    "timeout": "nothing within the open timeout",
    "refused": "TCP connection refused: nothing listens there",
    "dns-error": "the host name did not resolve",
    "tls-error": "certificate or TLS failure",
    "closed-after-accept": "101, then closed during the hold",
}
"""What each classification usually means, in one line (SPEC's table)."""

STALL_MIN_S = 4.0
"""A 403, or a drop without a status line, this long after the request means connect() hung."""
STALL_MAX_S = 6.5
"""A drop without a status line later than this is not Daphne's timeout (autobahn's fires at
4-5 s, Daphne's own 403 at 5-6 s; the margin absorbs a loaded host)."""


@dataclass(frozen=True, slots=True)
class PhaseTimings:
    """Milliseconds per phase of one attempt; None for a phase not reached (or not used)."""

    dns: float | None = None
    """Name resolution (``getaddrinfo``)."""
    tcp: float | None = None
    """TCP connect."""
    tls: float | None = None
    """TLS handshake (None for ``ws://``)."""
    upgrade: float | None = None
    """Upgrade request sent → status line received."""
    first_message: float | None = None
    """101 received → first WebSocket message from the app (its ``connection.ack``)."""


@register_sample_type
@dataclass(frozen=True, slots=True)
class HandshakeSample(Sample):
    """One handshake attempt of one variant, with its hold-open when it got a 101.

    ``error_kind`` is the classification whenever ``ok`` is False.
    """

    variant: str = PRIMARY_VARIANT
    """``token+origin``, ``no-token``, ``no-origin`` or ``wrong-origin``."""
    classification: str = "timeout"
    """One of `CLASSIFICATIONS` (SPEC's vocabulary)."""
    url: str = ""
    """The URL probed, token masked."""
    origin: str | None = None
    """The Origin header sent (None: none sent)."""
    token_sent: bool = False
    """Whether a token went in ``?token=``."""
    token_source: str | None = None
    """``given`` (``--token``) or ``minted`` (``--jwt-secret``), when a token was sent."""
    address: str | None = None
    """The IP address and port connected to."""
    tls: bool = False
    """``wss://``."""
    phase: str = "dns"
    """The last phase reached: ``dns``, ``tcp``, ``tls``, ``upgrade``, ``hold`` or ``done``."""
    status: int | None = None
    """HTTP status of the answer."""
    reason: str | None = None
    """Its reason phrase (Daphne: ``Access denied`` for its 403)."""
    status_line: str | None = None
    """The raw first line received (also when it was garbage), redacted, at most 200 chars."""
    headers: tuple[tuple[str, str], ...] = ()
    """Response headers as (name, value) pairs, redacted."""
    server: str | None = None
    """The ``Server`` header (``daphne``, ``awselb/2.0``, ``nginx`` …)."""
    body_excerpt: str | None = None
    """The start of a non-101 answer's body, redacted."""
    elapsed_s: float | None = None
    """Seconds from the request sent to the answer, or to the drop (the stall clock)."""
    close_code: int | None = None
    """Close code when the server closed during the hold (1006: dropped without a frame)."""
    close_reason: str | None = None
    closed_by: str | None = None
    """``server`` (close frame), ``drop`` (no close frame) or ``client`` (end of hold)."""
    closed_at_s: float | None = None
    """Seconds after the 101 when it closed."""
    timings_ms: PhaseTimings = field(default_factory=PhaseTimings)
    hold_s: float = 0.0
    """The hold period asked for."""
    held_s: float | None = None
    """How long the socket stayed open after the 101."""
    ack_received: bool = False
    """The app sent ``{"type": "connection.ack"}``."""
    ping_rtt_ms: float | None = None
    """Round trip of the first protocol ping answered."""
    pings_sent: int = 0
    pongs_received: int = 0
    app_ping_sent: bool = False
    """Whether the app's ``{"type": "ping"}`` was sent."""
    app_pong_ms: float | None = None
    """``{"type":"ping"}`` → ``{"type":"pong"}`` round trip; None when not answered."""
    messages_received: int = 0
    notifications: int = 0
    """Messages that were neither the ack nor the pong."""
    message_types: tuple[str, ...] = ()
    """Distinct ``type`` values of the messages received (at most 8)."""
    hook_at_s: float | None = None
    """Seconds after the 101 when the ``on_open`` hook ran (a notification was sent)."""
    hook_error: str | None = None
    """What the hook raised, redacted."""
    first_notification_s: float | None = None
    """Seconds after the 101 when the first notification arrived (delivery latency is this
    less ``hook_at_s``)."""
    notification_seen_s: float | None = None
    """Seconds after the 101 when a frame carrying the hook's notification id arrived, in
    whatever shape the app forwarded it (None: none did)."""
    delivery_close_code: int | None = None
    """Close code when the socket was closed after the hold, while the hook's notification was
    awaited (1006: dropped): evidence about the notification, not about the hold."""
    delivery_closed_at_s: float | None = None
    """Seconds after the 101 when that close came."""
    last_rx_s: float | None = None
    """Seconds after the 101 when the server last sent anything (frame or pong) during the
    hold: with `closed_at_s`, how long the socket lived without traffic before a cut."""
    last_tx_s: float | None = None
    """Seconds after the 101 when the probe last sent anything (ping, app ping) during the
    hold."""
    interim: bool = False
    """Published at the 101 (once acknowledged), while the hold goes on: the handshake's
    figures are final, the hold's (held, pings, delivery) are not. The run's own sample, at
    the end of the hold, follows."""

    def __post_init__(self) -> None:
        # Replayed samples come back from JSON: rebuild the nested record and the pairs.
        if isinstance(self.timings_ms, dict):
            object.__setattr__(self, "timings_ms", PhaseTimings(**self.timings_ms))
        if self.headers and not isinstance(self.headers[0], tuple):
            object.__setattr__(self, "headers", tuple(tuple(p) for p in self.headers))

    @property
    def meaning(self) -> str:
        """What the classification usually means."""
        return MEANING.get(self.classification, "")
