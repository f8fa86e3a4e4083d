"""The two endpoints and the health check on the real companion under Daphne, with a
password-protected Redis: what they answer, who may read ws-diagnostic, no secret anywhere."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.conftest import PASSWORD

from .harness import SECRET_KEY, CompanionDaphne, Users

SPEC_KEYS = {"redis_configured", "redis_connected", "channel_layer_available", "channel_layer",
             "allowed_hosts", "origin_validator", "asgi_server", "versions"}


def assert_no_secret(text: str, *extra: str) -> None:
    for secret in (PASSWORD, quote(PASSWORD, safe=""), SECRET_KEY, *extra):
        assert secret not in text


def get(daphne: CompanionDaphne, path: str, **kwargs) -> httpx.Response:
    return httpx.get(daphne.base + path, timeout=20, **kwargs)


def test_redis_health_ok(companion: CompanionDaphne) -> None:
    r = get(companion, "/api/redis-health/")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["status"] == "ok" and body["redis"] == "connected"
    assert isinstance(body["round_trip_ms"], float) and body["round_trip_ms"] > 0
    assert "no-cache" in r.headers.get("cache-control", "")
    assert_no_secret(r.text)


def test_ws_diagnostic_with_a_token(companion: CompanionDaphne, users: Users) -> None:
    token = users.token()
    r = get(companion, "/api/ws-diagnostic/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    body = r.json()
    assert SPEC_KEYS <= set(body)
    assert body["redis_configured"] is True and body["redis_connected"] is True
    assert body["channel_layer_available"] is True
    layer = body["channel_layer"]
    assert layer["backend"] == "channels_redis.core.RedisChannelLayer"
    assert layer["error"] is None and layer["round_trip_ms"] > 0
    # The host is shown, its password masked.
    assert layer["hosts"] == [f"redis://:***@127.0.0.1:{companion.env['COMPANION_REDIS_URL'].rsplit(':', 1)[1]}"]
    # From the running app: its settings and the validator in its ASGI application.
    assert body["allowed_hosts"] == ["127.0.0.1", "localhost"]
    assert body["origin_validator"] is True
    assert body["origin_validation"]["validator"] == "AllowedHostsOriginValidator"
    assert body["origin_validation"]["application"] == "companion.asgi:application"
    assert body["origin_validation"]["covers_all_routes"] is True
    assert body["asgi_server"].startswith("daphne 4.")
    assert {"django", "channels", "channels-redis", "redis", "daphne"} <= set(body["versions"])
    assert "uvicorn" not in body["versions"]  # installed, but not what runs
    assert_no_secret(r.text, token)


@pytest.mark.parametrize("case", ["none", "wrong-key", "expired", "refresh", "unknown-user",
                                  "basic", "empty-bearer"])
def test_ws_diagnostic_refuses_bad_credentials(companion: CompanionDaphne, users: Users,
                                               case: str) -> None:
    from wsmonitor.tokens import mint_access_token

    headers = {
        "none": {},
        "wrong-key": {"Authorization": "Bearer " + mint_access_token(
            "another-environment-key-0123456789abcdefghij", users.user_id)},
        "expired": {"Authorization": "Bearer " + users.token(lifetime=-30)},
        "refresh": {"Authorization": "Bearer " + _refresh_token(users)},
        "unknown-user": {"Authorization": "Bearer " + users.token("987654")},
        "basic": {"Authorization": "Basic dXNlcjp1c2VyLXBhc3N3b3JkLTEyMw=="},
        "empty-bearer": {"Authorization": "Bearer"},
    }[case]
    r = get(companion, "/api/ws-diagnostic/", headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    body = r.json()
    assert set(body) == {"detail"}  # nothing of the diagnostic leaks
    assert_no_secret(r.text, *(v.split(" ", 1)[-1] for v in headers.values() if " " in v and
                               len(v.split(" ", 1)[-1]) > 3))


def _refresh_token(users: Users) -> str:
    import time
    import uuid

    import jwt

    now = int(time.time())
    return jwt.encode({"token_type": "refresh", "exp": now + 600, "iat": now,
                       "jti": uuid.uuid4().hex, "user_id": users.user_id}, SECRET_KEY,
                      algorithm="HS256")


def test_ws_diagnostic_sessions_must_be_staff(companion: CompanionDaphne, users: Users) -> None:
    staff = get(companion, "/api/ws-diagnostic/", cookies={"sessionid": users.staff_session})
    assert staff.status_code == 200 and staff.json()["redis_connected"] is True
    plain = get(companion, "/api/ws-diagnostic/", cookies={"sessionid": users.user_session})
    assert plain.status_code == 403 and set(plain.json()) == {"detail"}
    forged = get(companion, "/api/ws-diagnostic/", cookies={"sessionid": "x" * 32})
    assert forged.status_code == 401


def test_only_get(companion: CompanionDaphne, users: Users) -> None:
    r = httpx.post(companion.base + "/api/redis-health/", timeout=20)
    assert r.status_code == 405


def test_health_check_class(companion: CompanionDaphne) -> None:
    r = get(companion, "/health/?format=json")
    assert r.status_code == 200
    assert r.json() == {"ChannelLayerHealthCheck(slow_ms=500.0)": "OK"}


def test_under_uvicorn(tmp_path, users: Users, companion_redis) -> None:  # noqa: ANN001
    daphne = CompanionDaphne(tmp_path, users.db, companion_redis.url, server="uvicorn").start()
    try:
        r = get(daphne, "/api/ws-diagnostic/",
                headers={"Authorization": f"Bearer {users.token()}"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["asgi_server"].startswith("uvicorn 0.")
        assert "uvicorn" in body["versions"] and "daphne" not in body["versions"]
        assert body["redis_connected"] is True and body["origin_validator"] is True
        assert body["origin_validation"]["application"] == "companion.asgi:application"
    finally:
        daphne.stop()
