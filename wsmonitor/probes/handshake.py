"""The handshake probe: WebSocket upgrades that say what went wrong, phase by phase.

Each attempt resolves the name itself, opens TCP itself, does TLS itself and writes the upgrade
request on the raw stream, so every phase gets its own clock and the raw status line is kept
even when the answer is not a 101. After a 101 the bytes go to websockets' sans-I/O
`ClientProtocol` (the same handshake validation and framing as ``websockets.connect``), and
the socket is held open for the hold period: ``connection.ack``, protocol ping, the app's
``{"type":"ping"}``, notifications and the close are recorded. A delivery hook (a
``group_send`` of wsmonitor's own) runs only once the hold has run its course, so that what it
causes never counts against the hold.

Four variants isolate the cause (Daphne answers Origin and auth rejections with the same 403):
``token+origin`` (what the browser does), ``no-token``, ``no-origin`` and ``wrong-origin``.
Each variant is its own probe, ``handshake:<variant>``, on a fresh socket at its own interval;
the held socket (a ``token+origin`` socket kept open for ``--hold``) is a probe of its own,
``hold``, so a fault that starts shows within one interval of its variant, not when a hold ends.

I/O only: no Textual here. Failures come back as samples; tokens never leave this module.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidURI
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Origin
from websockets.uri import parse_uri

from wsmonitor import __version__
from wsmonitor.probes._headers import shown_headers
# The sample and its vocabulary live on the ground floor (wsmonitor.samples_ws), where the
# rules, the UI and replay read them without importing this probe; re-exported here.
from wsmonitor.samples_ws import CLASSIFICATIONS, HOLD_PROBE, MEANING, PRIMARY_VARIANT, \
    STALL_MAX_S, STALL_MIN_S, VARIANT_MEANING, VARIANTS, WRONG_ORIGIN, HandshakeSample, \
    PhaseTimings
from wsmonitor.secrets import MASK, redact
from wsmonitor.tokens import TokenSource

DEFAULT_OPEN_TIMEOUT = 10.0
"""Seconds for DNS, TCP, TLS and the status line together; longer than Daphne's 5 s connect
timeout, so a stall shows as ``connect-stalled`` and not as ``timeout``."""
DEFAULT_HOLD = 30.0
"""Seconds the held socket (`HOLD_PROBE`) stays open after a 101 (SPEC's ``--hold``)."""
DEFAULT_SHORT_HOLD = 1.0
"""Seconds the fresh-socket variants are held after a 101: long enough to see an
accept-then-close(4401) consumer close them."""
DEFAULT_PING_INTERVAL = 10.0
"""Seconds between protocol pings during the hold (one is sent right after the 101)."""
ACK_WAIT = 1.0
"""The app's ``{"type":"ping"}`` goes after ``connection.ack``, or this long after the 101."""
CLOSE_TIMEOUT = 2.0
"""Seconds to wait for the server to finish a closing handshake."""
PRIMARY_MIN_INTERVAL = 5.0
"""Least seconds between two runs of the ``token+origin`` probe, and between the end of one
held socket and the start of the next."""
VARIANT_MIN_INTERVAL = 10.0
"""Least seconds between two runs of the other variants: each costs the service a little."""

_MAX_HEAD = 16 * 1024
_MAX_BODY_EXCERPT = 300
_MAX_LINE = 200
_MAX_MESSAGE_TYPES = 8
_STATUS_LINE = re.compile(r"^HTTP/(\d)\.(\d) (\d{3})(?: (.*))?$")
_USER_AGENT = f"wsmonitor/{__version__}"

OnOpen = Callable[..., Awaitable[object]]
"""A hook run on the held socket once its hold has run its course (see `probe_handshake`);
called with ``nonce=`` when it takes that keyword (the id the socket then looks for)."""
DELIVERY_WINDOW = 8.0
"""Most seconds the held socket stays open after its hold for the hook's notification: the
hook's own two channel-layer operations (3 s each at most) and some slack."""
DELIVERY_WAIT = 2.0
"""Seconds the socket waits for the notification once the hook has sent it."""
OnUpgrade = Callable[["HandshakeSample"], None]
"""Takes the interim sample of a held socket (see `probe_handshake`)."""
INTERIM_MIN_HOLD = 2.0
"""Holds at least this long publish an interim sample at the 101 (the held socket only)."""

log = logging.getLogger(__name__)


def classify_status(status: int, elapsed_s: float) -> str:
    """The classification of an HTTP answer to an upgrade request.

    Args:
        status: The status code.
        elapsed_s: Seconds from the request to the status line.
    """
    if status == 101:
        return "ok"
    if status == 403:
        return "connect-stalled" if elapsed_s >= STALL_MIN_S else "forbidden"
    if status == 401:
        return "unauthorized"
    if status in (500, 501, 503):
        return "server-error"
    if status == 502:
        return "bad-gateway"
    if status == 504:
        return "gateway-timeout"
    return "not-upgraded"


def classify_drop(elapsed_s: float) -> str:
    """The classification of a connection closed before a status line."""
    return "connect-stalled" if STALL_MIN_S <= elapsed_s <= STALL_MAX_S else "no-status-line"


def url_with_token(url: str, token: str | None) -> str:
    """The URL with ``?token=`` set to `token` (or removed when None); other params kept."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    if token is not None:
        query.append(("token", token))
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


class _Fail(Exception):
    """Ends an attempt with a classification (internal control flow, never escapes)."""

    def __init__(self, classification: str, message: str) -> None:
        super().__init__(message)
        self.classification = classification
        self.message = message


class _Attempt:
    """One attempt: its clocks, what it saw, and the sample it becomes."""

    def __init__(self, url: str, *, variant: str, origin: str | None, token: str | None,
                 token_source: str | None, hold: float, open_timeout: float,
                 ping_interval: float, app_ping: bool, ssl_context: ssl.SSLContext | None,
                 probe: str, on_open: OnOpen | None = None,
                 on_upgrade: OnUpgrade | None = None) -> None:
        self.url = url_with_token(url, token) if token is not None else url
        self.on_upgrade = on_upgrade
        self.started = time.perf_counter()
        self.token = token
        self.variant = variant
        self.origin = origin
        self.token_source = token_source if token else None
        self.hold = max(0.0, float(hold))
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.app_ping = app_ping
        self.on_open = on_open
        self.hook_task: asyncio.Task[object] | None = None
        self.ssl_context = ssl_context
        self.probe = probe
        self.wsuri = parse_uri(self.url)
        self.f: dict[str, Any] = {}
        self.timings: dict[str, float | None] = {}
        self.phase = "dns"
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None
        self.protocol: ClientProtocol | None = None
        # hold state
        self.t_open = 0.0
        self.pings: dict[bytes, float] = {}
        self.ping_rtts: list[float] = []
        self.app_ping_at: float | None = None
        self.partial: list[bytes] = []
        self.partial_text = False
        self.message_types: list[str] = []
        self.close_frame_at: float | None = None
        self.hold_error: str | None = None
        self.nonce = os.urandom(12).hex() if on_open is not None else None
        """The id the hook's notification carries; looked for in every frame received."""

    # --- helpers -----------------------------------------------------------------------------

    def clean(self, text: Any) -> str:
        """Redact, after masking this attempt's token by value (minted ones are unregistered)."""
        s = text if isinstance(text, str) else str(text)
        if self.token:
            s = s.replace(self.token, MASK)
        return redact(s)

    def remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Fail("timeout", f"nothing within the open timeout of {self.open_timeout:g} s "
                        f"(during {self.phase})")
        return left

    # --- the attempt -------------------------------------------------------------------------

    async def run(self) -> HandshakeSample:
        started = self.started = time.perf_counter()
        classification = "ok"
        error: str | None = None
        try:
            await self._open(time.monotonic() + self.open_timeout)
            classification = await self._hold()
            if classification != "ok":
                error = self.hold_error
        except _Fail as fail:
            classification, error = fail.classification, fail.message
        finally:
            await self._finish_hook()
            await self._close_transport()
        if classification == "ok":
            self.phase = "done"
        return self._sample(classification, error, started)

    async def _open(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.wsuri.host, self.wsuri.port
        # DNS (an IP literal needs none: the phase is None, as TLS is for ws://)
        infos = _literal_addrinfo(host, port)
        if infos is None:
            infos = await self._resolve(loop, host, port, deadline)
        if not infos:
            raise _Fail("dns-error", f"{host!r} resolves to no address")
        # TCP
        self.phase = "tcp"
        t0 = time.perf_counter()
        sock = await self._connect_tcp(loop, infos, deadline)
        self.timings["tcp"] = _ms(t0)
        # TLS (the stream is built on the connected socket, so the time is the TLS handshake)
        self.phase = "tls" if self.wsuri.secure else "upgrade"
        t0 = time.perf_counter()
        try:
            if self.wsuri.secure:
                ctx = self.ssl_context or ssl.create_default_context()
                left = self.remaining(deadline)
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(sock=sock, ssl=ctx, server_hostname=host,
                                            ssl_handshake_timeout=left, limit=_MAX_HEAD * 4),
                    left)
                self.timings["tls"] = _ms(t0)
            else:
                self.reader, self.writer = await asyncio.open_connection(sock=sock,
                                                                         limit=_MAX_HEAD * 4)
        except (TimeoutError, _Fail):
            sock.close()
            raise _Fail("timeout", f"the TLS handshake did not finish within the open timeout "
                        f"of {self.open_timeout:g} s") from None
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise _Fail("tls-error", "certificate verification failed "
                        f"({self.clean(exc.verify_message or exc.reason or exc)}): the server's "
                        "certificate is not trusted for this host (private CA: pass its bundle)")\
                from None
        except ssl.SSLError as exc:
            sock.close()
            raise _Fail("tls-error", f"TLS handshake failed ({self.clean(exc.reason or exc)})")\
                from None
        except ConnectionAbortedError as exc:
            sock.close()
            if "taking longer" in str(exc):
                raise _Fail("timeout", "the TLS handshake did not finish within the open "
                            f"timeout of {self.open_timeout:g} s") from None
            raise _Fail("tls-error", f"TLS handshake aborted ({self.clean(exc)})") from None
        except OSError as exc:
            sock.close()
            raise _Fail("tls-error", f"the connection failed during the TLS handshake "
                        f"({self.clean(_strerror(exc))})") from None
        # Upgrade
        self.phase = "upgrade"
        await self._upgrade(deadline)

    async def _resolve(self, loop: asyncio.AbstractEventLoop, host: str, port: int,
                       deadline: float) -> list[Any]:
        t0 = time.perf_counter()
        try:
            left = self.remaining(deadline)
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), left)
        except (TimeoutError, _Fail):
            raise _Fail("timeout", f"name resolution of {host!r} took longer than the open "
                        f"timeout of {self.open_timeout:g} s") from None
        except (socket.gaierror, UnicodeError) as exc:
            raise _Fail("dns-error", f"{host!r} does not resolve ({self.clean(_strerror(exc))})")\
                from None
        self.timings["dns"] = _ms(t0)
        return list(infos)

    async def _connect_tcp(self, loop: asyncio.AbstractEventLoop, infos: list[Any],
                           deadline: float) -> socket.socket:
        last: OSError | None = None
        for family, type_, proto, _, sockaddr in infos:
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
            try:
                left = self.remaining(deadline)
                await asyncio.wait_for(loop.sock_connect(sock, sockaddr), left)
            except TimeoutError:
                sock.close()
                raise _Fail("timeout", f"TCP connect to {_addr(sockaddr)} did not finish within "
                            f"the open timeout of {self.open_timeout:g} s") from None
            except _Fail:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                last = exc
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            self.f["address"] = _addr(sockaddr)
            return sock
        assert last is not None
        where = ", ".join(_addr(i[4]) for i in infos[:3])
        if isinstance(last, ConnectionRefusedError):
            raise _Fail("refused", f"connection refused by {where}: nothing listens on that "
                        "port")
        # Unreachable hosts and networks are no answer at all: closest to refused in SPEC's
        # vocabulary, and the message says which.
        raise _Fail("refused", f"cannot connect to {where} ({self.clean(_strerror(last))})")

    async def _upgrade(self, deadline: float) -> None:
        assert self.reader is not None and self.writer is not None
        extensions = [ClientPerMessageDeflateFactory()]
        protocol = ClientProtocol(self.wsuri, origin=Origin(self.origin) if self.origin else None,
                                  extensions=extensions)
        request = protocol.connect()
        request.headers["User-Agent"] = _USER_AGENT
        protocol.send_request(request)
        try:
            for chunk in protocol.data_to_send():
                self.writer.write(chunk)
            left = self.remaining(deadline)
            await asyncio.wait_for(self.writer.drain(), left)
        except (TimeoutError, _Fail):
            raise _Fail("timeout", "the upgrade request could not be sent within the open "
                        f"timeout of {self.open_timeout:g} s") from None
        except OSError as exc:
            raise _Fail("no-status-line", "the connection closed while the upgrade request was "
                        f"sent ({self.clean(_strerror(exc))})") from None
        sent = time.perf_counter()
        buf = bytearray()
        line_at: float | None = None
        head_end = -1
        eof = False
        read_error: str | None = None
        while True:
            if line_at is None and not _may_be_http(bytes(buf[:5])):
                break  # garbage: no need to wait for more
            if line_at is None and b"\n" in buf:
                line_at = time.perf_counter()
                if _STATUS_LINE.match(_first_line(buf)) is None:
                    break
            head_end = _head_end(buf)
            if head_end >= 0 or len(buf) > _MAX_HEAD:
                break
            try:
                left = self.remaining(deadline)
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except (TimeoutError, _Fail):
                chunk = None
            except OSError as exc:
                read_error = _strerror(exc)
                eof = True
                break
            if chunk is None:
                if line_at is None:
                    raise _Fail("timeout", "no answer to the upgrade request within the open "
                                f"timeout of {self.open_timeout:g} s")
                break  # status line seen, headers never finished: classify by the status
            if not chunk:
                eof = True
                break
            buf += chunk
        elapsed = time.perf_counter() - sent
        self.f["elapsed_s"] = round(elapsed, 4)
        if line_at is not None:
            self.timings["upgrade"] = (line_at - sent) * 1000
        line = _first_line(buf) if buf else None
        if line is not None:
            # Mask before cutting: a cut token no longer matches its own value.
            self.f["status_line"] = self.clean(_printable(line))[:_MAX_LINE]
        match = _STATUS_LINE.match(line) if line_at is not None and line is not None else None
        if match is None:
            if not buf:
                why = f"reset ({self.clean(read_error)})" if read_error else "closed"
                kind = classify_drop(elapsed)
                raise _Fail(kind, f"the connection was {why} {elapsed:.1f} s after the "
                            "upgrade request, with no HTTP status line")
            if eof and line_at is None and _may_be_http(bytes(buf[:5])):
                raise _Fail(classify_drop(elapsed), f"the connection closed {elapsed:.1f} s "
                            "after the request, in the middle of the status line")
            raise _Fail("no-status-line", "the answer is not HTTP (garbage instead of a status "
                        f"line, {len(buf)} bytes): not a web server, or a broken proxy")
        status = int(match.group(3))
        self.f["status"] = status
        self.f["reason"] = self.clean(match.group(4) or "")[:_MAX_LINE]
        elapsed_line = (line_at - sent) if line_at is not None else elapsed
        if head_end < 0:
            self._record_headers(bytes(buf))
            kind = classify_status(status, elapsed_line)
            raise _Fail(kind, f"HTTP {status}, then the headers never finished")
        headers = self._record_headers(bytes(buf[:head_end]))
        if status != 101:
            await self._record_body(bytes(buf[head_end:]), headers, deadline, eof)
            kind = classify_status(status, elapsed_line)
            raise _Fail(kind, self._status_message(status, kind, elapsed_line))
        # 101: the protocol validates the handshake and takes over the framing.
        self.protocol = protocol
        self.t_open = time.perf_counter()
        self.phase = "hold"
        protocol.receive_data(bytes(buf))
        events = protocol.events_received()
        if protocol.handshake_exc is not None:
            raise _Fail("not-upgraded", "101 Switching Protocols, but not a valid WebSocket "
                        f"handshake ({self.clean(protocol.handshake_exc)}): a proxy answered "
                        "for the app")
        self._handle(events)
        await self._flush()
        if eof:
            self._eof()

    def _record_headers(self, head: bytes) -> list[tuple[str, str]]:
        lines = head.decode("latin-1").split("\n")[1:]
        pairs: list[tuple[str, str]] = []
        for raw in lines:
            raw = raw.rstrip("\r")
            if not raw or ":" not in raw:
                continue
            name, _, value = raw.partition(":")
            name, value = name.strip(), value.strip()
            pairs.append((name, value))
        shown = shown_headers(pairs, self.clean)
        self.f["headers"] = shown
        for name, value in shown:
            if name.lower() == "server":
                self.f["server"] = value
        return pairs

    async def _record_body(self, start: bytes, headers: list[tuple[str, str]], deadline: float,
                           eof: bool) -> None:
        body = bytearray(start)
        length = next((v for n, v in headers if n.lower() == "content-length"), None)
        wanted = int(length) if length and length.isdigit() else 0
        if not eof and len(body) < min(wanted, _MAX_BODY_EXCERPT) and self.reader is not None:
            try:
                body += await asyncio.wait_for(self.reader.read(4096),
                                               min(0.5, max(0.0, deadline - time.monotonic())))
            except (TimeoutError, OSError):
                pass
        if body:
            text = bytes(body).decode("utf-8", "replace")
            excerpt = self.clean(_printable(" ".join(text.split())))
            self.f["body_excerpt"] = excerpt[:_MAX_BODY_EXCERPT]

    def _status_message(self, status: int, kind: str, elapsed: float) -> str:
        reason = self.f.get("reason") or ""
        head = f"HTTP {status} {reason}".rstrip()
        if kind == "connect-stalled":
            return (f"{head} after {elapsed:.1f} s: Daphne's handshake timeout fired because "
                    "connect() hung (often on Redis), not an auth rejection")
        return f"{head}: {MEANING[kind]}"

    # --- hold-open ---------------------------------------------------------------------------

    async def _hold(self) -> str:
        """Keep the socket for the hold period; the classification it ends with."""
        protocol, reader = self.protocol, self.reader
        assert protocol is not None and reader is not None
        end = self.t_open + self.hold
        next_ping = self.t_open
        while protocol.state is State.OPEN:
            now = time.perf_counter()
            if now >= end:
                break
            if now >= next_ping:
                self._send_ping()
                next_ping = now + self.ping_interval
            settled = self.f.get("ack_received") or now - self.t_open >= ACK_WAIT
            if settled and self.on_upgrade is not None:
                self._publish_interim()
            if self.app_ping and self.app_ping_at is None and settled:
                protocol.send_text(json.dumps({"type": "ping"}).encode())
                self.app_ping_at = time.perf_counter()
                self.f["app_ping_sent"] = True
            if not await self._flush():
                self._eof()
                break
            due = min(end, next_ping)
            waiting = self.app_ping and self.app_ping_at is None
            if waiting and not self.f.get("ack_received"):
                due = min(due, self.t_open + ACK_WAIT)
            await self._read_some(max(0.0, due - time.perf_counter()))
        if protocol.state is State.OPEN:
            # The hold ran its course: close politely, the socket stayed open.
            self.f["held_s"] = round(time.perf_counter() - self.t_open, 3)
            if self.on_open is not None and self.hold > 0:
                await self._deliver_after_hold()
                if protocol.state is not State.OPEN:
                    return "ok"
            self.f["closed_by"] = "client"
            self.f["closed_at_s"] = round(time.perf_counter() - self.t_open, 3)
            protocol.send_close(1000, "wsmonitor hold done")
            await self._flush()
            deadline = time.perf_counter() + CLOSE_TIMEOUT
            while protocol.state is not State.CLOSED and time.perf_counter() < deadline:
                await self._read_some(deadline - time.perf_counter())
            return "ok"
        # The server (or the network) ended it during the hold.
        deadline = time.perf_counter() + CLOSE_TIMEOUT
        while protocol.state is State.CLOSING and time.perf_counter() < deadline:
            await self._flush()
            await self._read_some(deadline - time.perf_counter())
        closed_at = self.close_frame_at or time.perf_counter()
        self.f["held_s"] = round(closed_at - self.t_open, 3)
        self.f["closed_at_s"] = self.f["held_s"]
        rcvd, sent = protocol.close_rcvd, protocol.close_sent
        if rcvd is not None and not (sent is not None and protocol.close_rcvd_then_sent is False):
            self.f["closed_by"] = "server"
            self.f["close_code"] = int(rcvd.code)
            self.f["close_reason"] = self.clean(rcvd.reason)[:_MAX_LINE]
        elif sent is not None:
            # We failed the connection: the server broke the protocol (hold_error says how).
            self.f["closed_by"] = "client"
            self.f["close_code"] = int(sent.code)
            self.f["close_reason"] = self.clean(sent.reason)[:_MAX_LINE]
        else:
            self.f["closed_by"] = "drop"
            self.f["close_code"] = 1006
            self.f["close_reason"] = ""
        code = self.f["close_code"]
        reason = f" ({self.f['close_reason']})" if self.f.get("close_reason") else ""
        how = {"server": "closed by the server", "client": "failed by the probe",
               "drop": "dropped without a close frame"}[self.f["closed_by"]]
        detail = f"; {self.hold_error}" if self.hold_error else ""
        self.hold_error = (f"101, then {how} after {self.f['held_s']:.2f} s with code "
                           f"{code}{reason}{detail}")
        return "closed-after-accept"

    # --- delivery, after the hold ------------------------------------------------------------

    async def _deliver_after_hold(self) -> None:
        """Run the hook (a ``group_send``) once the hold has run its course, and wait for its
        notification: the hold judged the socket while it only waited and pinged, so a close
        the notification causes (a consumer without a handler for its type closes 1011) is
        evidence about the notification alone (``delivery_close_code``)."""
        protocol = self.protocol
        assert protocol is not None and self.on_open is not None
        # A hold shorter than ACK_WAIT: let the consumer settle (join its group) first.
        while protocol.state is State.OPEN and not self.f.get("ack_received") \
                and time.perf_counter() < self.t_open + ACK_WAIT:
            await self._read_some(self.t_open + ACK_WAIT - time.perf_counter())
        if protocol.state is not State.OPEN:
            return
        start = time.perf_counter()
        self.f["hook_at_s"] = round(start - self.t_open, 4)
        task = self.hook_task = asyncio.create_task(self._call_hook())
        deadline = start + DELIVERY_WINDOW
        hook_over = False
        while protocol.state is State.OPEN and "notification_seen_s" not in self.f:
            now = time.perf_counter()
            if task.done() and not hook_over:
                hook_over = True
                if task.cancelled() or task.exception() is not None:
                    break  # nothing was sent: nothing to wait for
                deadline = min(deadline, now + DELIVERY_WAIT)
            if now >= deadline:
                break
            # Short reads while the hook runs, so its end is seen at once.
            await self._read_some(deadline - now if hook_over else min(deadline - now, 0.05))
        if protocol.state is not State.OPEN:
            self._record_delivery_close()

    async def _call_hook(self) -> object:
        assert self.on_open is not None
        try:
            takes_nonce = "nonce" in inspect.signature(self.on_open).parameters
        except (TypeError, ValueError):
            takes_nonce = False
        return await (self.on_open(nonce=self.nonce) if takes_nonce else self.on_open())

    def _record_delivery_close(self) -> None:
        protocol = self.protocol
        assert protocol is not None
        closed_at = self.close_frame_at or time.perf_counter()
        rcvd = protocol.close_rcvd
        self.f["delivery_close_code"] = int(rcvd.code) if rcvd is not None else 1006
        self.f["delivery_closed_at_s"] = round(closed_at - self.t_open, 3)
        self.f["closed_by"] = "server" if rcvd is not None else "drop"
        self.f["closed_at_s"] = self.f["delivery_closed_at_s"]

    def _send_ping(self) -> None:
        assert self.protocol is not None
        payload = os.urandom(4)
        self.pings[payload] = time.perf_counter()
        self.protocol.send_ping(payload)
        self.f["pings_sent"] = self.f.get("pings_sent", 0) + 1

    async def _read_some(self, timeout: float) -> None:
        assert self.reader is not None and self.protocol is not None
        try:
            data = await asyncio.wait_for(self.reader.read(65536), max(timeout, 0.0))
        except TimeoutError:
            return
        except OSError as exc:
            self.hold_error = f"connection error: {self.clean(_strerror(exc))}"
            data = b""
        if not data:
            self._eof()
            return
        self.f["last_rx_s"] = round(time.perf_counter() - self.t_open, 4)
        self.protocol.receive_data(data)
        self._handle(self.protocol.events_received())
        await self._flush()

    def _eof(self) -> None:
        assert self.protocol is not None
        if self.protocol.state is not State.CLOSED:
            self.protocol.receive_eof()
            self.protocol.data_to_send()

    async def _flush(self) -> bool:
        """Write what the protocol wants sent; False when the connection is gone."""
        assert self.protocol is not None and self.writer is not None
        try:
            for chunk in self.protocol.data_to_send():
                if chunk:
                    self.writer.write(chunk)
                    if self.protocol.state is State.OPEN:  # traffic, not the close
                        self.f["last_tx_s"] = round(time.perf_counter() - self.t_open, 4)
                elif self.writer.can_write_eof():
                    self.writer.write_eof()
            await asyncio.wait_for(self.writer.drain(), CLOSE_TIMEOUT)
        except (OSError, TimeoutError, RuntimeError) as exc:
            if self.hold_error is None:
                self.hold_error = f"write failed: {self.clean(_strerror(exc))}"
            return False
        return True

    def _handle(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Response):
                continue
            if not isinstance(event, Frame):
                continue
            op = event.opcode
            if op in (Opcode.TEXT, Opcode.BINARY):
                self.partial = [bytes(event.data)]
                self.partial_text = op is Opcode.TEXT
                if event.fin:
                    self._message()
            elif op is Opcode.CONT:
                self.partial.append(bytes(event.data))
                if event.fin:
                    self._message()
            elif op is Opcode.PONG:
                sent = self.pings.pop(bytes(event.data), None)
                if sent is not None:
                    self.ping_rtts.append((time.perf_counter() - sent) * 1000)
                    self.f["pongs_received"] = self.f.get("pongs_received", 0) + 1
            elif op is Opcode.CLOSE:
                self.close_frame_at = time.perf_counter()
        if self.protocol is not None and self.protocol.parser_exc is not None \
                and self.hold_error is None:
            self.hold_error = f"protocol error: {self.clean(self.protocol.parser_exc)}"

    def _message(self) -> None:
        data = b"".join(self.partial)
        self.partial = []
        now = time.perf_counter()
        count = self.f.get("messages_received", 0) + 1
        self.f["messages_received"] = count
        if count == 1:
            self.timings["first_message"] = (now - self.t_open) * 1000
        kind: str | None = None
        if self.partial_text:
            try:
                obj = json.loads(data)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and isinstance(obj.get("type"), str):
                kind = obj["type"]
        if kind is not None and kind not in self.message_types \
                and len(self.message_types) < _MAX_MESSAGE_TYPES:
            self.message_types.append(self.clean(kind)[:60])
        if self.nonce is not None and self.nonce.encode() in data:
            # The hook's notification, however the app's handler shaped it.
            self.f.setdefault("notification_seen_s", round(now - self.t_open, 4))
        if kind == "connection.ack":
            self.f["ack_received"] = True
        elif kind == "pong" and self.app_ping_at is not None and "app_pong_ms" not in self.f:
            self.f["app_pong_ms"] = (now - self.app_ping_at) * 1000
        else:
            self.f["notifications"] = self.f.get("notifications", 0) + 1
            self.f.setdefault("first_notification_s", round(now - self.t_open, 4))

    async def _finish_hook(self) -> None:
        task, self.hook_task = self.hook_task, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            self.f["hook_error"] = ("the hook did not finish within the delivery window after "
                                    "the hold")
        except Exception as exc:  # noqa: BLE001 - the hook's failure is data
            self.f["hook_error"] = self.clean(f"{type(exc).__name__}: {exc}")[:_MAX_LINE]

    async def _close_transport(self) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        try:
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (OSError, TimeoutError, ssl.SSLError, RuntimeError):
            pass

    # --- the sample --------------------------------------------------------------------------

    def _publish_interim(self) -> None:
        """Hand the handshake's result on at once, before the hold ends (once per attempt)."""
        hook, self.on_upgrade = self.on_upgrade, None
        assert hook is not None
        try:
            hook(replace(self._sample("ok", None, self.started), interim=True,
                         held_s=round(time.perf_counter() - self.t_open, 3)))
        except Exception:  # noqa: BLE001 - a subscriber's fault must not end the hold
            log.exception("publishing the interim handshake sample failed")

    def _sample(self, classification: str, error: str | None, started: float) -> HandshakeSample:
        ok = classification == "ok"
        timings = PhaseTimings(**{k: None if v is None else round(v, 3)
                                  for k, v in self.timings.items()})
        shown_url = self.clean(url_with_token(self.url, MASK) if self.token else self.url)
        return HandshakeSample(
            probe=self.probe, at=time.time(), ok=ok,
            error=None if ok else self.clean(error or MEANING[classification]),
            error_kind=None if ok else classification,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            variant=self.variant, classification=classification, url=shown_url,
            origin=self.clean(self.origin) if self.origin else None,
            token_sent=self.token is not None, token_source=self.token_source,
            tls=self.wsuri.secure, phase=self.phase, timings_ms=timings, hold_s=self.hold,
            ping_rtt_ms=round(self.ping_rtts[0], 3) if self.ping_rtts else None,
            message_types=tuple(self.message_types),
            **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.f.items()},
        )


