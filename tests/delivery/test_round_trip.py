"""The channel-layer probe against real redis-server processes: round trips over plain and TLS
Redis, its failures as named samples, the delivery hook's group_send, and what it leaves
behind (nothing of its own; the service's keys untouched)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer

from wsmonitor.probes.channel_layer import CONNECT_COMMANDS, DELIVERY_COMMANDS, \
    NOTIFY_EVENT_TYPE, PROBE_MESSAGE_TYPE, ROUND_TRIP_COMMANDS, ChannelLayerProbe, DeliveryFailed, DeliveryNotDue, NoGroupMembers, \
    layer_hosts

from ..conftest import PASSWORD


def leftover_keys(server: Any) -> list[str]:
    return sorted(server.cli("KEYS", "asgi*"))


async def test_round_trip_over_plain_redis(redis_server: Any) -> None:
    # A key of the service's under the same prefix: the probe must never flush() it away.
    redis_server.cli("ZADD", "asgi:group:notifications.user.7", time.time(), "specific.x!y")
    probe = ChannelLayerProbe(redis_server.url)
    counter = redis_server.client()
    counter.ping()  # its own connection set-up happens before the count starts
    try:
        total_before = counter.info()["total_commands_processed"]
        first = await probe.run()
        second = await probe.run()
        total_after = counter.info()["total_commands_processed"]
    finally:
        await probe.close()
        counter.close()
    # the probe's own count is what the server counted (less the first INFO, counted after it),
    # give or take one connection-level command of channels_redis's pools
    assert abs((total_after - total_before - 1) - second.own_commands_total) <= 1
    for s in (first, second):
        assert s.ok and s.error is None and s.error_kind is None, s
        assert s.phase == "done" and s.probe == "channel-layer"
        assert s.channel and s.channel.startswith("wsmonitor.") and "!" in s.channel
        assert s.send_ms is not None and s.receive_ms is not None
        assert s.round_trip_ms == pytest.approx(s.send_ms + s.receive_ms, abs=0.01)
        assert s.server == f"127.0.0.1:{redis_server.port}" and not s.tls
    assert first.commands == ROUND_TRIP_COMMANDS + CONNECT_COMMANDS  # HELLO on connect
    assert second.commands == ROUND_TRIP_COMMANDS
    assert first.channel != second.channel  # a fresh channel every run
    assert second.own_commands_total == 2 * ROUND_TRIP_COMMANDS + CONNECT_COMMANDS
    assert leftover_keys(redis_server) == ["asgi:group:notifications.user.7"]


async def test_round_trip_over_tls_redis_with_its_ca(redis_tls: Any) -> None:
    probe = ChannelLayerProbe(redis_tls.url, ca_file=redis_tls.ca_path)
    try:
        s = await probe.run()
    finally:
        await probe.close()
    assert s.ok and s.tls and s.phase == "done", s
    assert layer_hosts(redis_tls.url, redis_tls.ca_path)[0]["ssl_cert_reqs"] == "required"


async def test_tls_with_an_untrusted_ca_is_tls_verify(redis_tls: Any) -> None:
    probe = ChannelLayerProbe(redis_tls.url, ca_file=redis_tls.other_ca_path)
    try:
        s = await probe.run()
    finally:
        await probe.close()
    assert not s.ok and s.error_kind == "tls-verify", s
    assert s.phase == "send"


async def test_refused_is_a_sample_not_an_exception(unused_port: int) -> None:
    probe = ChannelLayerProbe(f"redis://127.0.0.1:{unused_port}/0")
    try:
        s = await probe.run()
    finally:
        await probe.close()
    assert not s.ok and s.error_kind == "refused" and s.phase == "send", s
    assert s.round_trip_ms is None


async def test_password_is_used_and_never_shown(redis_password: Any) -> None:
    good = ChannelLayerProbe(redis_password.url)
    wrong = ChannelLayerProbe(redis_password.url.replace("%40", "%41"))
    try:
        ok, bad = await good.run(), await wrong.run()
    finally:
        await good.close()
        await wrong.close()
    assert ok.ok, ok
    assert not bad.ok and bad.error_kind == "auth-wrong-password", bad
    for s in (ok, bad):
        text = json.dumps(s.to_dict())
        assert PASSWORD not in text and "p%40ss" not in text and "w%2Frd" not in text


async def test_paused_redis_is_a_timeout_then_recovers(redis_server: Any) -> None:
    probe = ChannelLayerProbe(redis_server.url, op_timeout=1.0)
    try:
        assert (await probe.run()).ok
        redis_server.pause()
        try:
            stuck = await asyncio.wait_for(probe.run(), probe.timeout)
        finally:
            redis_server.resume()
        assert not stuck.ok and stuck.error_kind == "timeout" and stuck.phase == "send", stuck
        assert stuck.duration_ms < probe.timeout * 1000
        again = await probe.run()
        assert again.ok, again
    finally:
        await probe.close()


async def test_redis_at_maxmemory_is_out_of_memory(redis_server: Any) -> None:
    redis_server.cli("CONFIG", "SET", "maxmemory", "1")  # noeviction: writes are refused
    probe = ChannelLayerProbe(redis_server.url)
    try:
        s = await probe.run()
    finally:
        await probe.close()
        redis_server.cli("CONFIG", "SET", "maxmemory", "0")
    assert not s.ok and s.error_kind == "out-of-memory", s
    assert "maxmemory" in (s.error or "")


async def test_delivery_hook_group_sends_to_the_users_group(redis_server: Any) -> None:
    """What a consumer in the group receives from the hook, without Daphne."""
    group = "notifications.user.42"
    consumer = RedisChannelLayer(hosts=[redis_server.url])
    channel = await consumer.new_channel()
    await consumer.group_add(group, channel)
    probe = ChannelLayerProbe(redis_server.url, group=group)
    try:
        await probe.deliver()
        event = await asyncio.wait_for(consumer.receive(channel), 5)
        assert event["type"] == NOTIFY_EVENT_TYPE
        assert event["message"]["type"] == PROBE_MESSAGE_TYPE
        assert abs(event["message"]["sent_at"] - time.time()) < 30
        await probe.deliver()  # no quota: every held socket gets one
        assert (await asyncio.wait_for(consumer.receive(channel), 5))["type"] == "notify"
    finally:
        await probe.close()
    paced = ChannelLayerProbe(redis_server.url, group=group, budget_per_day=1000)
    try:
        await paced.deliver()
        with pytest.raises(DeliveryNotDue, match="next delivery in"):
            await paced.deliver()  # under a quota: one delivery per steady interval
        assert (await asyncio.wait_for(consumer.receive(channel), 5))["type"] == "notify"
    finally:
        await paced.close()
        await consumer.close_pools()


async def test_delivery_uses_the_notify_type_and_carries_the_nonce_everywhere(
        redis_server: Any) -> None:
    """--notify-type picks the handler; the nonce is in whatever part a handler forwards."""
    group = "notifications.user.43"
    consumer = RedisChannelLayer(hosts=[redis_server.url])
    channel = await consumer.new_channel()
    await consumer.group_add(group, channel)
    probe = ChannelLayerProbe(redis_server.url, group=group, notify_type="notification.message")
    try:
        await probe.deliver(nonce="n0nce42")
        event = await asyncio.wait_for(consumer.receive(channel), 5)
    finally:
        await probe.close()
        await consumer.close_pools()
    assert event["type"] == "notification.message"
    assert event["id"] == "n0nce42"
    for key in ("message", "payload", "data", "notification", "content", "body"):
        assert event[key]["id"] == "n0nce42" and event[key]["type"] == PROBE_MESSAGE_TYPE, key
    assert json.loads(event["text"])["id"] == "n0nce42"


async def test_delivery_to_an_empty_group_names_it(redis_server: Any) -> None:
    probe = ChannelLayerProbe(redis_server.url, group="alerts.42")
    try:
        with pytest.raises(NoGroupMembers, match="alerts.42"):
            await probe.deliver()
    finally:
        await probe.close()


async def test_delivery_with_redis_down_names_the_kind(unused_port: int) -> None:
    probe = ChannelLayerProbe(f"redis://127.0.0.1:{unused_port}/0", group="g.1")
    try:
        with pytest.raises(DeliveryFailed, match=r"^refused: group_send to 'g\.1'"):
            await probe.deliver()
    finally:
        await probe.close()


def test_budget_stretches_the_interval() -> None:
    free = ChannelLayerProbe("redis://h:6379/0")
    assert free.steady_interval(2.0) == 15.0 and free.steady_interval(60.0) == 60.0
    # 5 % of 500,000 commands a month (Upstash free): ~822 a day for round trips and deliveries.
    budget = 500_000 / 30.4375 * 0.05
    paced = ChannelLayerProbe("redis://h:6379/0", group="g.1", budget_per_day=budget)
    assert paced.commands_per_run == ROUND_TRIP_COMMANDS + DELIVERY_COMMANDS
    assert paced.own_commands_per_day(2.0) == pytest.approx(budget)
    assert 20 * 60 < paced.steady_interval(2.0) < 30 * 60
    assert paced.describe(2.0)["delivery_group"] == "g.1"
