"""What the service can tell about itself: a channel-layer round trip, the running ASGI
application's Origin validation, the ASGI server and versions. Shared by the views, the
management command and the django-health-check class.

The runbook's ``channel_layer.test()`` does not exist and its views spin a new event loop inside
a request (FACTS.md). Here the smoke test is a send then a receive on a fresh channel, awaited on
the running loop and bounded in time; and because the public health view would let anyone turn
requests into Redis commands, round trips go through a per-process `RoundTripGate` (the last
result is reused for a few seconds, concurrent requests share one round trip) and requests
through a `TokenBucket`.

Nothing here returns a secret: Redis URLs come out masked (``redis://:***@host:6379/0``), error
texts go through `wsmonitor.secrets.redact` with the layer's passwords registered by value.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wsmonitor.redis_url import RedisUrlError, parse_redis_url, password_of
from wsmonitor.secrets import redact, register_secret

DEFAULTS: dict[str, Any] = {
    "CHANNEL_LAYER": "default",
    "TIMEOUT": 3.0,
    "CACHE_SECONDS": 5.0,
    "RATE_BURST": 10,
    "RATE_PER_SECOND": 1.0,
    "DIAGNOSTIC_PERMISSION": "authenticated",
}
"""``settings.WSMONITOR`` keys and their defaults.