async def probe_handshake(url: str, *, variant: str = PRIMARY_VARIANT, origin: str | None = None,
                          token: str | None = None, token_source: str | None = "given",
                          hold: float = 0.0, open_timeout: float = DEFAULT_OPEN_TIMEOUT,
                          ping_interval: float = DEFAULT_PING_INTERVAL, app_ping: bool = True,
                          ca_file: str | None = None, ssl_context: ssl.SSLContext | None = None,
                          probe: str | None = None,
                          on_open: OnOpen | None = None,
                          on_upgrade: OnUpgrade | None = None) -> HandshakeSample:
    """One handshake attempt, exactly as given (no variant logic): the building block.

    Args:
        url: ``ws://`` or ``wss://`` endpoint (any ``token`` query parameter is replaced).
        variant: The variant name written into the sample.
        origin: Origin header to send; None sends none.
        token: Put in ``?token=``; None sends no token.
        token_source: ``given`` or ``minted``, recorded when a token is sent.
        hold: Seconds to hold the socket after a 101 (0: close at once).
        open_timeout: Seconds for DNS, TCP, TLS and the status line together.
        ping_interval: Seconds between protocol pings during the hold.
        app_ping: Send the app's ``{"type": "ping"}`` during the hold.
        ca_file: CA bundle to verify ``wss://`` against (a private CA).
        ssl_context: A ready TLS context (wins over ``ca_file``).
        probe: The sample's ``probe`` name (default ``handshake:<variant>``).
        on_open: Awaited as a task once the hold has run its course (the socket still open,
            and acknowledged or `ACK_WAIT` after the 101): e.g. a channel-layer ``group_send``
            whose notification the sample then times and recognises by the ``nonce=`` it is
            given. The socket waits for it up to `DELIVERY_WINDOW`; a close meanwhile is
            ``delivery_close_code``, not a failed hold. Cancelled when that window ends.
        on_upgrade: Called once the socket is open and acknowledged (or `ACK_WAIT` after the
            101), with an ``interim`` sample: a held socket's handshake is known long before
            its hold ends.
    """
    if ssl_context is None and ca_file:
        ssl_context = ssl.create_default_context(cafile=ca_file)
    try:
        attempt = _Attempt(url, variant=variant, origin=origin, token=token,
                           token_source=token_source, hold=hold, open_timeout=open_timeout,
                           ping_interval=ping_interval, app_ping=app_ping,
                           ssl_context=ssl_context, probe=probe or f"handshake:{variant}",
                           on_open=on_open, on_upgrade=on_upgrade)
    except InvalidURI:
        # websockets' message echoes the URL, token included.
        shown = redact(url.replace(token, MASK) if token else url)
        raise ValueError(f"not a ws:// or wss:// URL: {shown!r}") from None
    return await attempt.run()


