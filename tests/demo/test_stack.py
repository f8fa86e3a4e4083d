"""The demo's parts against real clients: the Redis front, the embedded Redis, the fallback
channel layer, the service's endpoints and log, and ``wsmonitor demo`` without redis-server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from wsmonitor.cli import main
from wsmonitor.demo.service import origin_allowed
from wsmonitor.demo.stack import DemoStack
from wsmonitor.tokens import mint_access_token

from .conftest import Monitor, start


def test_origin_validation_is_djangos() -> None:
    allowed = ("127.0.0.1", "localhost", ".example.com")
    assert origin_allowed("http://127.0.0.1:8000", allowed)  # the port is ignored
    assert origin_allowed("https://LOCALHOST", allowed)
    assert origin_allowed("https://example.com", allowed)
    assert origin_allowed("https://app.example.com", allowed)
    assert not origin_allowed("https://evil-example.com", allowed)
    assert not origin_allowed("https://wsmonitor-wrong-origin.invalid", allowed)
    assert not origin_allowed(None, allowed)
    assert not origin_allowed("null", allowed)
    assert not origin_allowed("http://[::1", allowed)
    assert origin_allowed("https://anything.test", ("*",))


async def test_service_speaks_the_runbooks_protocol(demo: DemoStack) -> None:
    token = mint_access_token(demo.secret, demo.user_id)
    origin = "http://127.0.0.1"
    async with connect(f"{demo.url}?token={token}", origin=origin) as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv()) == {"type": "connection.ack"}
        await ws.send(json.dumps({"type": "ping"}))
        kinds = set()
        while "pong" not in kinds:
            kinds.add(json.loads(await asyncio.wait_for(ws.recv(), 5))["type"])
        # a notification every few seconds, through the channel layer
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["type"] == "notification" and message["recipient"] == demo.user_id
    for url, origin_sent in ((f"{demo.url}?token={token}", "https://evil.example.com"),
                             (demo.url, origin),
                             (f"{demo.url}?token={mint_access_token('other-key-' * 4, '1')}",
                              origin),
                             (f"{demo.url}?token={mint_access_token(demo.secret, '2')}", origin)):
        with pytest.raises(InvalidStatus) as rejected:
            await connect(url, origin=origin_sent)  # type: ignore[arg-type]
        assert rejected.value.response.status_code == 403
        assert rejected.value.response.reason_phrase == "Access denied"
    async with httpx.AsyncClient(base_url=demo.api_base) as client:
        health = await client.get("/api/redis-health/")
        assert (health.status_code, health.json()) == (200, {"status": "ok",
                                                             "redis": "connected"})
        denied = await client.get("/api/ws-diagnostic/")
        assert denied.status_code == 401 and "Bearer" in denied.headers["www-authenticate"]
        diag = await client.get("/api/ws-diagnostic/",
                                headers={"Authorization": f"Bearer {token}"})
        assert diag.json() == {"redis_configured": True, "redis_connected": True,
                               "channel_layer_available": True}
        polling = await client.get("/api/notifications/",
                                   headers={"Authorization": f"Bearer {token}"})
        body = polling.json()
        assert polling.status_code == 200 and set(body) == {"count", "unread", "results"}
        assert body["count"] >= 1
        assert (await client.get("/ws/notifications/")).status_code == 404
    log = Path(demo.log_file).read_text()
    for line in ('"WSCONNECTING /ws/notifications/"', '"WSCONNECT /ws/notifications/"',
                 '"WSREJECT /ws/notifications/"', '"WSDISCONNECT /ws/notifications/"',
                 '"GET /api/redis-health/" 200', "WebSocket connection rejected: anonymous user"):
        assert line in log, line
    # Daphne logs the path, never the query string: no token reaches the log
    assert token not in log and "token=" not in log


async def test_service_failures_are_logged_as_daphne_does(demo: DemoStack) -> None:
    demo.set_fault("redis-down")
    async with httpx.AsyncClient(base_url=demo.api_base) as client:
        health = await client.get("/api/redis-health/")
    assert health.status_code == 500 and health.json()["status"] == "error"
    token = mint_access_token(demo.secret, demo.user_id)
    with pytest.raises(InvalidStatus) as failed:
        await connect(f"{demo.url}?token={token}", origin="http://127.0.0.1")  # type: ignore[arg-type]
    assert failed.value.response.status_code == 500
    log = Path(demo.log_file).read_text()
    assert "ERROR django.channels.server Exception inside application: Error 111" in log
    assert "Traceback (most recent call last):" in log
    assert "redis.exceptions.ConnectionError" in log
    assert demo.secret not in log


def test_front_forwards_resp2_resp3_and_pipelines(demo: DemoStack) -> None:
    for protocol in (2, 3):
        client = redis.Redis.from_url(demo.redis_url, protocol=protocol)
        client.hset("demo-test:h", mapping={"a": "1", "b": "2"})
        assert client.hgetall("demo-test:h") == {b"a": b"1", b"b": b"2"}  # a map in RESP3
        big = os.urandom(1 << 20)
        client.set("demo-test:big", big)
        assert client.get("demo-test:big") == big
        with client.pipeline(transaction=True) as pipe:
            for i in range(200):
                pipe.incr("demo-test:n")
            results = pipe.execute()
        assert results[-1] - results[0] == 199
        assert client.bzpopmin(["demo-test:none"], timeout=0.2) is None
        client.delete("demo-test:h", "demo-test:big", "demo-test:n")
        client.close()


def test_front_plays_the_cap_the_quota_and_the_outage(demo: DemoStack) -> None:
    held = redis.Redis.from_url(demo.redis_url, single_connection_client=True)
    held.ping()
    time.sleep(1.1)  # settled: counted in the cap
    assert demo.front is not None
    before = demo.front.rejected
    demo.set_fault("redis-max-clients")
    with pytest.raises(redis.ConnectionError, match="max number of clients reached"):
        redis.Redis.from_url(demo.redis_url).ping()
    info = held.info()
    assert info["connected_clients"] >= info["maxclients"]
    assert info["rejected_connections"] >= 1
    # the service retries its fresh connections at its own pace, not in a storm
    assert demo.front.rejected - before <= 10
    demo.set_fault("redis-max-clients", False)
    demo.set_fault("quota-exceeded")
    with pytest.raises(redis.ResponseError, match="max daily request limit exceeded"):
        held.ping()
    demo.set_fault("quota-exceeded", False)
    assert held.ping()
    demo.set_fault("redis-down")
    with pytest.raises(redis.ConnectionError):
        held.ping()
    with pytest.raises(redis.ConnectionError, match="111|refused"):
        redis.Redis.from_url(demo.redis_url, socket_connect_timeout=1).ping()
    demo.set_fault("redis-down", False)
    assert redis.Redis.from_url(demo.redis_url).ping()  # the same port listens again
    held.close()


async def test_embedded_redis_and_plain_layer_give_the_same_verdicts() -> None:
    stack = start(redis="embedded", layer="plain", workers=1)
    try:
        assert (stack.redis_kind, stack.layer_kind) == ("embedded", "plain redis")
        assert stack.redis is not None and stack.redis.process is None  # no redis-server
        info = redis.Redis.from_url(stack.redis_url).info()
        assert str(info["redis_version"]).startswith("fakeredis")
        monitor = Monitor(stack)
        diagnosis, results, _ = await monitor.verdict()
        assert diagnosis.layer == "none", diagnosis.summary
        assert results["redis-connections"].status == "pass"
        diagnosis, results, history = await monitor.verdict("redis-down")
        assert history["handshake:token+origin"][-1].classification == "server-error"
        assert diagnosis.layer == "redis"
    finally:
        stack.stop()
    assert not Path(stack.log_file).exists()  # its directory is gone


def test_demo_without_redis_server_on_path(tmp_path: Path) -> None:
    """`wsmonitor demo --target-only` with a PATH that has no redis-server: the embedded Redis
    serves, `wsmonitor check` judges it healthy, then names a fault switched on stdin."""
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WSMONITOR_URL")}
    env["PATH"] = str(bare)
    proc = subprocess.Popen([sys.executable, "-m", "wsmonitor", "demo", "--target-only"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        lines = []
        deadline = time.monotonic() + 60
        while not lines or not lines[-1].startswith("commands:"):
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, (lines, proc.stderr.read()
                                                          if proc.stderr else "")
            lines.append(line.rstrip("\n"))
        out = "\n".join(lines)
        assert "embedded Redis" in out, out
        config = next(line.split()[1] for line in lines if line.strip().startswith("config"))
        assert os.stat(config).st_mode & 0o077 == 0  # the signing key's file is private

        def check() -> tuple[int, dict]:
            done = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--config",
                                   config, "--json", "--hold", "1", "--samples", "2"],
                                  capture_output=True, text=True, env=env, timeout=120)
            return done.returncode, json.loads(done.stdout)

        code, report = check()
        assert report["diagnosis"]["layer"] == "none", report["diagnosis"]
        assert code == 0
        proc.stdin.write("on redis-down\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ok faults on: redis-down"
        code, report = check()
        assert code == 1 and report["diagnosis"]["layer"] == "redis"
        secret = Path(config).read_text().split('jwt-secret = "')[1].split('"')[0]
        assert secret not in out and secret not in json.dumps(report)
        proc.stdin.write("bogus\nquit\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("error commands:")
        assert proc.wait(30) == 0
        assert not os.path.exists(config)  # the demo removed its directory
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_demo_bad_input_is_one_line(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    assert main(["demo", "--fault", "redis-slow"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wsmonitor: error: argument --fault: invalid choice: 'redis-slow'")
    assert err.count("\n") == 1
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["demo", "--redis", "redis-server"]) == 2
    err = capsys.readouterr().err
    assert err == ("wsmonitor: error: redis-server is not on PATH: install it (Debian: "
                   "apt-get install -y redis-server) or use --redis embedded\n")
