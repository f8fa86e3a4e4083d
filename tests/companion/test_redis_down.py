"""Redis stopped under a running companion: every answer names the failure, the public one
without a host; after Redis returns, they recover. And manage.py wsmonitor_check from inside."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import RedisServer

from .conftest import start_redis
from .harness import CompanionDaphne, Users, manage
from .test_endpoints import assert_no_secret


@pytest.fixture
def fragile(tmp_path, users: Users) -> Iterator[tuple[CompanionDaphne, RedisServer]]:
    server = start_redis(tmp_path / "redis")
    daphne = CompanionDaphne(tmp_path, users.db, server.url, cache_seconds=0.3,
                             rate_burst=1000, rate_per_second=100).start()
    yield daphne, server
    daphne.stop()
    server.stop()


def poll(fn, deadline: float = 30.0):
    """Call `fn` until it returns something truthy (generous deadline, never a fixed sleep)."""
    end = time.monotonic() + deadline
    while True:
        value = fn()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.2)


def test_redis_stopped_then_back(fragile, users: Users) -> None:
    daphne, server = fragile
    token = users.token()
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(daphne.base + "/api/redis-health/", timeout=30).status_code == 200
    port = server.port
    server.stop()

    health = poll(lambda: (r := httpx.get(daphne.base + "/api/redis-health/", timeout=30))
                  .status_code == 500 and r)
    assert health, "redis-health never reported the stop"
    body = health.json()
    assert body["status"] == "error" and body["redis"] == "refused"
    assert body["round_trip_ms"] is None
    # Public: the kind of failure, never where Redis is.
    assert "127.0.0.1" not in health.text and str(port) not in health.text
    assert_no_secret(health.text)

    diag = httpx.get(daphne.base + "/api/ws-diagnostic/", headers=auth, timeout=30)
    assert diag.status_code == 200
    d = diag.json()
    assert d["redis_configured"] is True and d["redis_connected"] is False
    assert d["channel_layer_available"] is True
    assert d["channel_layer"]["error_kind"] == "refused" and d["redis_error"]
    assert d["channel_layer"]["phase"] == "send"
    assert_no_secret(diag.text, token)

    hc = httpx.get(daphne.base + "/health/?format=json", timeout=30)
    assert hc.status_code == 500
    assert list(hc.json().values())[0].startswith("Unavailable: channel layer round trip "
                                                  "failed: refused")

    check = manage(users.db, daphne.env["COMPANION_REDIS_URL"], "wsmonitor_check", "--json")
    assert check.returncode == 1, check.stderr
    doc = json.loads(check.stdout)
    by_id = {c["id"]: c for c in doc["checks"]}
    assert by_id["redis"]["status"] == "fail" and "refused" in by_id["redis"]["summary"]
    assert by_id["channel-layer"]["status"] == "fail"
    assert by_id["allowed-hosts"]["status"] == "pass"
    assert doc["exit_code"] == 1
    assert_no_secret(check.stdout + check.stderr)

    server.start()  # the same port
    back = poll(lambda: httpx.get(daphne.base + "/api/redis-health/", timeout=30)
                .status_code == 200)
    assert back, "redis-health did not recover"
    d = httpx.get(daphne.base + "/api/ws-diagnostic/", headers=auth, timeout=30).json()
    assert d["redis_connected"] is True and "redis_error" not in d
