"""The tests' Django target under Daphne, uvicorn (``--ws websockets``) and hypercorn: the
fingerprint names the server, and the layers hold under each — healthy is ``none``, a wrong
Origin is ``origin``, Redis stopped is ``redis`` (or ``channel-layer``), and with only the
handshake probed, a 500 on the authenticated variant while the rejected ones get 403 at once
is ``channel-layer``, ``likely``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import SOCKET_TIMEOUT, judged, start_app
from .servers import ASGI_SERVERS


@pytest.mark.parametrize("server", ASGI_SERVERS)
async def test_layers_hold_under_each_asgi_server(server: str,
                                                  tmp_path_factory: pytest.TempPathFactory,
                                                  target_db: tuple[Path, str]) -> None:
    # A consumer without the runbook's Fix 3: connect()'s exception escapes (every server
    # answers 500), so auth and Origin rejections stay told apart from a lost channel layer.
    app = start_app(tmp_path_factory.mktemp(server), target_db, server, connect_errors="raise")
    try:
        d, r, pf = await judged(**app.flags(redis_url=app.redis.url + SOCKET_TIMEOUT))
        assert pf.app_server == server and pf.front == "none", pf
        failing = {cid: c.summary for cid, c in r.items() if c.status == "fail"}
        assert not failing, failing
        assert d.layer == "none", d

        d, r, _ = await judged(**app.flags(origin="https://evil.example.com"))
        assert r["allowed-hosts"].status == "fail", r["allowed-hosts"]
        assert d.layer == "origin", d

        app.redis.stop()
        d, r, _ = await judged(**app.flags(redis_url=app.redis.url + SOCKET_TIMEOUT))
        assert r["redis-reachable"].status == "fail"
        assert d.layer in ("redis", "channel-layer"), d

        d, r, pf = await judged(only="handshake", **app.flags())
        assert r["handshake-101"].status == "fail" and "server-error" in \
            r["handshake-101"].summary, r["handshake-101"]
        assert d.layer == "channel-layer" and d.confidence == "likely", d
        assert "--redis-url" in d.summary
    finally:
        app.asgi.stop()
        app.redis.stop()


@pytest.mark.parametrize("server", ASGI_SERVERS)
async def test_connect_stalled_on_redis_is_channel_layer_under_each_server(
        server: str, tmp_path_factory: pytest.TempPathFactory,
        target_db: tuple[Path, str]) -> None:
    # Redis paused: Daphne drops the handshake at 4-6 s, uvicorn at its 10 s handshake
    # timeout, hypercorn not before redis-py's 30 s socket timeout (FACTS.md).
    app = start_app(tmp_path_factory.mktemp(f"stall-{server}"), target_db, server)
    try:
        app.redis.pause()
        d, r, _ = await judged(only="handshake", **app.flags())
        assert r["handshake-101"].status == "fail", r["handshake-101"]
        assert d.layer == "channel-layer" and d.confidence == "likely", d
    finally:
        app.asgi.stop()
        app.redis.stop()


async def test_uvicorn_without_a_socket_timeout_drops_sockets_channel_layer(
        tmp_path_factory: pytest.TempPathFactory, target_db: tuple[Path, str]) -> None:
    # FACTS.md: redis-py 8's 5 s socket_timeout races channels_redis's BZPOPMIN; uvicorn
    # then drops the held socket (1006) ~5 s after the last traffic. No proxy is in front,
    # so it is not an idle timeout.
    from tests.handshake.processes import RedisProcess

    from .conftest import App
    from .servers import AsgiProcess

    work = tmp_path_factory.mktemp("uvicorn-race")
    redis = RedisProcess(work)
    redis.start()
    asgi = AsgiProcess("uvicorn", work, db=target_db[0], redis_url=redis.url)
    try:
        asgi.start()
        from tests.handshake.processes import SECRET_KEY

        app = App(asgi, redis, target_db[1], SECRET_KEY)
        d, r, pf = await judged(only="handshake", hold=9.0, **app.flags())
        assert r["stays-open"].status == "fail" and "1006" in r["stays-open"].summary
        assert pf.front == "none" and pf.app_server == "uvicorn", pf
        assert d.layer == "channel-layer" and d.confidence == "likely", d
        assert "socket_timeout" in d.remedy
    finally:
        asgi.stop()
        redis.stop()
