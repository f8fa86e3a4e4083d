"""The channel-layer probe: a send → receive round trip, and notification delivery to a socket.

The runbook's ``channel_layer.test()`` does not exist (FACTS.md); the working smoke test is a
send then a receive on a fresh channel, through ``channels_redis.core.RedisChannelLayer`` made
standalone (no Django settings) on the same Redis as the service. The probe also lends the
held ``token+origin`` socket a hook (`ChannelLayerProbe.deliver`): a ``group_send`` to the probe
user's group, whose arrival on the socket the handshake sample times.

channels_redis is optional (``wsmonitor[channels]``) and imported only when a probe is made.
Both write to Redis: never built in kiosk mode. I/O only: no Textual here. Failures come back as
samples with a named ``error_kind``; the hook's failures come back as the handshake sample's
``hook_error``, its first word naming the exception class below.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
import uuid
from typing import Any

from wsmonitor.probes.redis import SECONDS_PER_DAY, classify_redis_error
from wsmonitor.redis_url import parse_redis_url
# The samples and the vocabulary live in wsmonitor.samples_layer; re-exported here.
from wsmonitor.samples_layer import ERROR_TEXT, EXTRA_HINT, NAME, NOTIFY_EVENT_TYPE, \
    PROBE_MESSAGE_TYPE, ChannelLayerFacts, ChannelLayerSample
from wsmonitor.secrets import redact

FORWARDED_KEYS = ("message", "payload", "data", "notification", "content", "body")
"""Keys of the group message that all carry the probe's notification: whichever one the
consumer's handler forwards, the socket receives the notification's id."""

ROUND_TRIP_MESSAGE_TYPE = "wsmonitor.round_trip"
"""The ``type`` of the message sent to itself on a fresh channel."""

CHANNEL_PREFIX = "wsmonitor"
"""Prefix of the probe's fresh channel names (``wsmonitor.<client>!<uuid>``)."""

MIN_INTERVAL = 15.0
"""Least seconds between round trips (and between deliveries)."""

DEFAULT_OP_TIMEOUT = 3.0
"""Seconds for each of send, receive and group_send; under channels_redis's 5 s BZPOPMIN, so a
lost message shows as ``lost`` and not as a socket timeout."""

SOCKET_TIMEOUT = 10.0
"""redis-py's read timeout for the layer's connections: above channels_redis's 5 s BZPOPMIN
(redis-py 8's default of 5 s races it, django/channels_redis#422). A ``socket_timeout`` in
the URL wins."""

SEND_COMMANDS = 4
"""ZREMRANGEBYSCORE, ZCOUNT, ZADD, EXPIRE (channels_redis 4.3)."""

RECEIVE_COMMANDS = 6
"""EVAL (its ZRANGE and DEL count too: INFO's total_commands_processed includes a script's
commands), BZPOPMIN, ZADD, ZPOPMIN — counted on a real server with MONITOR and INFO."""

CONNECT_COMMANDS = 1
"""HELLO, when the layer opens its connection."""

ROUND_TRIP_COMMANDS = SEND_COMMANDS + RECEIVE_COMMANDS
"""Commands a round trip costs the server."""

DELIVERY_COMMANDS = 5
"""Commands a delivery sends: ZCOUNT of the group here, then ZREMRANGEBYSCORE, ZRANGE, a
pipelined ZREMRANGEBYSCORE and EVAL in group_send."""

GROUP_NAME = re.compile(r"^[a-zA-Z\d\-_.]+$")
"""What channels accepts as a group name (and shorter than 100 characters)."""

def classify_error(exc: BaseException) -> tuple[str, str]:
    """(kind, redacted message) of a channel-layer failure: `classify_redis_error`'s kinds,
    and ``out-of-memory`` (channels_redis writes, so an OOM Redis breaks it first)."""
    text = str(exc)
    if text.startswith("OOM") or "used memory > 'maxmemory'" in text:
        return "out-of-memory", f"{ERROR_TEXT['out-of-memory']} ({redact(text)})"
    err = classify_redis_error(exc)
    return err.kind, err.message


