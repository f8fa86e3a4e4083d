"""The handshake pane: a row per variant, recent outcomes over time, phase timings, the held
socket, the HTTP endpoints, and what the browser saw of the page's own socket.

The browser's view is a section here rather than a pane of its own: it answers the same
question as the rows above it (does the socket open, and if not what refused it) from the
client's side, so the two are read together; and the grid of four panes keeps its layout
(the section is hidden without ``--page-url``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from wsmonitor.rules.websocket import attempts
from wsmonitor.rules.platform import platform_of
from wsmonitor.samples_ws import HOLD_PROBE, PRIMARY_VARIANT, VARIANTS, HandshakeSample
from wsmonitor.samples_http import HttpSample
from wsmonitor.samples import Sample
from wsmonitor.samples_browser import BrowserSample
from wsmonitor.ui.format import age_text, freshness, interval_text, set_text

STRIP = 16
"""Recent outcomes drawn per variant."""

LETTER = {
    "ok": "●", "forbidden": "F", "connect-stalled": "S", "unauthorized": "U",
    "server-error": "5", "bad-gateway": "B", "gateway-timeout": "G", "not-upgraded": "H",
    "no-status-line": "N", "timeout": "T", "refused": "R", "dns-error": "D", "tls-error": "L",
    "closed-after-accept": "C",
}
"""One character per classification, for the strip of recent outcomes (legend in ``?``)."""

REJECTED = frozenset({"forbidden", "unauthorized"})

SHORT_ENDPOINT = {"redis-health": "health", "ws-diagnostic": "diagnostic"}
"""HTTP endpoint names in a narrow pane."""


def expected(variant: str, s: HandshakeSample) -> bool:
    """Whether the outcome is what a healthy service gives this variant."""
    if variant == PRIMARY_VARIANT:
        return s.classification == "ok"
    return s.classification in REJECTED or (
        s.classification == "closed-after-accept" and s.close_code == 4401)


def cadence_text(state: HandshakePaneState) -> str:
    """The true cadence of the pane's probes: each fresh handshake's interval, and the held
    socket's (its hold included)."""
    parts = []
    fresh, others = state.interval, state.variant_interval
    if fresh is not None and others == fresh:
        parts.append(f"handshakes every {interval_text(fresh)}")
    else:
        if fresh is not None:
            parts.append(f"{PRIMARY_VARIANT} every {interval_text(fresh)}")
        if others is not None:
            parts.append(f"variants every {interval_text(others)}")
    if state.hold_interval is not None:
        parts.append(f"hold every {interval_text(state.hold_interval)}")
    return " · ".join(parts) or "no handshake probe"


def _ms(value: float | None) -> str:
    if value is None:
        return "    —"
    return f"{value:5.1f}" if value < 1000 else f"{value / 1000:4.1f}s"


@dataclass(frozen=True, slots=True)
class HandshakePaneState:
    """What the pane shows."""

    history: Mapping[str, Sequence[Sample]]
    endpoint: str
    """The WebSocket URL, redacted."""
    interval: float | None
    """Seconds between two fresh ``token+origin`` handshakes."""
    stale_after: float
    paused: bool
    now: float
    variant_interval: float | None = None
    """Seconds between two handshakes of each other variant."""
    hold_interval: float | None = None
    """Seconds between the starts of two held sockets (the hold included)."""
    failing: bool = False
    """The verdict has a WebSocket check failing (the pane does not judge on its own)."""


