"""The demo service: the runbook's notification stack on ``websockets``, without Django.

One loopback port serves what Daphne serves for a Django Channels app:

- ``/ws/notifications/``: the WebSocket consumer behind ``AllowedHostsOriginValidator`` and a
  ``?token=`` JWT middleware — a bad Origin or no valid token gets Daphne's ``403 Access
  denied`` before ``accept()``; then ``group_add`` on the channel layer, ``accept()``,
  ``{"type": "connection.ack"}``, ``{"type":"ping"}`` → ``{"type":"pong"}``, and every
  ``notify`` event of the user's group (``notifications.user.<id>``) forwarded to the socket;
- ``/api/redis-health/`` (open), ``/api/ws-diagnostic/`` and ``/api/notifications/`` (Bearer
  token), with the runbook's JSON;
- a notification to every connected user every few seconds, sent through the channel layer.

Before a 101 everything runs in ``process_request`` (websockets answers the upgrade only
after it), so the consumer's ``connect()`` can still answer 403 or 500, stall, or let the
platform cut the connection. Faults are read from the set the stack owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from wsmonitor.demo.layer import SMOKE_TIMEOUT, smoke
from wsmonitor.demo.logbook import DemoLog
from wsmonitor.tokens import TokenError, verify_token

WS_PATH = "/ws/notifications/"
"""The runbook's WebSocket route."""

ALLOWED_HOSTS = ("127.0.0.1", "localhost")
"""The demo's ALLOWED_HOSTS (the Origin's host must be one of them)."""

WRONG_ALLOWED_HOSTS = ("app.example.com",)
"""ALLOWED_HOSTS under the ``origin-rejected`` fault: the demo's own host is missing."""

USERS = {"1": "demo"}
"""The demo's users by id: tokens for anyone else are rejected (simplejwt's user lookup)."""

NOTIFY_EVERY = 3.0
"""Seconds between the notifications sent to every connected user."""

STALL_S = 5.0
"""How long ``connect()`` hangs under ``consumer-stall`` before Daphne drops the handshake."""

GATEWAY_WAIT_S = 1.0
"""How long the gateway "waits" before its 504 under ``gateway-timeout``."""

CONNECT_TIMEOUT = 3.0
"""Seconds ``group_add`` may take in ``connect()``."""

CLOSED = "demo.socket_closed"
"""The message a closed socket's channel gets, to end its receive loop."""

_NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>"
              b"502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
              b"</html>\r\n")
_GATEWAY_504 = b'{"message": "Endpoint request timed out"}'


def origin_allowed(origin: str | None, allowed: Collection[str]) -> bool:
    """Django's ``AllowedHostsOriginValidator``: the Origin's host (port ignored) must match
    an ALLOWED_HOSTS pattern (``*``, ``.example.com`` for a domain and its subdomains, or the
    exact host)."""
    if not origin:
        return False
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    if not host:
        return False
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:]):
            return True
    return False


def _response(status: int, reason: str, body: bytes = b"",
              content_type: str | None = None, **headers: str) -> Response:
    h = Headers()
    if content_type:
        h["Content-Type"] = content_type
    for name, value in headers.items():
        h[name.replace("_", "-")] = value
    h["Content-Length"] = str(len(body))
    h["Connection"] = "close"  # websockets closes the connection after any non-101 answer
    return Response(status, reason, h, body)