class DeliveryNotDue(Exception):
    """The hook skipped this socket: the last delivery was too recent for the Redis budget."""


class NoGroupMembers(Exception):
    """Nobody is in the group: a ``group_send`` to it would reach no socket."""


class DeliveryFailed(Exception):
    """``group_send`` failed; the message starts with the error kind."""


@functools.cache
def channels_redis_missing() -> str | None:
    """None when channels_redis imports; else one line saying so, and what to do (asked once
    per process: the dashboard judges every few seconds)."""
    try:
        import channels_redis.core  # noqa: F401
    except ImportError as exc:
        what = f" ({exc.name} missing)" if exc.name and exc.name != "channels_redis" else ""
        return f"channels_redis is not installed{what}: {EXTRA_HINT}"
    return None


def delivery_user_id(settings: Any) -> str | None:
    """The probe user's id: the ``user_id`` claim of ``--token``, else ``--jwt-user-id``."""
    from wsmonitor.tokens import TokenError, decode_token

    if settings.token:
        try:
            uid = decode_token(settings.token).user_id
        except TokenError:
            uid = None
        if uid:
            return uid
    return str(settings.jwt_user_id) if settings.jwt_user_id else None


def delivery_group(settings: Any) -> tuple[str | None, str | None]:
    """(the probe user's group, None) or (None, why there is none)."""
    uid = delivery_user_id(settings)
    if uid is None:
        return None, ("no user id for the probe's token: give --jwt-secret with --jwt-user-id, "
                      "or a --token with a user_id claim")
    try:
        group = settings.group_template.format(user_id=uid)
    except (KeyError, IndexError, ValueError) as exc:
        return None, f"--group-template {settings.group_template!r} cannot be filled ({exc})"
    if not GROUP_NAME.match(group) or len(group) >= 100:
        return None, (f"--group-template gives {group!r}, not a channel-layer group name: ASCII "
                      "letters, digits, hyphens, underscores and periods, under 100 characters")
    return group, None


def channel_layer_facts(settings: Any, only: set[str] | None = None) -> ChannelLayerFacts:
    """Whether the round trip and the delivery run under these settings, and why not."""
    if settings.kiosk:
        why = "writes to Redis: not run in kiosk mode"
        return ChannelLayerFacts(why, why)
    if not settings.redis_url or (only is not None and "redis" not in only):
        why = "not configured: give --redis-url (or REDIS_URL)"
        return ChannelLayerFacts(why, why if settings.url else
                                 "not configured: give --url and --redis-url")
    missing = channels_redis_missing()
    if missing:
        return ChannelLayerFacts(missing, missing)
    if not settings.url or (only is not None and "handshake" not in only):
        return ChannelLayerFacts(None, "not configured: give --url (the held socket receives "
                                 "the notification)")
    group, why = delivery_group(settings)
    return ChannelLayerFacts(None, why, group, notify_type(settings))


def notify_type(settings: Any) -> str:
    """``--notify-type`` (a settings object without it: the default)."""
    return getattr(settings, "notify_type", None) or NOTIFY_EVENT_TYPE