class HandshakePane(Vertical, can_focus=True):
    """Handshakes as the browser (and three variants) see them."""

    ALLOW_MAXIMIZE = True
    DEFAULT_CSS = """
    HandshakePane > Static { height: auto; }
    HandshakePane > #hs-rows { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    _state: HandshakePaneState | None = None

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first handshake…", id="hs-rows")
        yield Static("", id="hs-hold")
        yield Static("", id="hs-http")
        browser = Static("", id="hs-browser")
        browser.display = False  # shown once the browser probe has a sample (--page-url)
        yield browser
        yield Static("", id="hs-front")  # shown once the front or the app server is known

    def on_mount(self) -> None:
        self.border_title = "WebSocket"

    def on_resize(self) -> None:
        if self._state is not None:
            self.show(self._state)

    def show(self, state: HandshakePaneState) -> None:
        """Redraw from a state, with as many columns as the pane's width holds."""
        self._state = state
        title = f"WebSocket · {escape(state.endpoint)}"
        if title != self.border_title:
            self.border_title = title
        width = self.content_size.width or 200
        short = not self.screen.has_class("-tall")
        rows: list[str] = []
        newest: float | None = None
        table: list[tuple[str, HandshakeSample | None, list[HandshakeSample]]] = []
        for variant in VARIANTS:
            samples = attempts(state.history.get(f"handshake:{variant}", ()))
            table.append((variant, samples[-1] if samples else None, samples))
        outcome_width = max((len(s.classification) for _, s, _ in table if s), default=9)
        columns, strip = _columns(width, outcome_width)
        if short:  # no header row to name the timings: status and recent outcomes only
            columns = [c for c in columns if c in ("status", "recent")]
        else:
            rows.append("[b]" + _header(columns, outcome_width) + "[/]")
        probed = any(k.startswith("handshake:") for k in state.history)
        for variant, s, samples in table:
            if not probed:
                rows = ["[$text-muted]server-side handshakes not probed: give --url[/]"]
                break
            if s is None:
                rows.append(f"  {variant:<13} [$text-muted]waiting…[/]")
                continue
            newest = max(newest or 0.0, s.at)
            rows.append(_row(variant, s, samples, columns, outcome_width, strip))
        p = attempts(state.history.get(f"handshake:{PRIMARY_VARIANT}", ()))
        if p and not (short and expected(PRIMARY_VARIANT, p[-1])):
            last = p[-1]
            meaning = escape(last.meaning if hasattr(last, "meaning") else "")
            rows.append(f"[$text-muted]{PRIMARY_VARIANT}: {meaning}[/]")
        set_text(self.query_one("#hs-rows", Static), "\n".join(rows))
        held = attempts(state.history.get(HOLD_PROBE, ())) if HOLD_PROBE in state.history \
            else p
        set_text(self.query_one("#hs-hold", Static),
                 self._hold_line(held, width) if probed else "")
        set_text(self.query_one("#hs-http", Static), self._http_line(state, width))
        browser = self.query_one("#hs-browser", Static)
        text = browser_lines(state.history.get("browser", ()), state.now, width)
        browser.display = bool(text)
        set_text(browser, text)
        # A short screen keeps its rows for the variants and the panes below.
        front = "" if short else front_line(state)
        widget = self.query_one("#hs-front", Static)
        set_text(widget, front)
        if widget.display != bool(front):
            widget.display = bool(front)
        self.set_class(state.failing, "-failing")
        self._subtitle(newest, state)

    def _subtitle(self, newest: float | None, state: HandshakePaneState) -> None:
        cadence = cadence_text(state)
        fresh, stale = freshness(None if newest is None else state.now - newest,
                                 state.stale_after, state.paused)
        subtitle = f"{fresh or 'no handshake yet'} · {cadence}"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
        self.set_class(stale, "-stale")

    @staticmethod
    def _hold_line(p: Sequence[HandshakeSample], width: int = 200) -> str:
        if not p:
            return "[b]hold[/]  [$text-muted]waiting for the first held socket[/]"
        s = p[-1]
        if s.interim:
            # A socket is being held: show the last finished hold, if there is one.
            finished = [x for x in p[:-1] if x.classification in ("ok", "closed-after-accept")]
            if not finished or finished[-1] is not p[-2]:
                ack = "ack ✔" if s.ack_received else "ack ✖"
                return (f"[b]hold[/]  [$success]101[/] · holding for {s.hold_s:.0f} s · {ack}"
                        " [$text-muted]· pings and notifications when the hold ends[/]")
            s = finished[-1]
        if s.classification not in ("ok", "closed-after-accept"):
            return f"[b]hold[/]  [$text-muted]no socket to hold ({s.classification})[/]"
        if s.classification == "closed-after-accept":
            head = (f"[$error]closed {s.close_code} after {s.closed_at_s or 0:.1f} s[/]"
                    + (f" ({escape(s.close_reason)})" if s.close_reason else ""))
        else:
            head = f"[$success]open {s.held_s or 0:.1f} s of {s.hold_s:.0f} s[/]"
        ack = "ack ✔" if s.ack_received else "ack ✖"
        ping = (f"ping {s.ping_rtt_ms:.1f} ms ({s.pongs_received}/{s.pings_sent})"
                if s.ping_rtt_ms is not None else f"ping {s.pongs_received}/{s.pings_sent}")
        app = (f"app pong {s.app_pong_ms:.1f} ms" if s.app_pong_ms is not None else
               "app pong ✖" if s.app_ping_sent else "app ping not sent")
        first = f"first message {s.timings_ms.first_message:.1f} ms" \
            if s.timings_ms.first_message is not None else "no message"
        parts = [head, ack, ping, app, f"{s.notifications} notification(s)", first]
        if width < 90:  # the least telling part goes first
            parts.pop()
        return "[b]hold[/]  " + " · ".join(parts)

    @staticmethod
    def _http_line(state: HandshakePaneState, width: int = 200) -> str:
        parts = []
        for endpoint in ("redis-health", "ws-diagnostic", "polling"):
            samples = state.history.get(f"http:{endpoint}", ())
            if not samples or not isinstance(samples[-1], HttpSample):
                continue
            s = samples[-1]
            mark = "[$success]✔[/]" if s.ok else "[$error]✖[/]"
            what = str(s.status) if s.status else escape(s.error_kind or "error")
            if s.healthy is False:
                what += " unhealthy"
            name = endpoint if width >= 60 else SHORT_ENDPOINT.get(endpoint, endpoint)
            parts.append(f"{mark} {name} {what}")
        if not parts:
            return ""
        return "[b]http[/]  " + "  ".join(parts)


