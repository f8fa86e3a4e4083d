"""`LoggedConsumerMixin`: the runbook's Fix 3 logging, without touching what the consumer does.

``class NotificationConsumer(LoggedConsumerMixin, AsyncJsonWebsocketConsumer)``: every connect
attempt, accept, rejection (a close before ``accept()``, which Daphne answers with a 403),
server close, disconnect and exception is logged on the ``wsmonitor.django.consumers`` logger, in
the words wsmonitor's log classifier (``wsmonitor/log_rules.toml``) reads:

========================================  =================================================
line                                      category
========================================  =================================================
``WebSocket connection attempt …``        none (info)
``WebSocket connected …``                 none (info)
``WebSocket connection rejected: …``      ``auth-rejected`` (warning)
``Error during WebSocket connect: …``     ``connect-error`` (``redis-error`` when Redis is
                                          named in the traceback)
``WebSocket disconnected with code …``    none (info; ``auth-rejected`` for 4401)
``Error during disconnect: …``            ``disconnect-error``
``Error in WebSocket handler …``          ``traceback`` (``redis-error`` …)
========================================  =================================================

Exceptions are logged and raised again, so Daphne answers and logs them as before; a close
before ``accept()`` with an error code (the runbook's 4500) is logged as the connect error it
stands for. The query string (where the token is) is never logged; texts go through `redact`.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

from wsmonitor.secrets import redact

logger = logging.getLogger("wsmonitor.django.consumers")

AUTH_CODES = frozenset({4401, 4403})
"""Close codes that mean the user was refused (the runbook's 4401)."""

ERROR_CODES = frozenset({1011, 4500})
"""Close codes that mean connect() failed (the runbook's Fix 3 closes 4500)."""


def _user(scope: dict[str, Any]) -> str:
    """``user 42``, ``anonymous user`` or ``no user``: without resolving a lazy user (that
    would query the database from the event loop)."""
    user = scope.get("user")
    if user is None:
        return "no user"
    try:
        from django.utils.functional import LazyObject, empty

        if isinstance(user, LazyObject) and getattr(user, "_wrapped", empty) is empty:
            return "unresolved user"
    except ImportError:  # pragma: no cover - Django is there whenever a consumer runs
        pass
    try:
        if getattr(user, "is_anonymous", False):
            return "anonymous user"
        pk = getattr(user, "pk", None)
        return f"user {pk}" if pk is not None else "no user"
    except Exception:  # noqa: BLE001 - logging must never break the consumer
        return "unknown user"


def _client(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    if isinstance(client, (list, tuple)) and len(client) == 2:
        return f"{client[0]}:{client[1]}"
    return "unknown client"


def _text(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:500]


class LoggedConsumerMixin:
    """Put it first in the bases of an async WebSocket consumer (``AsyncWebsocketConsumer``,
    ``AsyncJsonWebsocketConsumer``). Adds logging only: the consumer behaves as without it."""

    wsmonitor_logger = logger
    """The logger lines go to (override per consumer)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dispatch = getattr(cls, "websocket_connect", None)
        if dispatch is not None and not inspect.iscoroutinefunction(dispatch):
            raise TypeError(f"{cls.__name__}: LoggedConsumerMixin is for async consumers "
                            "(AsyncWebsocketConsumer, AsyncJsonWebsocketConsumer)")

    def _wsm_where(self) -> str:
        scope = getattr(self, "scope", {}) or {}
        return f"{scope.get('path', '?')} from {_client(scope)} ({_user(scope)})"

    async def dispatch(self, message: dict[str, Any]) -> None:  # type: ignore[override]
        kind = message.get("type", "")
        log = self.wsmonitor_logger
        if kind == "websocket.connect":
            self._wsm_accepted = False
            self._wsm_started = time.monotonic()
            log.info("WebSocket connection attempt to %s", self._wsm_where())
        elif kind == "websocket.disconnect":
            held = time.monotonic() - getattr(self, "_wsm_started", time.monotonic())
            log.info("WebSocket disconnected with code %s after %.1f s: %s",
                     message.get("code"), held, self._wsm_where())
        try:
            await super().dispatch(message)  # type: ignore[misc]
        except Exception as exc:
            if type(exc).__name__ in ("StopConsumer", "DenyConnection", "AcceptConnection"):
                raise
            if kind == "websocket.connect":
                log.exception("Error during WebSocket connect: %s (%s)", _text(exc),
                              self._wsm_where())
            elif kind == "websocket.disconnect":
                log.exception("Error during disconnect: %s (%s)", _text(exc), self._wsm_where())
            else:
                log.exception("Error in WebSocket handler for %s: %s (%s)", redact(kind)[:80],
                              _text(exc), self._wsm_where())
            raise

    async def accept(self, *args: Any, **kwargs: Any) -> None:
        await super().accept(*args, **kwargs)  # type: ignore[misc]
        self._wsm_accepted = True
        self.wsmonitor_logger.info("WebSocket connected: %s", self._wsm_where())

    async def close(self, code: int | bool | None = None, *args: Any, **kwargs: Any) -> None:
        log = self.wsmonitor_logger
        if not getattr(self, "_wsm_accepted", False):
            scope = getattr(self, "scope", {}) or {}
            if code in ERROR_CODES:
                log.error("Error during WebSocket connect: the consumer closed before accept() "
                          "with code %s, so the handshake answers 403 (%s)", code,
                          self._wsm_where())
            else:
                reason = "anonymous user" if _user(scope) in ("anonymous user", "no user") \
                    else "refused by the consumer"
                log.warning("WebSocket connection rejected: %s, close(code=%s) before "
                            "accept(), so the handshake answers 403 (%s)", reason, code,
                            self._wsm_where())
        else:
            log.info("WebSocket closed by the server with code %s: %s", code, self._wsm_where())
        await super().close(code, *args, **kwargs)  # type: ignore[misc]
