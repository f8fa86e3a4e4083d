"""The command line: bad input is one line and exit 2, with no secret echoed; check exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET_PW = "Sup3r:s3cr/t@pw#x"
"""Raw '/' and '#' make it unusable in a URL: exit 2 when given unencoded."""
SECRET_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiNDIifQ.c2lnbmF0dXJlLXNlY3JldA"


def run(*args: str, env: dict[str, str] | None = None, cwd: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("WSMONITOR_") and k not in ("REDIS_URL", "AWS_ENDPOINT_URL")}
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "wsmonitor", *args], capture_output=True,
                          text=True, env=base, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_usage_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("wsmonitor: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    for secret in (SECRET_PW, SECRET_TOKEN, "s3cr", "c2lnbmF0dXJl"):
        assert secret not in proc.stderr and secret not in proc.stdout
    return lines[0]


@pytest.mark.parametrize(("args", "needles"), [
    (["check", "--url", "http://app.example.com/ws/"], ["--url", "ws://", "wss://"]),
    (["check", "--url", "wss://app.example.com:99999/ws/"], ["--url", "port"]),
    (["check", "--url", "wss://"], ["--url", "no host"]),
    (["check", "--redis-url", "redis://localhost:70000/0"], ["--redis-url", "65535"]),
    (["check", "--redis-url", "http://localhost:6379"], ["--redis-url", "rediss://"]),
    (["check", "--redis-url", "localhost:6379"], ["--redis-url", "scheme"]),
    (["check", "--redis-url", f"rediss://default:{SECRET_PW}@eu1.upstash.io:6379/0"],
     ["URL-encode", "rediss://default:***@eu1.upstash.io:6379/0"]),
    (["check", "--redis-url", "rediss://h:6379/0", "--redis-ca", "/nonexistent/ca.pem"],
     ["/nonexistent/ca.pem", "does not exist"]),
    (["check", "--redis-url", "redis://h:6379/0", "--redis-plan", "gold"],
     ["gold", "upstash-free"]),
    (["check", "--interval", "0", "--redis-url", "redis://h/0"], ["--interval", "positive"]),
    (["check", "--interval", "-3", "--redis-url", "redis://h/0"], ["--interval"]),
    (["check", "--interval", "abc"], ["--interval", "abc"]),
    (["check", "--redis-budget", "0", "--redis-url", "redis://h/0"], ["--redis-budget"]),
    (["check", "--redis-budget", "150", "--redis-url", "redis://h/0"], ["--redis-budget"]),
    (["check", "--max-commands", "lots", "--redis-url", "redis://h/0"], ["--max-commands"]),
    (["check", "--max-connections", "0", "--redis-url", "redis://h/0"], ["--max-connections"]),
    (["check", "--only", "redis,bogus"], ["--only", "bogus"]),
    (["check", "--theme", "neon"], ["--theme", "neon", "high-contrast"]),
    (["check", "--config", "/nonexistent/wsmonitor.toml"], ["/nonexistent/wsmonitor.toml"]),
    (["check", "--no-such-flag"], ["--no-such-flag"]),
    (["check", "--notify-type", ""], ["--notify-type ''", "notification.message"]),
    (["check", "--notify-type", "notification message"],
     ["'notification message'", "letters, digits, dots, underscores and hyphens"]),
    (["check", "--notify-type", " notify"], ["' notify'", "--notify-type"]),
    (["check", "--notify-type", "_private"], ["'_private'", "starting with a letter or digit"]),
    (["check", "--notify-type", "chat/message"], ["'chat/message'", "--notify-type"]),
    (["frobnicate"], ["frobnicate"]),
    # an empty log source would tail nothing and pass: say so
    (["check", "--log-file", ""], ["--log-file", "empty", "path"]),
    (["check", "--log-file", "  "], ["--log-file", "empty"]),
    (["check", "--log-command", ""], ["--log-command is empty", "kubectl"]),
    (["check", "--log-group", ""], ["--log-group", "empty", "log group"]),
    (["check", "--log-group", "/aws/web", "--log-group", " "], ["--log-group", "empty"]),
    (["check", "--apprunner-service", ""], ["--apprunner-service", "empty"]),
    (["dashboard", "--log-file", ""], ["--log-file", "empty"]),
])
def test_bad_input_is_one_line_exit_2(args: list[str], needles: list[str]) -> None:
    assert_usage_error(run(*args, "--token", SECRET_TOKEN), *needles)


def test_secret_in_malformed_url_is_not_echoed() -> None:
    line = assert_usage_error(run("check", "--redis-url",
                                  f"redis://user:{SECRET_PW}@host:notaport/0"))
    assert "***" in line


def test_bad_url_from_environment_is_redacted() -> None:
    proc = run("check", env={"REDIS_URL": f"ftp://user:{SECRET_PW}@host:21/"})
    assert_usage_error(proc, "--redis-url", "ftp")


def test_unknown_config_key(tmp_path: Path) -> None:
    (tmp_path / "wsmonitor.toml").write_text('redis-url = "redis://127.0.0.1:1/0"\ncolour = 1\n')
    assert_usage_error(run("check", cwd=str(tmp_path)), "colour", "wsmonitor.toml")


def test_invalid_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("redis-url = \n")
    assert_usage_error(run("check", "--config", str(cfg)), "bad.toml", "TOML")


def test_unreadable_config(tmp_path: Path) -> None:
    cfg = tmp_path / "dir.toml"
    cfg.mkdir()
    assert_usage_error(run("check", "--config", str(cfg)), "dir.toml")


def test_wrong_type_in_config(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text('interval = "often"\n')
    assert_usage_error(run("check", "--config", str(cfg)), "interval", "often")


def test_bad_notify_type_in_config(tmp_path: Path) -> None:
    cfg = tmp_path / "n.toml"
    cfg.write_text('notify-type = "notify me"\n')
    assert_usage_error(run("check", "--config", str(cfg)), "--notify-type", "'notify me'")


def test_notify_type_from_config_reaches_the_settings(tmp_path: Path) -> None:
    from wsmonitor.config import load_settings

    cfg = tmp_path / "n.toml"
    cfg.write_text('notify-type = "notification.message"\n')
    assert load_settings({}, config_path=str(cfg), environ={}).notify_type == \
        "notification.message"
    assert load_settings({"notify_type": "chat-event_1"}, config_path=str(cfg),
                         environ={}).notify_type == "chat-event_1"
    assert load_settings({}, environ={}, cwd=str(tmp_path)).notify_type == "notify"
def test_empty_log_file_in_config(tmp_path: Path) -> None:
    cfg = tmp_path / "wsmonitor.toml"
    cfg.write_text('log-file = ""\n')
    assert_usage_error(run("check", "--config", str(cfg)), "--log-file", "empty")
    cfg.write_text('log-group = ["/aws/web", ""]\n')
    assert_usage_error(run("check", "--config", str(cfg)), "--log-group", "empty")


def test_invalid_theme_file(tmp_path: Path) -> None:
    theme = tmp_path / "mine.toml"
    theme.write_text('primary = "#12"\n')
    assert_usage_error(run("check", "--theme", str(theme)), "mine.toml", "primary")


def test_dashboard_with_nothing_to_watch_says_what_to_give() -> None:
    assert_usage_error(run(), "--redis-url", "wsmonitor demo")


def test_precedence_flag_over_env_over_config(tmp_path: Path, redis_server) -> None:  # noqa: ANN001
    (tmp_path / "wsmonitor.toml").write_text('redis-url = "redis://127.0.0.1:1/0"\n'
                                             'redis-plan = "upstash-free-2024"\n')
    # config alone: its (dead) URL is used, and its plan
    proc = run("check", "--only", "redis", "--json", "--samples", "1", cwd=str(tmp_path))
    report = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert report["probes"]["redis"]["plan"] == "upstash-free-2024"
    assert report["probes"]["redis"]["reachable"] is False
    # env beats config
    proc = run("check", "--only", "redis", "--json", "--samples", "1", cwd=str(tmp_path),
               env={"REDIS_URL": redis_server.url, "WSMONITOR_REDIS_PLAN": "none"})
    report = json.loads(proc.stdout)
    assert report["probes"]["redis"]["reachable"] is True
    assert report["probes"]["redis"]["plan"] == "none"
    # flag beats env
    proc = run("check", "--only", "redis", "--json", "--samples", "1", "--redis-plan",
               "upstash-payg", cwd=str(tmp_path), env={"REDIS_URL": redis_server.url,
                                                       "WSMONITOR_REDIS_PLAN": "none"})
    assert json.loads(proc.stdout)["probes"]["redis"]["plan"] == "upstash-payg"


def test_check_only_redis_healthy_exits_0(redis_server) -> None:  # noqa: ANN001
    proc = run("check", "--only", "redis", "--redis-url", redis_server.url + "?socket_timeout=10",
               "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses["redis-reachable"] == "pass"
    assert statuses["redis-url"] == "pass"
    assert statuses["redis-connections"] == "pass"
    assert statuses["redis-commands"] == "pass"
    # the ids without probes yet are unknown or skipped, never pass
    for cid in ("handshake-101", "allowed-hosts", "consumer-errors"):
        assert statuses[cid] in ("unknown", "skipped")
    assert set(statuses) == {
        "platform-websocket", "redis-reachable", "redis-url", "allowed-hosts", "jwt-valid",
        "handshake-101", "stays-open", "ping-pong", "notification-delivery", "polling-fallback",
        "redis-connections", "redis-commands", "channel-layer", "consumer-errors",
        "diagnostic-endpoints", "browser-websocket"}
    redis = report["probes"]["redis"]
    assert redis["reachable"] is True
    lat = redis["latency_ms"]
    # Three runs of 5 PINGs: enough for p50, too few for p95 (20) and p99 (100): null.
    assert lat["samples"] == 15 and 0 < lat["p50"] <= lat["max"]
    assert lat["p95"] is None and lat["p99"] is None
    assert redis["connected_clients"] >= 1
    assert redis["max_connections"] == 10000  # the server's maxclients under plan "none"
    assert report["diagnosis"]["layer"] in ("none", "unknown")
    for key in ("version", "started_at", "finished_at"):
        assert report[key]


def test_check_unreachable_redis_exits_1_and_names_layer(unused_port: int) -> None:
    proc = run("check", "--only", "redis", "--redis-url",
               f"redis://:{'pw' + SECRET_PW[:4]}@127.0.0.1:{unused_port}/0", "--samples", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Diagnosis: redis")
    assert "refused" in proc.stdout
    assert SECRET_PW[:4] not in proc.stdout.replace("***", "")


def test_check_markdown_report(redis_server) -> None:  # noqa: ANN001
    proc = run("check", "--only", "redis", "--redis-url", redis_server.url, "--markdown")
    assert proc.returncode == 0
    md = proc.stdout
    assert md.startswith("# wsmonitor incident report")
    assert "| ✔ | `redis-reachable` | pass |" in md
    assert "▲ | `redis-url` | warn" in md  # no socket_timeout in the URL
    assert "Redis PING: p50" in md


def test_check_at_connection_cap_fails_with_plan_limit(redis_server) -> None:  # noqa: ANN001
    # A plan cap below the connections in use: the probe's own connection is one of them.
    proc = run("check", "--only", "redis", "--redis-url", redis_server.url,
               "--max-connections", "1", "--json")
    report = json.loads(proc.stdout)
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses["redis-connections"] == "fail"
    assert report["diagnosis"]["layer"] == "plan-limit"
    assert proc.returncode == 1


def test_check_quota_projection_against_small_quota(redis_server) -> None:  # noqa: ANN001
    # 100 commands a day: the monitor alone (at its budgeted interval) stays inside, but the
    # projection of the measured service load is over.
    client = redis_server.client()
    proc = subprocess.Popen([sys.executable, "-c", (
        "import redis,time,sys\n"
        f"c=redis.Redis.from_url({redis_server.url!r})\n"
        "end=time.time()+30\n"
        "while time.time()<end: c.incr('k'); time.sleep(0.01)\n")])
    try:
        out = run("check", "--only", "redis", "--redis-url", redis_server.url,
                  "--max-commands", "100/day", "--json")
    finally:
        proc.kill()
        proc.wait()
        client.close()
    report = json.loads(out.stdout)
    check = next(c for c in report["checks"] if c["id"] == "redis-commands")
    assert check["status"] == "fail", check
    assert "100 commands/day" in check["summary"]
    assert report["probes"]["redis"]["command_quota_per_day"] == 100


def test_help_lists_commands_and_flags() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for word in ("dashboard", "check", "demo"):
        assert word in proc.stdout
    proc = run("check", "--help")
    for flag in ("--json", "--markdown", "--only", "--hold", "--redis-url", "--redis-plan",
                 "--redis-budget", "--kiosk", "--record", "--notify-type"):
        assert flag in proc.stdout


def test_record_writes_redacted_jsonl(tmp_path: Path, redis_password) -> None:  # noqa: ANN001
    rec = tmp_path / "rec.jsonl"
    proc = run("check", "--only", "redis", "--redis-url", redis_password.url, "--record",
               str(rec), "--samples", "2")
    assert proc.returncode in (0, 1), proc.stderr
    lines = [line for line in rec.read_text().splitlines()
             if '"probe": "channel-layer"' not in line]  # its round trip is recorded too
    assert len(lines) == 3
    header = json.loads(lines[0])
    assert header["type"] == "RecordingHeader"
    assert header["redis_url"].startswith("redis://:***@127.0.0.1:")
    assert header["probes"]["redis"]["commands_per_run"] == 6
    assert all(json.loads(line)["probe"] == "redis" for line in lines[1:])
    assert redis_password.password not in rec.read_text()