def browser_lines(samples: Sequence[Sample], now: float, width: int = 200) -> str:
    """The browser section: the newest load's socket outcome, the page's origin, polling, and
    what blocked the socket (empty without the browser probe)."""
    if not samples:
        return ""
    s = samples[-1]
    age = f"[$text-muted]{age_text(now - s.at)} ago[/]"
    if not isinstance(s, BrowserSample) or s.error_kind == "no-chromium" or (
            not s.page_url and s.error):
        kind = s.error_kind or "error"
        text = "Chromium not installed (apt-get install chromium, or --chromium PATH)" \
            if kind == "no-chromium" else (s.error or kind)
        return f"[b]browser[/]  [$text-muted]{escape(text[:max(20, width - 12)])}[/] · {age}"
    mark = "[$success]✔[/]" if s.ok else "[$error]✖[/]"
    if s.navigation_error:
        what = f"page did not load: {s.navigation_error}"
    elif s.blocked:
        what = f"blocked ({s.blocked[0].kind})"
    elif s.sockets:
        last = s.sockets[-1]
        what = last.outcome + (f" ({len(s.sockets)} sockets)" if len(s.sockets) > 1 else "")
    else:
        what = "no WebSocket opened"
    parts = [f"{mark} {escape(what)}", f"origin {escape(s.page_origin or '?')}"]
    if s.polling_requests:
        parts.append(f"[$warning]polling {s.polling_requests}×[/]")
    parts.append(age)
    lines = ["[b]browser[/]  " + " · ".join(parts)]
    if not s.ok:
        detail = s.blocked[0].text if s.blocked else (
            s.sockets[-1].error or "" if s.sockets else "")
        room = max(20, 2 * width - 6)  # two lines at most
        if detail:
            detail = detail if len(detail) <= room else detail[:room - 1] + "…"
            lines.append(f"[$text-muted]  {escape(detail)}[/]")
    return "\n".join(lines)
def front_line(state: HandshakePaneState) -> str:
    """``front: nginx · app: daphne``: what answers in front of the app (empty while nothing
    is known)."""
    try:
        host = urlsplit(state.endpoint).hostname
    except ValueError:
        host = None
    pf = platform_of(state.history, host, state.now)
    if pf.front == "unknown" and pf.app_server == "unknown":
        return ""
    return f"[$text-muted]{escape(pf.line)}[/]"


COLUMNS: tuple[tuple[str, int], ...] = (
    ("status", 8), ("upgrade", 7), ("recent", 6), ("tcp", 6), ("dns", 6), ("tls", 6),
)
"""Optional columns of the variant table, most telling first, with their widths ("recent"
takes what is left, up to `STRIP` outcomes)."""

COLUMN_ORDER = ("status", "dns", "tcp", "tls", "upgrade", "recent")
"""The order the chosen columns are drawn in."""


def _columns(width: int, outcome_width: int) -> tuple[list[str], int]:
    """The optional columns that fit in ``width`` beside mark, variant and outcome, and how
    many recent outcomes the strip has room for."""
    room = width - (2 + 13 + 1 + outcome_width + 1)
    chosen: list[str] = []
    for key, need in COLUMNS:
        if room >= need:
            chosen.append(key)
            room -= need
    strip = min(STRIP, 4 + room) if "recent" in chosen else 0
    return [k for k in COLUMN_ORDER if k in chosen], strip


def _header(columns: Sequence[str], outcome_width: int) -> str:
    head = f"  {'variant':<13} {'outcome':<{outcome_width}} "
    for key in columns:
        head += {"status": f"{'status':<8}", "dns": f"{'dns':>5} ", "tcp": f"{'tcp':>5} ",
                 "tls": f"{'tls':>5} ", "upgrade": "upgr ms", "recent": "  recent"}[key]
    return head.rstrip()


def _row(variant: str, s: HandshakeSample, samples: Sequence[HandshakeSample],
         columns: Sequence[str], outcome_width: int, strip: int = STRIP) -> str:
    good = expected(variant, s)
    mark = "[$success]✔[/]" if good else "[$error]✖[/]"
    if variant != PRIMARY_VARIANT and s.classification in ("ok",):
        mark = "[$warning]▲[/]"
    row = f"{mark} {variant:<13} {s.classification:<{outcome_width}} "
    t = s.timings_ms
    for key in columns:
        if key == "status":
            status = str(s.status) if s.status is not None else "—"
            if s.close_code is not None and s.classification == "closed-after-accept":
                status = f"101→{s.close_code}"
            row += f"{status:<8}"
        elif key in ("dns", "tcp", "tls"):
            row += f"{_ms(getattr(t, key))} "
        elif key == "upgrade":
            row += f"{_ms(t.upgrade)}  "
        elif key == "recent":
            row += "  " + "".join(
                f"[{'$success' if expected(variant, x) else '$error'}]"
                f"{LETTER.get(x.classification, '?')}[/]" for x in samples[-strip:])
    return row.rstrip()
