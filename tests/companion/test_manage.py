"""``python manage.py wsmonitor_check [--json]`` in the companion project, as a one-off container
task runs it: exit codes, one line per check, JSON, ALLOWED_HOSTS and Origins, bad input."""

from __future__ import annotations

import json

from tests.servers import RedisServer

from .harness import Users, manage
from .test_endpoints import assert_no_secret

IDS = ["redis-url", "redis", "channel-layer", "allowed-hosts", "origin-validator"]


def test_healthy_text_and_json(users: Users, companion_redis: RedisServer) -> None:
    text = manage(users.db, companion_redis.url, "wsmonitor_check")
    assert text.returncode == 0, text.stdout + text.stderr
    lines = text.stdout.strip().splitlines()
    assert len(lines) == len(IDS)
    assert [line.split()[1] for line in lines] == IDS
    status = {line.split()[1]: line.split()[0] for line in lines}
    # The test URL has no socket_timeout: wsmonitor's own linter warns (FACTS: channels_redis#422).
    assert status == {"redis-url": "WARN", "redis": "PASS", "channel-layer": "PASS",
                      "allowed-hosts": "PASS", "origin-validator": "PASS"}
    assert "socket_timeout" in lines[0]
    assert "AllowedHostsOriginValidator" in lines[4]
    assert_no_secret(text.stdout + text.stderr)

    doc = json.loads(manage(users.db, companion_redis.url, "wsmonitor_check", "--json").stdout)
    assert [c["id"] for c in doc["checks"]] == IDS and doc["exit_code"] == 0
    layer = next(c for c in doc["checks"] if c["id"] == "channel-layer")
    assert layer["summary"].startswith("send → receive on a fresh channel in")
    assert any("redis://:***@127.0.0.1" in e for e in layer["evidence"])
    assert doc["versions"]["django"].startswith("5.")


def test_origins(users: Users, companion_redis: RedisServer) -> None:
    wrong = manage(users.db, companion_redis.url, "wsmonitor_check", "--json",
                   "--origin", "https://app.example.com")
    assert wrong.returncode == 1
    check = {c["id"]: c for c in json.loads(wrong.stdout)["checks"]}["allowed-hosts"]
    assert check["status"] == "fail" and "app.example.com is not in ALLOWED_HOSTS" in \
        check["summary"]
    right = manage(users.db, companion_redis.url, "wsmonitor_check",
                   "--origin", "http://localhost:3000", "--origin", "https://127.0.0.1")
    assert right.returncode == 0, right.stdout
    assert "2 Origin(s) allowed" in right.stdout


def test_allowed_hosts_wrong(users: Users, companion_redis: RedisServer) -> None:
    empty = manage(users.db, companion_redis.url, "wsmonitor_check", allowed_hosts=",")
    assert empty.returncode == 1
    line = next(x for x in empty.stdout.splitlines() if x.split()[1] == "allowed-hosts")
    assert line.startswith("FAIL") and "ALLOWED_HOSTS is empty" in line
    star = manage(users.db, companion_redis.url, "wsmonitor_check", allowed_hosts="*")
    assert star.returncode == 0
    line = next(x for x in star.stdout.splitlines() if x.split()[1] == "allowed-hosts")
    assert line.startswith("WARN") and "every Origin is accepted" in line


def test_no_origin_validator(users: Users, companion_redis: RedisServer) -> None:
    out = manage(users.db, companion_redis.url, "wsmonitor_check", validator="none")
    assert out.returncode == 0
    line = next(x for x in out.stdout.splitlines() if x.split()[1] == "origin-validator")
    assert line.startswith("WARN") and "no Origin validator" in line
    wrong = manage(users.db, companion_redis.url, "wsmonitor_check", "--origin",
                   "https://app.example.com", validator="none")
    line = next(x for x in wrong.stdout.splitlines() if x.split()[1] == "allowed-hosts")
    assert wrong.returncode == 0 and line.startswith("WARN") and "gets through" in line


def test_broken_url_and_wrong_password(users: Users, companion_redis: RedisServer) -> None:
    # A raw '/' and '#' in the password: wsmonitor's linter says so; Redis is not reached.
    from tests.conftest import PASSWORD

    raw = f"redis://:{PASSWORD}@127.0.0.1:{companion_redis.port}/0"
    out = manage(users.db, raw, "wsmonitor_check", "--json")
    assert out.returncode == 1
    checks = {c["id"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["redis-url"]["status"] == "fail"
    assert "unencoded" in checks["redis-url"]["summary"]
    assert_no_secret(out.stdout + out.stderr)
    wrong = f"redis://:not-the-password@127.0.0.1:{companion_redis.port}/0"
    out = manage(users.db, wrong, "wsmonitor_check")
    assert out.returncode == 1
    line = next(x for x in out.stdout.splitlines() if x.split()[1] == "redis")
    assert line.startswith("FAIL") and "auth-wrong-password" in line
    assert "not-the-password" not in out.stdout + out.stderr


def test_bad_input(users: Users, companion_redis: RedisServer) -> None:
    out = manage(users.db, companion_redis.url, "wsmonitor_check", "--origin", "app.example.com")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "wsmonitor: error: --origin 'app.example.com' is not an Origin: give "
        "https://app.example.com"]
    out = manage(users.db, companion_redis.url, "wsmonitor_check", "--timeout", "0")
    assert out.returncode == 2 and out.stderr.startswith("wsmonitor: error:")