def layer_hosts(url: str, ca_file: str | None = None,
                connect_timeout: float = DEFAULT_OP_TIMEOUT) -> list[dict[str, Any]]:
    """``hosts`` for RedisChannelLayer: the URL, TLS verification and timeouts (FACTS.md)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    host: dict[str, Any] = {"address": url, "socket_connect_timeout": connect_timeout,
                            "socket_timeout": SOCKET_TIMEOUT, "retry": Retry(NoBackoff(), 0)}
    if parse_redis_url(url).tls:
        host["ssl_cert_reqs"] = "required"
        if ca_file:
            host["ssl_ca_certs"] = ca_file
    return [host]


class ChannelLayerProbe:
    """Round trips through channels_redis on the service's Redis, and deliveries to a socket.

    Args:
        url: The REDIS_URL the service's channel layer uses (its password never leaves here).
        ca_file: CA bundle for ``rediss://``.
        group: The probe user's group; None: `deliver` is not offered.
        budget_per_day: Commands a day the round trips and deliveries together may spend
            (None: no quota, run every `MIN_INTERVAL`).
        op_timeout: Seconds for each of send, receive and group_send.
        prefix: The channel layer's key prefix (channels_redis's default ``asgi``).
        notify_type: The ``type`` of the delivery's ``group_send`` (``--notify-type``).
    """

    name = NAME

    def __init__(self, url: str, *, ca_file: str | None = None, group: str | None = None,
                 budget_per_day: float | None = None, op_timeout: float = DEFAULT_OP_TIMEOUT,
                 prefix: str = "asgi", notify_type: str = NOTIFY_EVENT_TYPE) -> None:
        self._url = url
        self.notify_type = notify_type
        self.ca_file = ca_file
        self.group = group
        self.budget_per_day = budget_per_day
        self.op_timeout = op_timeout
        self.prefix = prefix
        self.timeout = 2 * op_timeout + 3
        """Longest a run may take, seconds."""
        parsed = parse_redis_url(url)
        self.server = parsed.path if parsed.scheme == "unix" else \
            f"{parsed.host}:{parsed.port or 6379}"
        self.tls = parsed.tls
        self.own_commands = 0
        """Commands sent so far (about: channels_redis sends them)."""
        self._layer: Any = None
        self.min_interval = MIN_INTERVAL
        """Least seconds between runs (a time-compressed soak lowers it)."""
        self._base = MIN_INTERVAL
        self._last_delivery: float | None = None

    # --- budget ------------------------------------------------------------------------------

    @property
    def commands_per_run(self) -> int:
        """Commands one cycle spends: a round trip, and a delivery when wired."""
        return ROUND_TRIP_COMMANDS + (DELIVERY_COMMANDS if self.group else 0)

    def steady_interval(self, base: float) -> float:
        """Seconds between round trips (and between deliveries), stretched by the budget."""
        interval = max(base, self.min_interval)
        if self.budget_per_day:
            interval = max(interval, self.commands_per_run * SECONDS_PER_DAY / self.budget_per_day)
        return interval

    def interval(self, base: float) -> float:
        self._base = base
        return self.steady_interval(base)

    def own_commands_per_day(self, base: float) -> float:
        """The probe's projected spend per day at its steady interval."""
        return self.commands_per_run * SECONDS_PER_DAY / self.steady_interval(base)

    def describe(self, base: float) -> dict[str, object]:
        """What a recording needs to show this probe again (no secret in it)."""
        return {"server": self.server, "tls": self.tls, "commands_per_run": self.commands_per_run,
                "budget_per_day": self.budget_per_day,
                "steady_interval": self.steady_interval(base), "timeout": self.timeout,
                "delivery_group": self.group}

    # --- the layer ---------------------------------------------------------------------------

    def _get_layer(self) -> Any:
        if self._layer is None:
            from channels_redis.core import RedisChannelLayer

            self._layer = RedisChannelLayer(
                hosts=layer_hosts(self._url, self.ca_file, self.op_timeout), prefix=self.prefix)
            self.own_commands += CONNECT_COMMANDS
        return self._layer

    async def _drop_layer(self) -> None:
        layer, self._layer = self._layer, None
        if layer is not None:
            try:
                await asyncio.wait_for(layer.close_pools(), 2)
            except Exception:  # noqa: BLE001 - closing a broken pool is best effort
                pass

    async def close(self) -> None:
        """Close the layer's connections (never ``flush()``: that deletes the service's keys)."""
        await self._drop_layer()

    # --- the round trip ----------------------------------------------------------------------

    async def run(self) -> ChannelLayerSample:
        """Send a message to a fresh channel and receive it back; failures become samples."""
        from channels.exceptions import ChannelFull

        started = time.perf_counter()
        phase = "send"
        fields: dict[str, Any] = {}
        before = self.own_commands
        try:
            layer = self._get_layer()
            channel = await layer.new_channel(CHANNEL_PREFIX)
            fields["channel"] = channel
            token = uuid.uuid4().hex
            t0 = time.perf_counter()
            self.own_commands += SEND_COMMANDS
            await asyncio.wait_for(
                layer.send(channel, {"type": ROUND_TRIP_MESSAGE_TYPE, "id": token}),
                self.op_timeout)
            t1 = time.perf_counter()
            fields["send_ms"] = (t1 - t0) * 1000
            phase = "receive"
            self.own_commands += RECEIVE_COMMANDS
            message = await asyncio.wait_for(layer.receive(channel), self.op_timeout)
            t2 = time.perf_counter()
            fields["receive_ms"] = (t2 - t1) * 1000
            fields["round_trip_ms"] = (t2 - t0) * 1000
            if not isinstance(message, dict) or message.get("id") != token:
                return await self._fail(started, phase, before, "mismatch",
                                        f"{ERROR_TEXT['mismatch']} (an earlier run's?)", fields)
            return self._sample(True, started, "done", before, **fields)
        except asyncio.CancelledError:
            await self._drop_layer()
            raise
        except TimeoutError as exc:
            if phase == "receive":
                return await self._fail(started, phase, before, "lost",
                                        f"{ERROR_TEXT['lost']} within {self.op_timeout:g} s",
                                        fields)
            err = classify_redis_error(exc)
            return await self._fail(started, phase, before, err.kind,
                                    f"{err.message} (no answer to send within "
                                    f"{self.op_timeout:g} s)", fields)
        except ChannelFull:
            return await self._fail(started, phase, before, "channel-full",
                                    ERROR_TEXT["channel-full"], fields)
        except Exception as exc:  # noqa: BLE001 - every failure is data
            kind, message = classify_error(exc)
            return await self._fail(started, phase, before, kind, message, fields)

    async def _fail(self, started: float, phase: str, before: int, kind: str, message: str,
                    fields: dict[str, Any]) -> ChannelLayerSample:
        # A fresh layer next time: nothing half-received lingers in this one's buffers.
        await self._drop_layer()
        return self._sample(False, started, phase, before, error=redact(message),
                            error_kind=kind, **fields)

    def _sample(self, ok: bool, started: float, phase: str, before: int,
                **fields: Any) -> ChannelLayerSample:
        for key in ("send_ms", "receive_ms", "round_trip_ms"):
            if fields.get(key) is not None:
                fields[key] = round(fields[key], 3)
        return ChannelLayerSample(
            probe=self.name, at=time.time(), ok=ok,
            duration_ms=round((time.perf_counter() - started) * 1000, 3), server=self.server,
            tls=self.tls, phase=phase, delivery_group=self.group,
            commands=self.own_commands - before, own_commands_total=self.own_commands, **fields)

    # --- delivery ----------------------------------------------------------------------------

    async def deliver(self, nonce: str | None = None) -> None:
        """The held socket's ``on_open`` hook: ``group_send`` a notification to its user's group.

        The event's ``type`` is `notify_type`; the notification (type `PROBE_MESSAGE_TYPE`,
        carrying `nonce` as its ``id``) goes under every key of `FORWARDED_KEYS`, and the
        nonce at the top level too, so whatever the handler forwards (one of those keys, the
        whole event, a JSON string of either) carries it: the socket looks for it anywhere in
        a frame (see `notification_event`).

        Args:
            nonce: The id the held socket looks for (default: a fresh one).

        Raises (the handshake sample keeps what it raised as ``hook_error``):
            DeliveryNotDue: under a quota, the last delivery is more recent than the steady
                interval.
            NoGroupMembers: no channel is in the group (a wrong ``--group-template``, another
                Redis or prefix than the service's).
            DeliveryFailed: Redis failed; the message starts with the error kind.
        """
        if self.group is None:
            raise DeliveryFailed("error: no group to deliver to")
        now = time.monotonic()
        # Paced only under a quota: without one, every held socket gets its notification.
        wait = self.steady_interval(self._base) if self.budget_per_day else 0.0
        if self._last_delivery is not None and now - self._last_delivery < wait:
            left = wait - (now - self._last_delivery)
            raise DeliveryNotDue(f"next delivery in {left:.0f} s (Redis budget)")
        self._last_delivery = now
        group = self.group
        try:
            layer = self._get_layer()
            self.own_commands += 1
            members = await asyncio.wait_for(self._members(layer, group), self.op_timeout)
            if not members:
                raise NoGroupMembers(f"group {group!r} has no member channel: no socket of "
                                     "this user is in it")
            self.own_commands += DELIVERY_COMMANDS - 1
            event = notification_event(self.notify_type, nonce or uuid.uuid4().hex)
            await asyncio.wait_for(layer.group_send(group, event), self.op_timeout)
        except (NoGroupMembers, asyncio.CancelledError):
            raise
        except TimeoutError as exc:
            err = classify_redis_error(exc)
            raise DeliveryFailed(f"{err.kind}: group_send to {group!r} got no answer within "
                                 f"{self.op_timeout:g} s") from None
        except Exception as exc:  # noqa: BLE001 - named for the check
            kind, message = classify_error(exc)
            raise DeliveryFailed(f"{kind}: group_send to {group!r} failed: {message}") from None

    async def _members(self, layer: Any, group: str) -> int:
        # channels_redis 4 keeps a group as a sorted set "<prefix>:group:<name>" scored by the
        # time of group_add; members older than group_expiry are dropped by group_send.
        connection = layer.connection(layer.consistent_hash(group))
        return int(await connection.zcount(f"{self.prefix}:group:{group}",
                                           time.time() - layer.group_expiry, "+inf"))