class HandshakeProbe:
    """One handshake variant, as an engine probe named ``handshake:<variant>``.

    Args:
        url: The WebSocket endpoint (``--url``).
        variant: One of `VARIANTS`.
        origin: The right Origin (``Settings.effective_origin``); what each variant sends is
            derived from it.
        tokens: Where tokens come from (a fresh minted one per run, or the given one).
        hold: Seconds to hold after a 101 (default 1: a fresh-socket probe; `HeldSocketProbe`
            holds for ``--hold``).
        open_timeout: Seconds for DNS, TCP, TLS and the status line together.
        ping_interval: Seconds between protocol pings during the hold.
        ca_file: CA bundle for ``wss://`` (a private CA).
        min_interval: Least seconds between runs (default 5 for ``token+origin``, 10 else).
        wrong_origin: The Origin the ``wrong-origin`` variant sends.
        on_open: Hook run during the hold (see `probe_handshake`); the held socket's only
            (`wire_delivery`), and never in kiosk mode when it writes to Redis.
    """

    def __init__(self, url: str, *, variant: str = PRIMARY_VARIANT, origin: str | None = None,
                 tokens: TokenSource | None = None, hold: float | None = None,
                 open_timeout: float = DEFAULT_OPEN_TIMEOUT,
                 ping_interval: float = DEFAULT_PING_INTERVAL, ca_file: str | None = None,
                 min_interval: float | None = None, wrong_origin: str = WRONG_ORIGIN,
                 on_open: OnOpen | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown handshake variant {variant!r}: use one of "
                             f"{', '.join(VARIANTS)}")
        primary = variant == PRIMARY_VARIANT
        try:
            parse_uri(url)
        except InvalidURI:
            # websockets' message echoes the URL, token included.
            raise ValueError(f"not a ws:// or wss:// URL: {redact(url)!r}") from None
        # A token written into --url must not reach the no-token variant.
        self.url = url_with_token(url, None) if variant == "no-token" else url
        self.variant = variant
        self.name = f"handshake:{variant}"
        self.tokens = tokens or TokenSource()
        self.hold = DEFAULT_SHORT_HOLD if hold is None else hold
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.min_interval = (PRIMARY_MIN_INTERVAL if primary else VARIANT_MIN_INTERVAL) \
            if min_interval is None else min_interval
        self.origin = {"token+origin": origin, "no-token": origin, "no-origin": None,
                       "wrong-origin": wrong_origin}[variant]
        self.sends_token = variant != "no-token"
        self.on_open = on_open
        self.backoff_intervals: float | None = 1.0 if primary else None
        """``token+origin`` never backs off beyond its interval (5 s): the banner confirms a
        verdict, and sees a fault end, on its samples. The engine's cap for the others."""
        self.publish_interim: OnUpgrade | None = None
        """Set by the engine (its ``publish``): the held socket's handshake is shown at the
        101, not only when the hold ends (`HeldSocketProbe`)."""
        self.timeout = open_timeout + self.hold + 2 * CLOSE_TIMEOUT + 3
        """Longest a run may take, seconds (the hold included)."""
        self._ssl_context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def interval(self, base: float) -> float:
        """Seconds between runs: the base, never under the variant's minimum."""
        return max(base, self.min_interval)

    async def run(self) -> HandshakeSample:
        """One attempt of this variant (with a fresh token when minting)."""
        token = self.tokens.get() if self.sends_token else None
        return await probe_handshake(
            self.url, variant=self.variant, origin=self.origin, token=token,
            token_source=self.tokens.kind, hold=self.hold, open_timeout=self.open_timeout,
            ping_interval=self.ping_interval, ssl_context=self._ssl_context, probe=self.name,
            on_open=self.on_open)

    async def close(self) -> None:
        """Nothing to release: every run opens and closes its own socket."""


