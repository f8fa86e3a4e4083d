"""HTTP probes: the runbook's diagnostic endpoints and the polling fallback, over httpx.

``/api/redis-health/`` and ``/api/ws-diagnostic/`` are the service's own view of Redis and the
channel layer; the polling endpoint is what the browser falls back to when the WebSocket fails.
TLS is verified (a CA bundle can be given for private CAs); redirects are not followed, so a
redirect to a login page shows as what it is.

I/O only: no Textual here. Failures come back as samples; tokens never leave this module.
"""

from __future__ import annotations

import errno
import json
import socket
import ssl
import time
from typing import Any

import httpx

from wsmonitor.probes._errors import exception_chain
from wsmonitor.probes._headers import shown_headers
from wsmonitor import __version__
# The sample and the endpoint vocabulary live in wsmonitor.samples_http; re-exported here.
from wsmonitor.samples_http import AUTHENTICATED, ENDPOINTS, ERROR_TEXT, HttpSample
from wsmonitor.secrets import MASK, redact
from wsmonitor.tokens import TokenSource

MIN_INTERVAL = 15.0
"""Least seconds between runs: each diagnostic call costs the service Redis commands."""

DEFAULT_TIMEOUT = 5.0
"""Connect, read and write timeout of each request, seconds."""

_MAX_KEYS = 20
_MAX_VALUE = 200
_MAX_BODY_EXCERPT = 300
_MAX_BODY = 64 * 1024
_USER_AGENT = f"wsmonitor/{__version__}"


def classify_http_error(exc: BaseException) -> str:
    """Name an httpx failure: one of `ERROR_TEXT`'s transport kinds."""
    chain = exception_chain(exc)
    low = " | ".join(str(e) for e in chain).lower()
    if isinstance(exc, httpx.TimeoutException) or any(isinstance(e, TimeoutError)
                                                       for e in chain):
        return "timeout"
    if any(isinstance(e, socket.gaierror) for e in chain) or "name or service not known" in low \
            or "temporary failure in name resolution" in low or "no address associated" in low \
            or "nodename nor servname" in low:
        return "dns"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "certificate verify failed" in low \
            or "ssl" in low and ("error" in low or "wrong version" in low):
        return "tls"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) \
            or any(getattr(e, "errno", None) == errno.ECONNREFUSED for e in chain) \
            or "connection refused" in low:
        return "refused"
    if isinstance(exc, httpx.RemoteProtocolError):
        if "disconnected" in low or "without sending" in low or "closed" in low:
            return "closed"
        return "protocol"
    if isinstance(exc, httpx.ReadError) or any(isinstance(e, ConnectionResetError)
                                               for e in chain):
        return "closed"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    return "error"


def status_kind(status: int) -> str | None:
    """The error kind of an HTTP status (None for 2xx)."""
    if 200 <= status < 300:
        return None
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not-found"
    if status == 429:
        return "rate-limited"
    if 300 <= status < 400:
        return "redirect"
    if status >= 500:
        return "server-error"
    return "status"


def endpoint_verdict(endpoint: str, data: Any) -> bool | None:
    """The endpoint's own verdict on health, from its JSON (None when it gives none)."""
    if not isinstance(data, dict):
        return None
    if endpoint == "redis-health":
        status = str(data.get("status", "")).lower()
        if status == "ok" or str(data.get("redis", "")).lower() == "connected":
            return True
        if status in ("error", "fail", "failed", "down"):
            return False
        return None
    if endpoint == "ws-diagnostic":
        if data.get("error") or data.get("redis_error"):
            return False
        flags = [data.get(k) for k in ("redis_connected", "channel_layer_available")
                 if k in data]
        if not flags:
            return None
        return all(v is True for v in flags)
    return None


