"""Reports: ``check --json`` against the JSON Schema shipped in the package, the markdown
incident report against a checked-in snapshot, and the channel-layer checks of ``check`` when
channels_redis is missing or in kiosk mode."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from wsmonitor import __version__
from wsmonitor.rules.base import CHECK_IDS, STATUSES
from wsmonitor.config import load_settings
from wsmonitor.rules.diagnosis import LAYERS
from wsmonitor.probes.channel_layer import ChannelLayerSample
from wsmonitor.probes.handshake import CLASSIFICATIONS, VARIANTS, HandshakeSample, PhaseTimings
from wsmonitor.probes.http import HttpSample
from wsmonitor.report import CheckRun, render_markdown, to_json_obj
from wsmonitor.runtime import check_context, judge
from wsmonitor.samples import LatencyStats, RedisSample

from .helpers import report_schema, run_wsmonitor, statuses, validate_report

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("expected_report.md")
UPDATE = os.environ.get("WSMONITOR_UPDATE_SNAPSHOTS") == "1"


# --- the schema --------------------------------------------------------------------------------

def test_schema_enums_match_the_code() -> None:
    defs = report_schema()["$defs"]
    assert defs["status"]["enum"] == list(STATUSES)
    assert defs["layer"]["enum"] == list(LAYERS)
    assert defs["classification"]["enum"] == list(CLASSIFICATIONS)
    assert defs["check_id"]["enum"] == list(CHECK_IDS)
    assert defs["handshake"]["properties"]["variant"]["enum"] == list(VARIANTS)


def test_schema_is_shipped_as_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "*.json" in pyproject["tool"]["setuptools"]["package-data"]["wsmonitor"]
    assert (ROOT / "wsmonitor" / "report.schema.json").is_file()


def test_redis_only_check_json_matches_the_schema(redis_server: Any) -> None:
    proc = run_wsmonitor("check", "--json", "--redis-url", redis_server.url + "?socket_timeout=10")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    validate_report(report)
    assert statuses(report)["channel-layer"] == "pass"
    assert statuses(report)["notification-delivery"] == "skipped"  # no --url
    cl = report["probes"]["channel_layer"]
    assert cl["ok"] is True and cl["round_trip_ms"] > 0 and cl["delivery"] is None
    assert report["probes"]["handshake"] == [] and report["probes"]["logs"] is None


def test_schema_rejects_what_breaks_the_contract(redis_server: Any) -> None:
    proc = run_wsmonitor("check", "--json", "--only", "redis", "--redis-url", redis_server.url)
    good = json.loads(proc.stdout)
    validate_report(good)
    bad_status = json.loads(proc.stdout)
    bad_status["checks"][0]["status"] = "ok"
    bad_layer = json.loads(proc.stdout)
    bad_layer["diagnosis"]["layer"] = "network"
    missing = json.loads(proc.stdout)
    del missing["probes"]["redis"]["latency_ms"]
    bad_class = json.loads(proc.stdout)
    bad_class["probes"]["handshake"] = [{"variant": "token+origin", "classification": "blocked",
                                         "status": None, "close_code": None, "error": None,
                                         "timings_ms": dict.fromkeys(
                                             ("dns", "tcp", "tls", "upgrade", "first_message"))}]
    for report in (bad_status, bad_layer, missing, bad_class):
        with pytest.raises(jsonschema.ValidationError):
            validate_report(report)


# --- channels_redis missing, kiosk -------------------------------------------------------------

def test_without_channels_redis_both_checks_say_what_to_install(
        redis_server: Any, no_channels_redis: dict[str, str]) -> None:
    proc = run_wsmonitor("check", "--json", "--redis-url", redis_server.url + "?socket_timeout=10",
                         "--url", "ws://127.0.0.1:9/ws/notifications/", "--only", "redis",
                         env=no_channels_redis)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    validate_report(report)
    checks = {c["id"]: c for c in report["checks"]}
    for cid in ("channel-layer", "notification-delivery"):
        assert checks[cid]["status"] == "skipped"
        assert "install wsmonitor[channels]" in checks[cid]["summary"], checks[cid]
    assert report["probes"]["channel_layer"] is None  # no probe was built
    assert checks["redis-reachable"]["status"] == "pass"  # the rest works without it


def test_kiosk_check_skips_the_writing_checks_and_writes_nothing(redis_server: Any) -> None:
    proc = run_wsmonitor("check", "--json", "--kiosk",
                         "--redis-url", redis_server.url + "?socket_timeout=10")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    validate_report(report)
    checks = {c["id"]: c for c in report["checks"]}
    for cid in ("channel-layer", "notification-delivery"):
        assert checks[cid]["status"] == "skipped" and "kiosk" in checks[cid]["summary"]
    assert report["probes"]["channel_layer"] is None
    assert redis_server.cli("KEYS", "asgi*") == []


# --- the markdown snapshot ---------------------------------------------------------------------

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
USER = "7"


def _incident() -> CheckRun:
    """A held socket that works while notifications go to a group nobody is in."""
    settings = load_settings({
        "url": "wss://app.example.com/ws/notifications/",
        "redis_url": "rediss://default:hunter2-secret@redis.example.internal:6380/0"
                     "?socket_timeout=10",
        "jwt_secret": "s" * 40, "jwt_user_id": USER, "group_template": "alerts.{user_id}",
        "hold": 2.0}, environ={})
    group = f"alerts.{USER}"
    t = PhaseTimings(dns=1.2, tcp=20.5, tls=41.0, upgrade=22.3, first_message=3.1)
    shakes: dict[str, list[Any]] = {}
    for v in VARIANTS:
        if v == "token+origin":
            s = HandshakeSample(
                probe=f"handshake:{v}", at=NOW - 2, ok=True, variant=v, classification="ok",
                status=101, status_line="HTTP/1.1 101 Switching Protocols", elapsed_s=0.09,
                timings_ms=t, hold_s=2.0, held_s=2.0, closed_by="client", closed_at_s=2.0,
                ack_received=True, ping_rtt_ms=21.0, pings_sent=1, pongs_received=1,
                app_ping_sent=True, app_pong_ms=22.0, messages_received=2,
                message_types=("connection.ack", "pong"), hook_at_s=0.004,
                hook_error=f"NoGroupMembers: group {group!r} has no member channel: no socket "
                           "of this user is in it", token_sent=True, token_source="minted")
        else:
            s = HandshakeSample(
                probe=f"handshake:{v}", at=NOW - 4, ok=False, error_kind="forbidden",
                error="403 Access denied", variant=v, classification="forbidden", status=403,
                reason="Access denied", status_line="HTTP/1.1 403 Access denied",
                elapsed_s=0.004, timings_ms=PhaseTimings(dns=1.0, tcp=20.0, tls=40.0,
                                                         upgrade=3.0))
        shakes[f"handshake:{v}"] = [s]
    redis = [RedisSample(probe="redis", at=NOW - 5 + i, ok=True, latencies_ms=(1.9, 2.1),
                         window=LatencyStats.of([1.9, 2.0, 2.1, 2.4, 3.0]), info_ok=True,
                         connected_clients=6, maxclients=10000, rejected_connections=0,
                         total_commands_processed=1000 + 40 * i,
                         commands_per_second=None if i == 0 else 0.05,
                         own_commands_per_second=None if i == 0 else 0.0,
                         server="redis.example.internal:6380", tls=True) for i in range(2)]
    rt = ChannelLayerSample(probe="channel-layer", at=NOW - 3, ok=True, phase="done",
                            server="redis.example.internal:6380", tls=True, send_ms=9.5,
                            receive_ms=8.3, round_trip_ms=17.8, delivery_group=group,
                            commands=8, own_commands_total=8)

    def http(endpoint: str, **kw: Any) -> HttpSample:
        return HttpSample(probe=f"http:{endpoint}", at=NOW - 3, ok=True, endpoint=endpoint,
                          url=f"https://app.example.com/api/{endpoint}/", status=200,
                          reason="OK", json_ok=True, **kw)

    history: dict[str, list[Any]] = {
        **shakes, "redis": redis, "channel-layer": [rt],
        "http:redis-health": [http("redis-health", healthy=True,
                                   summary=(("status", "ok"), ("redis", "connected")))],
        "http:ws-diagnostic": [http("ws-diagnostic", healthy=True, auth_sent=True,
                                    summary=(("redis_connected", True),))],
        "http:polling": [http("polling", auth_sent=True, summary=(("count", 0),))],
    }
    diagnosis, results = judge(check_context(settings), history, NOW)
    target = {"url": settings.url, "redis": "rediss://default:***@redis.example.internal:6380/0"}
    return CheckRun(NOW - 4, NOW, diagnosis, results, history, settings.plan, target)


def test_markdown_incident_report_matches_the_snapshot() -> None:
    run = _incident()
    text = render_markdown(run).replace(__version__, "VERSION") + "\n"
    assert "hunter2" not in text
    if UPDATE:
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), "no snapshot: run with WSMONITOR_UPDATE_SNAPSHOTS=1 and review it"
    assert text == SNAPSHOT.read_text(), (
        "the markdown report changed; if that is intended, rerun with "
        "WSMONITOR_UPDATE_SNAPSHOTS=1 and review the diff of tests/delivery/expected_report.md")


def test_incident_json_matches_the_schema() -> None:
    report = to_json_obj(_incident())
    validate_report(report)
    d = report["probes"]["channel_layer"]["delivery"]
    assert d["group"] == f"alerts.{USER}" and d["outcome"] == "no-members"
    assert d["delivered"] is False and "hunter2" not in json.dumps(report)