class HeldSocketProbe(HandshakeProbe):
    """The held socket, as an engine probe of its own named ``hold``: a ``token+origin``
    handshake held open for the hold period (stays-open, ping-pong, notification delivery).

    It runs beside the fresh-socket variant probes, so a hold never delays a handshake: each
    variant keeps its own interval, and this probe starts its next socket one interval after
    its hold ends. Its handshake is published at the 101 as an ``interim`` sample.

    Args: as `HandshakeProbe` (the variant is ``token+origin``; ``hold`` is ``--hold``).
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        kwargs.setdefault("hold", DEFAULT_HOLD)
        super().__init__(url, variant=PRIMARY_VARIANT, **kwargs)
        self.name = HOLD_PROBE
        self.backoff_intervals = None
        self.timeout += ACK_WAIT + DELIVERY_WINDOW
        """The hold, and the delivery after it (`wire_delivery` may add the hook later)."""

    async def run(self) -> HandshakeSample:
        """One held socket (with a fresh token when minting)."""
        token = self.tokens.get()
        return await probe_handshake(
            self.url, variant=self.variant, origin=self.origin, token=token,
            token_source=self.tokens.kind, hold=self.hold, open_timeout=self.open_timeout,
            ping_interval=self.ping_interval, ssl_context=self._ssl_context, probe=self.name,
            on_open=self.on_open,
            on_upgrade=self.publish_interim if self.hold >= INTERIM_MIN_HOLD else None)


def handshake_probes(settings: Any, *, hold: float = DEFAULT_HOLD,
                     short_hold: float = DEFAULT_SHORT_HOLD,
                     open_timeout: float = DEFAULT_OPEN_TIMEOUT, ca_file: str | None = None,
                     tokens: TokenSource | None = None,
                     variants: tuple[str, ...] = VARIANTS,
                     held: bool = True) -> list[HandshakeProbe]:
    """The variant probes for `wsmonitor.config.Settings` (``url`` must be set), each on a
    fresh socket, and the held socket (`HeldSocketProbe`) as a probe of its own.

    Args:
        settings: Needs ``url``, ``effective_origin``, ``token``, ``jwt_secret``,
            ``jwt_user_id``.
        hold: ``--hold``: how long the held socket stays open.
        short_hold: Hold of the fresh-socket variants after a 101 (long enough to see an
            accept-then-close(4401) consumer close them).
        open_timeout: Seconds for DNS, TCP, TLS and the status line together.
        ca_file: CA bundle for ``wss://``.
        tokens: Token source (default: from the settings).
        variants: Which variants to make.
        held: Also make the held-socket probe (named `HOLD_PROBE`).
    """
    if not settings.url:
        raise ValueError("no --url: the handshake probes need the WebSocket endpoint")
    tokens = tokens or TokenSource.from_settings(settings)
    probes = [HandshakeProbe(settings.url, variant=v, origin=settings.effective_origin,
                             tokens=tokens, hold=short_hold, open_timeout=open_timeout,
                             ca_file=ca_file)
              for v in variants]
    if held:
        probes.append(HeldSocketProbe(settings.url, origin=settings.effective_origin,
                                      tokens=tokens, hold=hold, open_timeout=open_timeout,
                                      ca_file=ca_file))
    return probes


def _literal_addrinfo(host: str, port: int) -> list[Any] | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if ip.version == 6:
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                 (str(ip), port, 0, 0))]
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(ip), port))]


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _addr(sockaddr: Any) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _strerror(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _may_be_http(start: bytes) -> bool:
    return b"HTTP/".startswith(start) if len(start) < 5 else start == b"HTTP/"


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _first_line(buf: bytes | bytearray) -> str:
    line = bytes(buf).split(b"\n", 1)[0].rstrip(b"\r")
    return line.decode("latin-1")


def _head_end(buf: bytes | bytearray) -> int:
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = buf.find(sep)
        if i >= 0:
            return i + len(sep)
    return -1