def notification_event(event_type: str, nonce: str) -> dict[str, Any]:
    """The delivery's group message: `event_type` for the handler, the notification (with
    `nonce` as ``id``) under each of `FORWARDED_KEYS` and as a JSON string under ``text``, and
    the nonce at the top level."""
    message = {"type": PROBE_MESSAGE_TYPE, "id": nonce, "sent_at": time.time(),
               "text": "wsmonitor delivery probe"}
    event: dict[str, Any] = {"type": event_type, "id": nonce, "wsmonitor": nonce}
    event.update({key: message for key in FORWARDED_KEYS})
    # For handlers that send a string as it comes: send(text_data=event["text"]).
    event["text"] = json.dumps(message)
    return event


def channel_layer_probe(settings: Any, only: set[str] | None = None) -> ChannelLayerProbe | None:
    """The probe the settings ask for; None when not configured, in kiosk mode, or when
    channels_redis is not installed (`channel_layer_facts` says why)."""
    facts = channel_layer_facts(settings, only)
    if facts.round_trip is not None:
        return None
    quota = settings.plan.daily_quota
    budget = None if quota is None else quota * settings.redis_budget / 100
    return ChannelLayerProbe(settings.redis_url, ca_file=settings.redis_ca, group=facts.group,
                             budget_per_day=budget, notify_type=facts.notify_type)


def wire_delivery(probe: ChannelLayerProbe, handshake_probes: Any) -> None:
    """Give the held-socket probe the delivery hook (when the probe has a group)."""
    if probe.group is None:
        return
    from wsmonitor.probes.handshake import HOLD_PROBE

    for hp in handshake_probes:
        if getattr(hp, "name", None) == HOLD_PROBE:
            hp.on_open = probe.deliver