class HttpProbe:
    """GETs one endpoint under the API base, as an engine probe named ``http:<endpoint>``.

    Args:
        endpoint: ``redis-health``, ``ws-diagnostic`` or ``polling``.
        api_base: ``https://app.example.com`` (``Settings.effective_api_base``).
        path: The path (default: the endpoint's from `ENDPOINTS`).
        tokens: Token source for the Bearer header (endpoints in `AUTHENTICATED` only).
        ca_file: CA bundle for a private CA; verification is never turned off.
        timeout: Connect, read and write timeout, seconds.
        min_interval: Least seconds between runs.
    """

    def __init__(self, endpoint: str, api_base: str, *, path: str | None = None,
                 tokens: TokenSource | None = None, ca_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, min_interval: float = MIN_INTERVAL) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown HTTP endpoint {endpoint!r}: use one of "
                             f"{', '.join(ENDPOINTS)}")
        self.endpoint = endpoint
        self.name = f"http:{endpoint}"
        path = path or ENDPOINTS[endpoint]
        self.url = api_base.rstrip("/") + "/" + path.lstrip("/")
        self.tokens = tokens or TokenSource()
        self.request_timeout = timeout
        self.timeout = timeout * 3 + 2
        """Longest a run may take, seconds."""
        self.min_interval = min_interval
        self._verify: ssl.SSLContext | bool = \
            ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._client: httpx.AsyncClient | None = None

    def interval(self, base: float) -> float:
        """Seconds between runs: the base, never under `MIN_INTERVAL`."""
        return max(base, self.min_interval)

    def _client_for_run(self) -> httpx.AsyncClient:
        if self._client is None:
            # No keep-alive: every run connects anew, so a connection failure is seen.
            self._client = httpx.AsyncClient(
                verify=self._verify, follow_redirects=False, trust_env=False,
                timeout=httpx.Timeout(self.request_timeout),
                limits=httpx.Limits(max_keepalive_connections=0),
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json"})
        return self._client

    async def run(self) -> HttpSample:
        """One GET; any failure becomes a sample naming it."""
        started = time.perf_counter()
        token = self.tokens.get() if self.endpoint in AUTHENTICATED else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        def clean(text: Any) -> str:
            s = text if isinstance(text, str) else str(text)
            if token:
                s = s.replace(token, MASK)
            return redact(s)

        base = dict(probe=self.name, endpoint=self.endpoint, url=clean(self.url),
                    auth_sent=token is not None, tls=self.url.lower().startswith("https:"))
        try:
            async with self._client_for_run().stream("GET", self.url, headers=headers) \
                    as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= _MAX_BODY:
                        break
        except Exception as exc:  # noqa: BLE001 - every transport failure is data
            kind = classify_http_error(exc)
            detail = clean(str(exc) or type(exc).__name__)[:_MAX_VALUE]
            return HttpSample(at=time.time(), ok=False, error=f"{ERROR_TEXT[kind]} ({detail})",
                              error_kind=kind, duration_ms=_ms(started), **base)
        status = response.status_code
        content_type = response.headers.get("content-type")
        fields: dict[str, Any] = dict(
            status=status, reason=clean(response.reason_phrase or "")[:_MAX_VALUE],
            server=clean(response.headers.get("server"))[:_MAX_VALUE]
            if response.headers.get("server") else None,
            content_type=clean(content_type)[:_MAX_VALUE] if content_type else None,
            headers=shown_headers(response.headers.multi_items(), clean),
        )
        if 300 <= status < 400 and response.headers.get("location"):
            fields["location"] = clean(response.headers["location"])[:_MAX_VALUE]
        data: Any = None
        try:
            data = json.loads(bytes(body)) if body.strip() else None
            fields["json_ok"] = data is not None
        except ValueError:
            # Mask before cutting: a cut token no longer matches its own value.
            text = bytes(body).decode("utf-8", "replace")
            fields["body_excerpt"] = clean(" ".join(text.split()))[:_MAX_BODY_EXCERPT]
        if data is not None:
            fields["summary"] = _summary(data, clean)
        if self.endpoint == "ws-diagnostic" and 200 <= status < 300:
            fields.update(companion_fields(data, clean))
        healthy = endpoint_verdict(self.endpoint, data)
        fields["healthy"] = healthy
        kind = status_kind(status)
        if status == 400 and _disallowed_host(bytes(body[:4096])):
            kind = "bad-host"
        if kind is None and healthy is False:
            kind = "unhealthy"
        error = None
        if kind is not None:
            error = f"HTTP {status} {fields['reason']}".rstrip() + f": {ERROR_TEXT[kind]}"
            message = _first_message(data, clean)
            if message:
                error += f" ({message})"
        return HttpSample(at=time.time(), ok=kind is None, error=error, error_kind=kind,
                          duration_ms=_ms(started), **base, **fields)

    async def close(self) -> None:
        """Close the client."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001
                pass


def http_probes(settings: Any, *, polling_path: str = ENDPOINTS["polling"],
                ca_file: str | None = None, tokens: TokenSource | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> list[HttpProbe]:
    """The three HTTP probes for `wsmonitor.config.Settings` (needs an API base or a URL).

    Args:
        settings: Needs ``effective_api_base``, ``token``, ``jwt_secret``, ``jwt_user_id``.
        polling_path: Path of the polling fallback.
        ca_file: CA bundle for a private CA.
        tokens: Token source (default: from the settings).
        timeout: Request timeout, seconds.
    """
    base = settings.effective_api_base
    if not base:
        raise ValueError("no --api-base or --url: the HTTP probes need the service's base URL")
    tokens = tokens or TokenSource.from_settings(settings)
    return [HttpProbe(name, base, path=polling_path if name == "polling" else None,
                      tokens=tokens, ca_file=ca_file, timeout=timeout)
            for name in ENDPOINTS]


def companion_fields(data: Any, clean: Any) -> dict[str, Any]:
    """The richer ws-diagnostic answer of wsmonitor.django (SPEC "Server-side companion"):
    ALLOWED_HOSTS, the Origin validator and the service's round trip. Empty for the runbook's
    plain view, so apps with it are judged as before."""
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {}

    def hosts(value: Any) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            return None
        return tuple(clean(str(h))[:_MAX_VALUE] for h in value[:100])

    if "allowed_hosts" in data:
        out["allowed_hosts"] = hosts(data["allowed_hosts"])
    if isinstance(data.get("origin_validator"), bool):
        out["origin_validator"] = data["origin_validator"]
        validation = data.get("origin_validation")
        patterns = hosts(validation.get("allowed_origins")) \
            if isinstance(validation, dict) else None
        if data["origin_validator"]:
            out["origin_patterns"] = patterns if patterns is not None else \
                out.get("allowed_hosts")
    layer = data.get("channel_layer")
    if isinstance(layer, dict):
        if isinstance(layer.get("backend"), str):
            out["layer_backend"] = clean(layer["backend"])[:_MAX_VALUE]
        rt = layer.get("round_trip_ms")
        if isinstance(rt, (int, float)) and not isinstance(rt, bool):
            out["layer_round_trip_ms"] = float(rt)
        if isinstance(layer.get("error_kind"), str):
            out["layer_error_kind"] = clean(layer["error_kind"])[:60]
        if isinstance(layer.get("error"), str):
            out["layer_error"] = clean(layer["error"])[:_MAX_VALUE]
    return out


def _disallowed_host(body: bytes) -> bool:
    """Django's answer to a Host not in ALLOWED_HOSTS: its plain 400 page (DEBUG off) or the
    DisallowedHost page (DEBUG on)."""
    return b"<h1>Bad Request (400)</h1>" in body or b"DisallowedHost" in body \
        or b"Invalid HTTP_HOST header" in body


def _summary(data: Any, clean: Any) -> tuple[tuple[str, Any], ...]:
    if isinstance(data, dict):
        items = list(data.items())[:_MAX_KEYS]
        return tuple((clean(str(k))[:60], _scalar(v, clean)) for k, v in items)
    if isinstance(data, list):
        return (("items", len(data)),)
    return (("value", _scalar(data, clean)),)


def _scalar(value: Any, clean: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return clean(value)[:_MAX_VALUE]
    if isinstance(value, list) and len(value) > 3:
        return f"[{len(value)} items]"
    return clean(json.dumps(value, separators=(",", ":"), default=str))[:_MAX_VALUE]


def _first_message(data: Any, clean: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    for key in ("message", "redis_error", "error", "detail"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return clean(value)[:_MAX_VALUE]
    return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
