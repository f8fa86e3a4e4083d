"""`LoggedConsumerMixin` on the companion's consumer under Daphne: each event of a socket's life
is logged in words wsmonitor's log classifier reads (categories checked with its own rules), and
the consumer answers on the wire exactly as Channels makes it answer without the mixin."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsmonitor.log_rules import classify_lines

from .harness import Users
from .test_redis_down import fragile, poll  # noqa: F401 - the fixture


def events(log: str) -> list[tuple[str, str | None, tuple[str, ...]]]:
    """The mixin's events in Daphne's output: (text, category, tags)."""
    out = []
    for text, c in classify_lines(log.splitlines()):
        if "wsmonitor.django.consumers" in text:
            out.append((text, c.category, c.tags))
    return out


def find(evts, needle: str):
    hits = [e for e in evts if needle in e[0]]
    assert hits, f"no event with {needle!r} in {[e[0][:120] for e in evts]}"
    return hits[-1]


async def test_socket_life_is_logged_and_classified(fragile, users: Users) -> None:  # noqa: F811
    daphne, server = fragile
    origin = f"http://127.0.0.1:{daphne.port}"
    token = users.token()
    url = f"{daphne.ws_url}?token={token}"

    # Accepted, then a clean close by the client.
    async with connect(url, origin=origin, open_timeout=20) as ws:
        assert json.loads(await ws.recv()) == {"type": "connection.ack"}
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}
    # No token: the consumer closes before accept(), Daphne answers 403 (as without the mixin).
    with pytest.raises(InvalidStatus) as refused:
        async with connect(daphne.ws_url, origin=origin, open_timeout=20):
            pass
    assert refused.value.response.status_code == 403
    # An exception in a handler: raised on, so Daphne closes the socket 1011.
    async with connect(url, origin=origin, open_timeout=20) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "boom"}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 20)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    # Redis stopped: group_add raises in connect(); the handshake fails with 500 as before.
    server.stop()
    with pytest.raises(InvalidStatus) as failed:
        async with connect(url, origin=origin, open_timeout=20):
            pass
    assert failed.value.response.status_code == 500

    evts = poll(lambda: (e := events(daphne.log())) and
                any("Error during WebSocket connect" in x[0] for x in e) and e)
    assert evts
    attempt = find(evts, "WebSocket connection attempt to /ws/notifications/")
    assert attempt[1] is None and f"(user {users.user_id})" in attempt[0]
    accepted = find(evts, "WebSocket connected: /ws/notifications/")
    assert accepted[1] is None
    rejected = find(evts, "WebSocket connection rejected: anonymous user")
    assert rejected[1] == "auth-rejected" and "close(code=4401)" in rejected[0]
    handler = find(evts, "Error in WebSocket handler for websocket.receive")
    assert handler[1] == "traceback" and "RuntimeError: the consumer's own bug" in handler[0]
    connect_error = find(evts, "Error during WebSocket connect")
    assert connect_error[1] == "redis-error" and "connect-error" in connect_error[2]
    disconnected = find(evts, "WebSocket disconnected with code")
    assert disconnected[1] is None
    # The token (in the query string) is never logged.
    assert token not in daphne.log()