def _json(status: int, reason: str, data: Any, **headers: str) -> Response:
    body = json.dumps(data).encode()
    return _response(status, reason, body, "application/json", **headers)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class DemoService:
    """The WebSocket and HTTP service of the demo.

    Args:
        layer: The channel layer (see `wsmonitor.demo.layer`).
        log: Where the service logs.
        secret: The JWT signing key (the demo's own ``SECRET_KEY``).
        faults: The stack's fault names in force (read, never changed, here).
        redis_url: The Redis the service uses (for its fresh connections).
        notify_every: Seconds between notifications.
    """

    def __init__(self, layer: Any, log: DemoLog, secret: str, faults: Collection[str], *,
                 redis_url: str, notify_every: float = NOTIFY_EVERY) -> None:
        self.layer = layer
        self.log = log
        self._secret = secret
        self.faults = faults
        self.redis_url = redis_url
        self.notify_every = notify_every
        self.port = 0
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: weakref.WeakKeyDictionary[ServerConnection, tuple[str, str]] = \
            weakref.WeakKeyDictionary()
        """Connections past connect() → (user id, channel name); an entry goes with its
        connection when the 101 never went out."""
        self._connected: dict[int, str] = {}
        """Open sockets: id → user id."""
        self._sent: dict[str, deque[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._churn_kick = asyncio.Event()
        self._busy = 0
        self._work: set[asyncio.Future[None]] = set()
        self.counts: dict[str, int] = {"accepted": 0, "rejected": 0, "notifications": 0,
                                       "errors": 0, "http": 0}

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return WRONG_ALLOWED_HOSTS if "origin-rejected" in self.faults else ALLOWED_HOSTS

    async def start(self) -> None:
        quiet = logging.getLogger("wsmonitor.demo.websockets")
        quiet.propagate = False
        quiet.addHandler(logging.NullHandler())
        self._server = await serve(self._handler, "127.0.0.1", 0,
                                   process_request=self._process_request,
                                   server_header="daphne", logger=quiet, open_timeout=10)
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])
        self._tasks = [asyncio.create_task(self._notifier(), name="demo-notifier"),
                       asyncio.create_task(self._churn(), name="demo-churn")]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._work]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._work, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def warm_up(self, connections: int = 3) -> None:
        """Fill the layer's pool with a few connections (concurrent smoke tests)."""
        await asyncio.gather(*(asyncio.wait_for(smoke(self.layer), 2 * SMOKE_TIMEOUT)
                               for _ in range(connections)), return_exceptions=True)

    def kick(self) -> None:
        """Make the service open a fresh Redis connection now (after a Redis fault changes)."""
        self._churn_kick.set()

    # --- before the 101 ---------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection,
                               request: Request) -> Response | None:
        faults = self.faults
        client = connection.remote_address
        parts = urlsplit(request.path)
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if upgrade and "platform-cut" in faults:
            # App Runner: the upgrade never reaches the app; the connection just closes.
            return await self._drop(connection)
        if "proxy-502" in faults:
            return _response(502, "Bad Gateway", _NGINX_502, "text/html", Server="nginx")
        if upgrade and "gateway-504" in faults:
            # The gateway gives up waiting for the upgrade; plain HTTP still gets through.
            await asyncio.sleep(GATEWAY_WAIT_S)
            return _response(504, "Gateway Timeout", _GATEWAY_504, "application/json")
        if not upgrade:
            return await self._http(request, parts.path, client)
        return await self._connect(connection, request, parts.path, parts.query, client)

    async def _drop(self, connection: ServerConnection) -> Response:
        connection.transport.abort()
        await asyncio.sleep(0)  # let the connection see it is closed: nothing is sent
        return _response(500, "Internal Server Error")

    async def _connect(self, connection: ServerConnection, request: Request, path: str,
                       query: str, client: Any) -> Response | None:
        log = self.log
        log.access(client, f"WSCONNECTING {path}")
        if path != WS_PATH:
            try:
                raise ValueError(f"No route found for path {path.lstrip('/')!r}.")
            except ValueError as exc:
                log.exception("django.channels.server", f"Exception inside application: {exc}",
                              exc)
            return _response(500, "Internal Server Error")
        if not origin_allowed(request.headers.get("Origin"), self.allowed_hosts):
            # AllowedHostsOriginValidator closes before accept(): 403, and it logs nothing.
            return self._reject(client, path)
        token = (parse_qs(query).get("token") or [None])[0]
        user = self._user(token)
        if user is None:
            log.app("warning", "notifications.consumers",
                    "WebSocket connection rejected: anonymous user")
            return self._reject(client, path)
        if "consumer-stall" in self.faults:
            # connect() hangs on a slow call; Daphne's handshake timeout fires and the
            # connection is dropped without a status line. (Daphne kills the application
            # instance application_close_timeout later; logged at once here.)
            await asyncio.sleep(STALL_S)
            log.access(client, f"WSREJECT {path}")
            log.app("warning", "daphne.server", f"Application instance for connection "
                    f"<WebSocketProtocol client={list(client or ())!r} path={path!r}> took "
                    "too long to shut down and was killed.")
            self.counts["rejected"] += 1
            return await self._drop(connection)
        try:
            channel = await self.layer.new_channel()
            await asyncio.wait_for(
                self.layer.group_add(f"notifications.user.{user}", channel), CONNECT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the consumer without Fix 3: Daphne says 500
            self.counts["errors"] += 1
            log.exception("django.channels.server",
                          f"Exception inside application: {_describe(exc)}", exc)
            return _response(500, "Internal Server Error")
        self._pending[connection] = (user, channel)
        return None

    def _reject(self, client: Any, path: str) -> Response:
        self.counts["rejected"] += 1
        self.log.access(client, f"WSREJECT {path}")
        return _response(403, "Access denied")

    def _user(self, token: str | None) -> str | None:
        if not token:
            return None
        try:
            info = verify_token(token, self._secret)
        except TokenError:
            return None
        return info.user_id if info.user_id in USERS else None

    # --- after the 101 ----------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        user, channel = self._pending.pop(ws, ("", ""))
        client = ws.remote_address
        self.counts["accepted"] += 1
        self.log.access(client, f"WSCONNECT {WS_PATH}")
        self.log.app("info", "notifications.consumers", f"WebSocket connected for user {user}")
        self._connected[id(ws)] = user
        forward = asyncio.create_task(self._forward(ws, channel))
        self._spawn(self._notify(user))  # the unread count, pushed on connect
        try:
            await ws.send(json.dumps({"type": "connection.ack"}))
            async for message in ws:
                try:
                    content = json.loads(message)
                except (TypeError, ValueError):
                    continue
                if isinstance(content, dict) and content.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
        except ConnectionClosed:
            pass
        finally:
            self._connected.pop(id(ws), None)
            await self._stop_forward(forward, channel)
            try:
                await asyncio.wait_for(
                    self.layer.group_discard(f"notifications.user.{user}", channel), 2)
            except Exception as exc:  # noqa: BLE001
                self.log.exception("notifications.consumers",
                                   f"Error during disconnect: {_describe(exc)}", exc)
            code = ws.close_code if ws.close_code is not None else 1006
            self.log.app("info", "notifications.consumers",
                         f"WebSocket disconnected with code {code}")
            self.log.access(client, f"WSDISCONNECT {WS_PATH}")

    async def _stop_forward(self, forward: asyncio.Task[None], channel: str) -> None:
        # Woken by a message of its own rather than cancelled: a channels_redis receive
        # cancelled in the middle of its BZPOPMIN can lose a message meant for another channel
        # of this process (the diagnostic views' smoke test, say).
        if not forward.done():
            try:
                await asyncio.wait_for(self.layer.send(channel, {"type": CLOSED}), 1)
                await asyncio.wait({forward}, timeout=2)
            except Exception:  # noqa: BLE001 - Redis gone: nothing to lose
                pass
        if not forward.done():
            forward.cancel()
        await asyncio.gather(forward, return_exceptions=True)

    async def _forward(self, ws: ServerConnection, channel: str) -> None:
        """The consumer's channel-layer side: every ``notify`` event goes to the socket."""
        while True:
            try:
                event = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Daphne closes the socket with 1011
                self.counts["errors"] += 1
                self.log.exception("django.channels.server",
                                   f"Exception inside application: {_describe(exc)}", exc)
                await ws.close(1011, "channel layer failed")
                return
            if event.get("type") == CLOSED:
                return
            if event.get("type") == "notify":
                try:
                    await ws.send(json.dumps(event.get("message") or {"type": "notification"}))
                except ConnectionClosed:
                    return

    # --- the service's own work -------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        """Run a piece of the service's work, counted by `drain`."""
        task = asyncio.ensure_future(self._counted(coro))
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def _counted(self, coro: Any) -> None:
        self._busy += 1
        try:
            await coro
        finally:
            self._busy -= 1

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until the work in flight (notifications, fresh connections) has finished: what
        started under a fault has then logged its failure."""
        deadline = time.monotonic() + timeout
        while self._busy and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _notifier(self) -> None:
        """Every few seconds, a notification for each connected user, through the layer."""
        while True:
            await asyncio.sleep(self.notify_every)
            for user in sorted(set(self._connected.values())):
                await self._counted(self._notify(user))

    async def _notify(self, user: str) -> None:
        n = next(self._ids)
        try:
            message = self._render(user, n)
        except KeyError as exc:
            self.counts["errors"] += 1
            self.log.exception("django.channels.server",
                               f"Exception inside application: {exc}", exc)
            return
        try:
            await asyncio.wait_for(
                self.layer.group_send(f"notifications.user.{user}",
                                      {"type": "notify", "message": message}), 3)
            self.counts["notifications"] += 1
        except Exception as exc:  # noqa: BLE001
            self.counts["errors"] += 1
            self.log.exception("notifications.signals",
                               f"Failed to send notification {n} to user {user}: "
                               f"{_describe(exc)}", exc)
            return
        self._sent.setdefault(user, deque(maxlen=20)).append(message)

    def _render(self, user: str, n: int) -> dict[str, Any]:
        event: dict[str, Any] = {"id": n, "user": user, "verb": "commented on your post"}
        if "consumer-errors" in self.faults:
            # A serializer that expects a field the event lacks: the bug behind the fault.
            event = {k: v for k, v in event.items() if k != "user"}
        return {"type": "notification", "id": n, "recipient": event["user"],
                "title": f"Notification {n}", "verb": event["verb"],
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}

    async def _churn(self) -> None:
        """A fresh Redis connection now and then, as workers and pools open them."""
        import redis.asyncio as aioredis

        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._churn_kick.wait(), self.notify_every)
            self._churn_kick.clear()
            await self._counted(self._fresh_connection(aioredis))

    async def _fresh_connection(self, aioredis: Any) -> None:
        client = aioredis.Redis.from_url(self.redis_url, socket_connect_timeout=2,
                                         single_connection_client=True)
        try:
            await asyncio.wait_for(client.ping(), 3)
        except Exception as exc:  # noqa: BLE001
            self.counts["errors"] += 1
            self.log.exception("channels_redis.core",
                               f"Worker cannot connect to Redis: {_describe(exc)}", exc)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), 2)

    # --- HTTP -------------------------------------------------------------------------------

    async def _http(self, request: Request, path: str, client: Any) -> Response:
        self.counts["http"] += 1
        handler: Callable[[Request], Any] | None = {
            "/api/redis-health/": self._redis_health,
            "/api/ws-diagnostic/": self._ws_diagnostic,
            "/api/notifications/": self._notifications,
        }.get(path)
        if handler is None:
            response = _json(404, "Not Found", {"detail": "Not found."})
        else:
            response = await handler(request)
        if response.status_code == 401:
            self.log.app("warning", "django.request", f"Unauthorized: {path}")
        elif response.status_code >= 500:
            self.log.app("error", "django.request", f"Internal Server Error: {path}")
        self.log.access(client, f"GET {path}", response.status_code, len(response.body))
        return response

    def _bearer(self, request: Request) -> tuple[str | None, Response | None]:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        challenge = {"WWW_Authenticate": 'Bearer realm="api"'}
        if scheme.lower() != "bearer" or not raw.strip():
            return None, _json(401, "Unauthorized", {
                "detail": "Authentication credentials were not provided."}, **challenge)
        user = self._user(raw.strip())
        if user is None:
            return None, _json(401, "Unauthorized", {
                "detail": "Given token not valid for any token type", "code": "token_not_valid",
                "messages": [{"token_class": "AccessToken", "token_type": "access",
                              "message": "Token is invalid or expired"}]}, **challenge)
        return user, None

    async def _redis_health(self, request: Request) -> Response:
        try:
            await smoke(self.layer)
        except Exception as exc:  # noqa: BLE001 - the runbook's view
            return _json(500, "Internal Server Error",
                         {"status": "error", "message": _describe(exc)})
        return _json(200, "OK", {"status": "ok", "redis": "connected"})

    async def _ws_diagnostic(self, request: Request) -> Response:
        _, denied = self._bearer(request)
        if denied is not None:
            return denied
        diagnostics: dict[str, Any] = {"redis_configured": True, "redis_connected": False,
                                       "channel_layer_available": True}
        try:
            await smoke(self.layer)
            diagnostics["redis_connected"] = True
        except Exception as exc:  # noqa: BLE001
            diagnostics["redis_error"] = _describe(exc)
        return _json(200, "OK", diagnostics)

    async def _notifications(self, request: Request) -> Response:
        user, denied = self._bearer(request)
        if denied is not None:
            return denied
        results = list(reversed(self._sent.get(user or "", ())))[:10]
        return _json(200, "OK", {"count": len(results), "unread": len(results),
                                 "results": results})


__all__ = ["ALLOWED_HOSTS", "DemoService", "SMOKE_TIMEOUT", "USERS", "WS_PATH", "origin_allowed"]
