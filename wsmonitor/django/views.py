"""The two endpoints, as async views: ``redis-health/`` (public) and ``ws-diagnostic/``
(authenticated).

Order of work in each request, cheapest first, so a flood costs next to nothing: the token bucket
(429 beyond it), then authentication (ws-diagnostic), then the shared, cached round trip. Neither
answer carries a secret: the public one names only the kind of failure, the authenticated one
masked hosts and redacted error texts.
"""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from wsmonitor.django import diagnostics as d

GATE = d.RoundTripGate()
"""This process's round trips, shared by both views (and the health check)."""

_BUCKETS: dict[str, d.TokenBucket] = {}


def bucket(name: str) -> d.TokenBucket:
    """The view's token bucket in this process (made on first use from ``settings.WSMONITOR``)."""
    found = _BUCKETS.get(name)
    if found is None:
        options = d.conf()
        found = _BUCKETS.setdefault(name, d.TokenBucket(options["RATE_BURST"],
                                                        options["RATE_PER_SECOND"]))
    return found


def _limited(name: str) -> JsonResponse | None:
    wait = bucket(name).take()
    if wait <= 0:
        return None
    retry = max(1, math.ceil(wait))
    response = JsonResponse({"status": "rate-limited", "detail": "too many requests: retry "
                             f"in {retry} s", "retry_after": retry}, status=429)
    response["Retry-After"] = str(retry)
    return response


@never_cache
@require_GET
async def redis_health(request: HttpRequest) -> JsonResponse:
    """``{"status": "ok"|"error", "redis": "connected"|<kind>, "round_trip_ms": …}``, 200/500.

    Public, like the runbook's: it says whether the channel layer's Redis works and, when not,
    the kind of failure — never a host, a URL or an exception text.
    """
    limited = _limited("redis-health")
    if limited is not None:
        return limited
    result, cached = await GATE.get()
    body: dict[str, Any] = {"status": "ok" if result.ok else "error",
                            "redis": "connected" if result.ok and result.redis else
                            ("not-redis" if result.ok else result.error_kind or "error"),
                            "round_trip_ms": result.round_trip_ms, "cached": cached}
    if result.ok and not result.redis:
        body["status"] = "error"
        body["message"] = "the channel layer is not Redis-backed"
    elif not result.ok:
        body["message"] = result.generic_error
    return JsonResponse(body, status=200 if body["status"] == "ok" else 500)


# --- authentication -------------------------------------------------------------------------------


def simplejwt_available() -> bool:
    """djangorestframework-simplejwt is installed (then Bearer tokens are accepted)."""
    try:
        import rest_framework_simplejwt.authentication  # noqa: F401
    except Exception:  # noqa: BLE001 - absent, or present without DRF configured
        return False
    return True


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _user_for_token(raw: str) -> Any:
    """The active user a simplejwt access token names (None: the token is not accepted)."""
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework_simplejwt.authentication import JWTAuthentication
    from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

    auth = JWTAuthentication()
    try:
        user = auth.get_user(auth.get_validated_token(raw.encode()))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None
    return user if getattr(user, "is_active", False) else None


async def authorize(request: HttpRequest) -> JsonResponse | None:
    """None when the request may read the diagnostic; else the 401/403 to answer.

    A Bearer access token (simplejwt, when installed) of an active user — or a staff user when
    ``DIAGNOSTIC_PERMISSION`` is ``staff``; otherwise a staff session. Nothing else: no setting
    turns this off, and DEBUG does not either.
    """
    from asgiref.sync import sync_to_async

    token = _bearer(request)
    staff_only = d.conf()["DIAGNOSTIC_PERMISSION"] == "staff"
    if token is not None:
        if not simplejwt_available():
            return _denied(401, "Bearer tokens need djangorestframework-simplejwt")
        user = await sync_to_async(_user_for_token)(token)
        if user is None:
            return _denied(401, "the token is not valid")
        if staff_only and not user.is_staff:
            return _denied(403, "staff only")
        return None
    auser = getattr(request, "auser", None)
    user = await auser() if auser is not None else None
    if user is not None and getattr(user, "is_authenticated", False):
        if user.is_active and user.is_staff:
            return None
        return _denied(403, "staff only")
    return _denied(401, "authentication required: send an access token in the Authorization "
                   "header (Bearer scheme)" if simplejwt_available() else "authentication required: a staff session")


def _denied(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="wsmonitor"'
    return response


@never_cache
@require_GET
async def ws_diagnostic(request: HttpRequest) -> JsonResponse:
    """The service's view of its WebSocket path: the channel layer's round trip, ALLOWED_HOSTS,
    the Origin validator of the running ASGI application, the ASGI server, versions."""
    limited = _limited("ws-diagnostic")
    if limited is not None:
        return limited
    denied = await authorize(request)
    if denied is not None:
        return denied
    result, cached = await GATE.get()
    report = d.Report(result=result, cached=cached, age_s=GATE.age(),
                      round_trips=GATE.round_trips, origin=d.origin_validation(),
                      server=d.asgi_server(), commands=GATE.commands)
    return JsonResponse(report.to_dict())
