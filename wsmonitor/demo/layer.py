"""The demo service's channel layer: channels_redis when installed, else the same pattern on
plain redis-py.

With channels_redis (the ``channels`` extra, or the test dependencies) the demo consumer uses
its ``RedisChannelLayer`` with the default prefix, so a ``group_send`` to
``notifications.user.<id>`` from any channels_redis client on the same Redis reaches the
demo's sockets, as it would reach a Django Channels service. Without it, `PlainRedisLayer`
keeps the same interface and the same Redis traffic shape (a group sorted set, one list per
channel, a blocking pop with a 5 s timeout), but its wire format is its own.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Protocol

import redis.asyncio as aioredis

SMOKE_TIMEOUT = 2.0
"""Seconds each step of the diagnostic views' send/receive smoke test may take."""


class ChannelLayer(Protocol):
    """The part of a Channels layer the demo uses."""

    async def new_channel(self, prefix: str = "specific.") -> str: ...

    async def send(self, channel: str, message: dict[str, Any]) -> None: ...

    async def receive(self, channel: str) -> dict[str, Any]: ...

    async def group_add(self, group: str, channel: str) -> None: ...

    async def group_discard(self, group: str, channel: str) -> None: ...

    async def group_send(self, group: str, message: dict[str, Any]) -> None: ...


LAYERS = ("auto", "channels_redis", "plain")
"""What `make_layer` accepts: ``auto`` takes channels_redis when it is installed."""


def make_layer(url: str, kind: str = "auto") -> tuple[Any, str]:
    """The layer for `url` and what it is (``channels_redis`` or ``plain redis``).

    Must be called on the event loop that will use the layer.

    Raises:
        ImportError: ``channels_redis`` asked for but not installed.
    """
    if kind != "plain":
        try:
            from channels_redis.core import RedisChannelLayer
        except ImportError:
            if kind == "channels_redis":
                raise
        else:
            return RedisChannelLayer(hosts=[url]), "channels_redis"
    return PlainRedisLayer(url), "plain redis"


async def close_layer(layer: Any) -> None:
    """Release the layer's connections."""
    closer = getattr(layer, "close_pools", None) or getattr(layer, "close", None)
    if closer is not None:
        try:
            await asyncio.wait_for(closer(), 3)
        except Exception:  # noqa: BLE001 - shutting down a broken Redis
            pass


async def drop_idle_connections(layer: Any) -> None:
    """Disconnect the layer's idle pooled connections (after Redis came back, they are dead:
    channels_redis's pools do not retry, so each would fail once)."""
    clients = []
    if isinstance(layer, PlainRedisLayer):
        clients.append(layer.client)
    for loop_layer in list(getattr(layer, "_layers", {}).values()):
        clients.extend(getattr(loop_layer, "_connections", {}).values())
    for client in clients:
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            try:
                await pool.disconnect(inuse_connections=False)
            except Exception:  # noqa: BLE001
                pass


async def smoke(layer: Any) -> None:
    """The runbook's channel-layer test that works: send, then receive, on a fresh channel."""
    channel = await layer.new_channel()
    await asyncio.wait_for(layer.send(channel, {"type": "wsmonitor.smoke"}), SMOKE_TIMEOUT)
    await asyncio.wait_for(layer.receive(channel), SMOKE_TIMEOUT)


class PlainRedisLayer:
    """channels_redis's Redis pattern on redis-py alone (when channels_redis is absent).

    Args:
        url: The Redis URL.
        prefix: Key prefix (channels_redis's default is ``asgi``).
        expiry: Seconds a message waits in a channel.
        group_expiry: Seconds a group membership lasts.
    """

    def __init__(self, url: str, *, prefix: str = "asgi", expiry: int = 60,
                 group_expiry: int = 86400) -> None:
        self.client = aioredis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=3)
        self.prefix = prefix
        self.expiry = expiry
        self.group_expiry = group_expiry

    async def new_channel(self, prefix: str = "specific.") -> str:
        return f"{prefix}{uuid.uuid4().hex}!{uuid.uuid4().hex[:12]}"

    def _key(self, channel: str) -> str:
        return f"{self.prefix}:{channel}"

    def _group(self, group: str) -> str:
        return f"{self.prefix}:group:{group}"

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.rpush(self._key(channel), json.dumps(message))
            pipe.expire(self._key(channel), self.expiry)
            await pipe.execute()

    async def receive(self, channel: str) -> dict[str, Any]:
        while True:
            item = await self.client.blpop([self._key(channel)], timeout=5)
            if item is not None:
                message: dict[str, Any] = json.loads(item[1])
                return message

    async def group_add(self, group: str, channel: str) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(self._group(group), {channel: time.time()})
            pipe.expire(self._group(group), self.group_expiry)
            await pipe.execute()

    async def group_discard(self, group: str, channel: str) -> None:
        await self.client.zrem(self._group(group), channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        key = self._group(group)
        await self.client.zremrangebyscore(key, 0, time.time() - self.group_expiry)
        for member in await self.client.zrange(key, 0, -1):
            await self.send(member.decode(), message)

    async def close(self) -> None:
        await self.client.aclose()