CHANNEL_LAYER: the alias to test. TIMEOUT: seconds for each of send and receive. CACHE_SECONDS:
a round trip younger than this is reused (the floor between two round trips of one process).
RATE_BURST / RATE_PER_SECOND: each view's token bucket per process (beyond it: 429).
DIAGNOSTIC_PERMISSION: who may read ``/api/ws-diagnostic/`` with a Bearer token,
``authenticated`` (any active user, as the runbook's ``IsAuthenticated``) or ``staff``; a session
must always be staff."""

MESSAGE_TYPE = "wsmonitor.diagnostic"
"""The ``type`` of the message the round trip sends to itself."""

CHANNEL_PREFIX = "wsmonitor.diagnostic"
"""Fresh channels are ``wsmonitor.diagnostic.<uuid>``: a plain (not process-local) name, so the
receive is a direct read that neither waits on nor disturbs the consumers' shared receive lock,
and works from any event loop (the management command, a thread pool)."""

ROUND_TRIP_COMMANDS = 10
"""Redis commands one channels_redis round trip costs (send: ZREMRANGEBYSCORE, ZCOUNT, ZADD,
EXPIRE; receive: EVAL with its commands, BZPOPMIN, ...), about; tests/companion measures it with
INFO commandstats."""

LAYER_ERROR_TEXT = {
    "not-configured": "no channel layer is configured (CHANNEL_LAYERS)",
    "misconfigured": "the channel layer cannot be built from CHANNEL_LAYERS",
    "lost": "sent, but nothing came back on the channel",
    "mismatch": "another message came back than the one sent",
    "channel-full": "the channel is at capacity (ChannelFull)",
    "timeout": "Redis did not answer in time",
    "bad-url": "the Redis URL cannot be used as written (see wsmonitor_check's redis-url)",
}
"""Failure kinds of the round trip besides wsmonitor's Redis kinds (`classify`)."""


def conf() -> dict[str, Any]:
    """``settings.WSMONITOR`` over `DEFAULTS`."""
    from django.conf import settings

    given = getattr(settings, "WSMONITOR", None) or {}
    return {**DEFAULTS, **{k: v for k, v in dict(given).items() if k in DEFAULTS}}


# --- the channel layer's Redis -------------------------------------------------------------------


def layer_settings(alias: str | None = None) -> dict[str, Any]:
    """``CHANNEL_LAYERS[alias]`` (empty when not configured)."""
    from django.conf import settings

    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    value = layers.get(alias or conf()["CHANNEL_LAYER"])
    return dict(value) if isinstance(value, dict) else {}


def layer_urls(alias: str | None = None) -> list[str]:
    """The Redis URLs of the layer's hosts, as configured (secrets in them: never shown)."""
    hosts = (layer_settings(alias).get("CONFIG") or {}).get("hosts") or []
    if isinstance(hosts, (str, dict, tuple)):
        hosts = [hosts]
    urls = []
    for host in hosts:
        if isinstance(host, str):
            urls.append(host)
        elif isinstance(host, dict) and isinstance(host.get("address"), str):
            urls.append(host["address"])
        elif isinstance(host, dict) and host.get("host"):
            urls.append(f"redis://{host['host']}:{host.get('port', 6379)}/{host.get('db', 0)}")
        elif isinstance(host, (tuple, list)) and len(host) == 2:
            urls.append(f"redis://{host[0]}:{host[1]}")
    return urls


def unusable_url(urls: list[str]) -> str | None:
    """The first error-severity lint finding of these URLs (no secret in it), or None."""
    from wsmonitor.redis_url import lint_redis_url

    for url in urls:
        for finding in lint_redis_url(url):
            if finding.severity == "error":
                return finding.message
    return None


def mask_url(url: str) -> str:
    """A Redis URL with its password masked; what is unparseable is not shown at all."""
    try:
        return redact(parse_redis_url(url).masked())
    except RedisUrlError:
        return "(unparseable URL)"


def masked_hosts(alias: str | None = None) -> list[str]:
    """The layer's hosts for an answer: ``redis://:***@host:6379/0``."""
    return [mask_url(u) for u in layer_urls(alias)]


def register_layer_secrets() -> None:
    """Register the layer's (and ``REDIS_URL``'s) passwords, so `redact` masks them by value."""
    try:
        urls = layer_urls()
    except Exception:  # noqa: BLE001 - settings not ready: shape-based redaction still applies
        urls = []
    if os.environ.get("REDIS_URL"):
        urls.append(os.environ["REDIS_URL"])
    for url in urls:
        register_secret(password_of(url))


# --- the round trip ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One send → receive on a fresh channel, as the service ran it."""

    ok: bool
    backend: str | None
    """``channels_redis.core.RedisChannelLayer`` (None: no layer)."""
    redis: bool
    """The layer is Redis-backed (channels_redis)."""
    at: float
    """``time.time()`` when it finished."""
    round_trip_ms: float | None = None
    error: str | None = None
    """What failed, redacted (may name a host:port: for authenticated answers only)."""
    error_kind: str | None = None
    """A stable name: wsmonitor's Redis kinds (``refused``, ``auth-wrong-password`` …) or
    `LAYER_ERROR_TEXT`'s."""
    phase: str = "send"
    """The last phase reached: ``layer``, ``send``, ``receive`` or ``done``."""
    commands: int = 0
    """Redis commands it cost, about."""
    seq: int = 0
    """Which round trip of this process it was (1, 2 …)."""

    @property
    def generic_error(self) -> str | None:
        """The failure without any detail (for unauthenticated answers)."""
        if self.ok:
            return None
        return LAYER_ERROR_TEXT.get(self.error_kind or "") or _redis_text(self.error_kind)


def _redis_text(kind: str | None) -> str:
    from wsmonitor.samples import REDIS_ERROR_TEXT as ERROR_TEXT

    return ERROR_TEXT.get(kind or "", "channel layer error")


def _backend_name(layer: Any) -> str:
    cls = type(layer)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_redis_layer(layer: Any) -> bool:
    return type(layer).__module__.startswith("channels_redis")


async def round_trip(alias: str | None = None, timeout: float | None = None,
                     seq: int = 0) -> RoundTrip:
    """Send a message to a fresh channel and receive it back, each step within `timeout`.

    Never raises (but for cancellation): every failure is a `RoundTrip` naming it.
    """
    from channels.exceptions import ChannelFull
    from channels.layers import get_channel_layer

    options = conf()
    alias = alias or options["CHANNEL_LAYER"]
    timeout = float(timeout if timeout is not None else options["TIMEOUT"])
    started = time.perf_counter()

    def done(ok: bool, phase: str, backend: str | None, redis: bool, **kw: Any) -> RoundTrip:
        cost = 0
        if redis:
            cost = {"layer": 0, "send": 4, "receive": ROUND_TRIP_COMMANDS}.get(
                phase, ROUND_TRIP_COMMANDS)
        return RoundTrip(ok=ok, backend=backend, redis=redis, at=time.time(), phase=phase,
                         commands=cost, seq=seq, **kw)

    try:
        layer = get_channel_layer(alias)
    except Exception as exc:  # noqa: BLE001 - a broken CHANNEL_LAYERS is an answer too
        return done(False, "layer", None, False, error_kind="misconfigured",
                    error=f"{LAYER_ERROR_TEXT['misconfigured']}: "
                          f"{type(exc).__name__}: {redact(exc)}"[:300])
    if layer is None:
        return done(False, "layer", None, False, error_kind="not-configured",
                    error=LAYER_ERROR_TEXT["not-configured"])
    backend, redis = _backend_name(layer), _is_redis_layer(layer)
    broken = unusable_url(layer_urls(alias)) if redis else None
    if broken:
        # redis-py would fail with a fragment of the password in its message: do not try.
        return done(False, "layer", backend, redis, error_kind="bad-url",
                    error=f"{LAYER_ERROR_TEXT['bad-url']}: {broken}")
    channel = f"{CHANNEL_PREFIX}.{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    phase = "send"
    try:
        await asyncio.wait_for(layer.send(channel, {"type": MESSAGE_TYPE, "id": token}),
                               timeout)
        phase = "receive"
        message = await asyncio.wait_for(layer.receive(channel), timeout)
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        if not isinstance(message, dict) or message.get("id") != token:
            return done(False, phase, backend, redis, round_trip_ms=elapsed,
                        error_kind="mismatch", error=LAYER_ERROR_TEXT["mismatch"])
        return done(True, "done", backend, redis, round_trip_ms=elapsed)
    except asyncio.CancelledError:
        raise
    except TimeoutError:
        kind = "lost" if phase == "receive" else "timeout"
        return done(False, phase, backend, redis, error_kind=kind,
                    error=f"{LAYER_ERROR_TEXT[kind]} (within {timeout:g} s)")
    except ChannelFull:
        return done(False, phase, backend, redis, error_kind="channel-full",
                    error=LAYER_ERROR_TEXT["channel-full"])
    except Exception as exc:  # noqa: BLE001 - every failure is data
        from wsmonitor.probes.channel_layer import classify_error

        kind, message = classify_error(exc)
        return done(False, phase, backend, redis, error_kind=kind, error=redact(message)[:300])


class RoundTripGate:
    """At most one round trip per `cache_seconds` in this process; concurrent callers share it.

    A scanner hitting the views can therefore cost Redis at most ~`ROUND_TRIP_COMMANDS`
    commands per `cache_seconds` per process, however many requests it sends.
    """

    def __init__(self, cache_seconds: float | None = None,
                 runner: Callable[[int], Awaitable[RoundTrip]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cache_seconds = cache_seconds
        self._runner = runner
        self._clock = clock
        self._lock = threading.Lock()
        self._last: RoundTrip | None = None
        self._last_mono = 0.0
        self._inflight: tuple[asyncio.AbstractEventLoop, asyncio.Task[RoundTrip]] | None = None
        self.round_trips = 0
        """Round trips run by this process so far."""
        self.commands = 0
        """Redis commands they cost, about."""

    @property
    def cache_seconds(self) -> float:
        return float(self._cache_seconds if self._cache_seconds is not None
                     else conf()["CACHE_SECONDS"])

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last round trip finished (None: none yet)."""
        if self._last is None:
            return None
        return max(0.0, (self._clock() if now is None else now) - self._last_mono)

    async def get(self) -> tuple[RoundTrip, bool]:
        """The last round trip if it is fresh enough, else a new one: ``(result, cached)``."""
        loop = asyncio.get_running_loop()
        with self._lock:
            age = self.age()
            if self._last is not None and age is not None and age < self.cache_seconds:
                return self._last, True
            if self._inflight is not None and self._inflight[0] is loop \
                    and not self._inflight[1].done():
                task = self._inflight[1]
                shared = True
            else:
                self.round_trips += 1
                task = loop.create_task(self._run(self.round_trips))
                self._inflight = (loop, task)
                shared = False
        # Shielded: a client that goes away does not cancel the round trip others wait for.
        result = await asyncio.shield(task)
        return result, shared

    async def _run(self, seq: int) -> RoundTrip:
        result = await (self._runner or (lambda n: round_trip(seq=n)))(seq)
        with self._lock:
            self.commands += result.commands
            self._last, self._last_mono = result, self._clock()
        return result


class TokenBucket:
    """``burst`` requests at once, refilled at ``per_second``; thread-safe."""

    def __init__(self, burst: int, per_second: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = max(1, int(burst))
        self.per_second = max(0.001, float(per_second))
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()
        self._lock = threading.Lock()
        self.granted = 0
        self.refused = 0

    def take(self) -> float:
        """0.0 when a request may go ahead; else the seconds until one may."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.granted += 1
                return 0.0
            self.refused += 1
            return (1.0 - self._tokens) / self.per_second


# --- the running ASGI application ----------------------------------------------------------------

_APP_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True, slots=True)
class OriginValidation:
    """What the running ASGI application does with the WebSocket Origin header."""

    found: bool
    """A validator sits on the WebSocket branch."""
    validator: str | None = None
    """``AllowedHostsOriginValidator`` (its list is ALLOWED_HOSTS) or ``OriginValidator``."""
    allowed_origins: tuple[str, ...] = ()
    """The list the validator checks the Origin against (ports ignored unless given)."""
    covers_all_routes: bool = False
    """Every WebSocket route passes a validator."""
    application: str | None = None
    """Where the application was read from (``target.asgi:application``)."""
    error: str | None = None
    """Why it could not be read (then `found` is False)."""

    def to_dict(self) -> dict[str, Any]:
        return {"validator": self.validator, "allowed_origins": list(self.allowed_origins),
                "covers_all_routes": self.covers_all_routes, "application": self.application,
                "error": self.error}


def _candidates() -> list[str]:
    """Where the ASGI application may be, most certain first."""
    from django.conf import settings

    out = []
    # The server's own command line (daphne/uvicorn/hypercorn module:attr) is what runs.
    for arg in sys.argv[1:]:
        if _APP_SPEC.match(arg) and arg.split(":", 1)[0] in sys.modules:
            out.append(arg)
    configured = getattr(settings, "ASGI_APPLICATION", None)
    if configured:
        module, _, attr = str(configured).rpartition(".")
        out.append(f"{module}:{attr}")
    module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    if "." in module:
        out.append(f"{module.rpartition('.')[0]}.asgi:application")
    return list(dict.fromkeys(out))


def load_asgi_application() -> tuple[Any, str | None, str | None]:
    """``(application, where, error)``: the running app (from the server's command line,
    ``ASGI_APPLICATION`` or ``<project>.asgi``)."""
    import importlib

    errors = []
    for spec in _candidates():
        module_name, _, attr = spec.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
            return obj, spec, None
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            errors.append(f"{spec}: {type(exc).__name__}: {redact(exc)}"[:200])
    if not errors:
        return None, None, "no ASGI application: set ASGI_APPLICATION"
    return None, None, "; ".join(errors)


def _is_validator(node: Any) -> bool:
    return any(c.__name__ == "OriginValidator" for c in type(node).__mro__)


def _children(node: Any) -> list[Any]:
    """What an ASGI node passes requests on to (WebSocket branch only)."""
    names = [c.__name__ for c in type(node).__mro__]
    if "ProtocolTypeRouter" in names:
        mapping = getattr(node, "application_mapping", {}) or {}
        return [mapping["websocket"]] if "websocket" in mapping else []
    if "URLRouter" in names:
        out = []
        for route in getattr(node, "routes", ()) or ():
            callback = getattr(route, "callback", None)
            out.append(callback if callback is not None else route)
        return out
    if getattr(node, "consumer_class", None) is not None:
        return []  # a consumer's as_asgi(): a leaf
    for attr in ("inner", "application", "app"):
        child = getattr(node, attr, None)
        if child is not None and callable(child):
            return [child]
    func = getattr(node, "func", None)  # functools.partial
    return [func] if callable(func) and not isinstance(node, type) else []


def find_origin_validation(app: Any, where: str | None = None) -> OriginValidation:
    """Walk the ASGI application's WebSocket branch (ProtocolTypeRouter, middleware ``.inner``/
    ``.application``, URLRouter routes) for `OriginValidator`s."""
    from django.conf import settings

    if app is None:
        return OriginValidation(False, application=where, error="no ASGI application")
    validators: list[Any] = []
    uncovered = 0
    seen: set[int] = set()

    def walk(node: Any, depth: int) -> None:
        nonlocal uncovered
        if id(node) in seen or depth > 40:
            return
        seen.add(id(node))
        if _is_validator(node):
            validators.append(node)
            return
        children = _children(node)
        if not children:
            uncovered += 1
            return
        for child in children:
            walk(child, depth + 1)

    names = [c.__name__ for c in type(app).__mro__]
    if "ProtocolTypeRouter" in names and "websocket" not in (
            getattr(app, "application_mapping", {}) or {}):
        return OriginValidation(False, application=where,
                                error="the ProtocolTypeRouter has no websocket protocol")
    walk(app, 0)
    if not validators:
        return OriginValidation(False, application=where)
    first = validators[0]
    origins = getattr(first, "allowed_origins", ()) or ()
    hosts = list(getattr(settings, "ALLOWED_HOSTS", []) or [])
    debug_default = ["localhost", "127.0.0.1", "[::1]"]
    kind = "AllowedHostsOriginValidator" if origins is settings.ALLOWED_HOSTS or \
        list(origins) == hosts or (settings.DEBUG and not hosts and
                                   list(origins) == debug_default) else "OriginValidator"
    return OriginValidation(True, kind, tuple(str(o) for o in origins)[:100],
                            covers_all_routes=uncovered == 0, application=where)


def origin_validation() -> OriginValidation:
    """`find_origin_validation` of the running application."""
    app, where, error = load_asgi_application()
    if app is None:
        return OriginValidation(False, application=where, error=error)
    return find_origin_validation(app, where)


# --- the server and versions ---------------------------------------------------------------------

SERVERS = ("daphne", "uvicorn", "hypercorn", "granian", "gunicorn")


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def asgi_server() -> str | None:
    """The server this process runs under, with its version (``daphne 4.2.3``).

    The request scope does not say (its ``server`` is only the listening address): the
    process's command line, ``SERVER_SOFTWARE`` (gunicorn) and the server modules loaded do."""
    argv = [os.path.basename(a) for a in sys.argv[:2]] + sys.argv[0].split(os.sep)[-3:]
    software = os.environ.get("SERVER_SOFTWARE", "")
    name = next((s for s in SERVERS if any(s in part.lower() for part in argv)), None)
    if name is None and software:
        name = next((s for s in SERVERS if s in software.lower()), None)
    if name is None and "runserver" in sys.argv[1:2]:
        name = "daphne" if "daphne.server" in sys.modules else "runserver"
    if name is None:
        loaded = {"daphne": "daphne.server", "uvicorn": "uvicorn.server",
                  "hypercorn": "hypercorn.config", "granian": "granian"}
        name = next((s for s, m in loaded.items() if m in sys.modules), None)
    if name is None:
        return None
    if name == "runserver":
        return "django runserver"
    version = _version(name)
    text = f"{name} {version}" if version else name
    if name == "gunicorn":
        worker = next((s for s in ("uvicorn",) if f"{s}.workers" in sys.modules), None)
        text += f" ({worker} worker)" if worker else ""
    return text


def versions() -> dict[str, str]:
    """Versions of what the WebSocket path rests on."""
    import platform

    from wsmonitor import __version__

    out = {"python": platform.python_version(), "wsmonitor": __version__}
    server = (asgi_server() or "").split(" ")[0]
    # Servers only the one running: an installed, unused one says nothing about this process.
    for dist in ("django", "channels", "channels-redis", "redis", "asgiref",
                 "djangorestframework-simplejwt", *((server,) if server in SERVERS else ())):
        v = _version(dist)
        if v:
            out[dist] = v
    return out


# --- the whole answer ----------------------------------------------------------------------------


@dataclass
class Report:
    """The ws-diagnostic answer."""

    result: RoundTrip
    cached: bool
    age_s: float | None
    round_trips: int
    origin: OriginValidation
    server: str | None
    commands: int = 0
    """Redis commands this process's round trips have cost so far, about."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from django.conf import settings

        r = self.result
        out: dict[str, Any] = {
            "redis_configured": bool(r.redis and layer_urls()),
            "redis_connected": bool(r.ok and r.redis),
            "channel_layer_available": r.backend is not None,
            "channel_layer": {
                "backend": r.backend, "round_trip_ms": r.round_trip_ms, "error": r.error,
                "error_kind": r.error_kind, "phase": r.phase, "hosts": masked_hosts(),
                "cached": self.cached, "age_s": None if self.age_s is None
                else round(self.age_s, 3), "round_trips": self.round_trips,
                "commands_per_round_trip": ROUND_TRIP_COMMANDS if r.redis else 0,
                "commands": self.commands,
            },
            "allowed_hosts": [str(h) for h in getattr(settings, "ALLOWED_HOSTS", [])][:100],
            "origin_validator": self.origin.found,
            "origin_validation": self.origin.to_dict(),
            "asgi_server": self.server,
            "versions": versions(),
            "debug": bool(settings.DEBUG),
        }
        if not r.ok:
            out["redis_error"] = r.error
        if r.backend is not None and not r.redis:
            out["channel_layer"]["note"] = ("not a Redis layer: messages never leave this "
                                            "process, so other workers never see them")
        out.update(self.extra)
        return out
