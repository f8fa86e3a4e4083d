"""``wsmonitor watch`` against the real Daphne target: lines on stdout, /metrics as SPEC names
them (parsed with prometheus-client's parser, linted by promtool), SIGTERM/SIGINT exit 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.handshake.processes import Target, free_port
from wsmonitor.cli import main

from .conftest import watch_args
from .running import WatchProcess, parse_line

SPEC_METRICS = {
    # name as the parser reports it (counters lose _total) → (type, labels besides target)
    "wsmonitor_check_status": ("gauge", {"check", "status"}),
    "wsmonitor_diagnosis_info": ("gauge", {"layer", "confidence"}),
    "wsmonitor_handshakes": ("counter", {"variant", "classification"}),
    "wsmonitor_handshake_status_code": ("gauge", {"variant"}),
    "wsmonitor_handshake_duration_seconds": ("histogram", {"variant"}),
    "wsmonitor_redis_ping_seconds": ("histogram", set()),
    "wsmonitor_redis_connected_clients": ("gauge", set()),
    "wsmonitor_redis_connection_limit": ("gauge", set()),
    "wsmonitor_redis_commands_per_day": ("gauge", set()),
    "wsmonitor_redis_command_quota_per_day": ("gauge", set()),
    "wsmonitor_log_events": ("counter", {"category"}),
    "wsmonitor_probe_last_success_timestamp_seconds": ("gauge", {"probe"}),
}


def families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample of `name` with these labels (None: absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=60)


def test_watch_prints_verdicts_serves_spec_metrics_and_stops_on_sigterm(target: Target) -> None:
    port = free_port()
    w = WatchProcess(watch_args(target, "--metrics", f"127.0.0.1:{port}"))
    try:
        healthy = w.wait_line(lambda f: f.get("layer") == "none")
        host = "127.0.0.1"
        assert healthy["target"] == host
        assert healthy["confidence"] == "confirmed"
        assert healthy["time"].endswith("Z") and "T" in healthy["time"]
        assert healthy["summary"]
        text = w.scrape(port)
        # The counters and histograms fill as samples are published: poll until the handshake
        # variants and Redis have each been counted.
        for _ in range(150):
            if value(text, "wsmonitor_handshakes_total", variant="no-token") \
                    and value(text, "wsmonitor_handshake_duration_seconds_count",
                              variant="token+origin") \
                    and value(text, "wsmonitor_redis_ping_seconds_count"):
                break
            time.sleep(0.2)  # polling a condition, bounded by the loop
            text = w.scrape(port)
        fams = families(text)
        for name, (kind, labels) in SPEC_METRICS.items():
            if name in ("wsmonitor_log_events", "wsmonitor_redis_command_quota_per_day"):
                continue  # no log source and no quota on this target: absent by design
            assert name in fams, f"{name} missing from /metrics"
            family = fams[name]
            assert family.type == kind, (name, family.type)
            for s in family.samples:
                got = set(s.labels) - {"target", "le"}
                assert got == labels, (s.name, s.labels)
                assert s.labels["target"] == host
        assert not set(fams) - set(SPEC_METRICS), "only SPEC's names on /metrics"
        assert value(text, "wsmonitor_diagnosis_info", layer="none", confidence="confirmed") == 1
        assert value(text, "wsmonitor_diagnosis_info", layer="redis", confidence="confirmed") == 0
        assert value(text, "wsmonitor_check_status", check="handshake-101", status="pass") == 1
        assert value(text, "wsmonitor_check_status", check="handshake-101", status="fail") == 0
        assert value(text, "wsmonitor_handshakes_total", variant="token+origin",
                     classification="ok") >= 1
        assert value(text, "wsmonitor_handshakes_total", variant="no-token",
                     classification="forbidden") >= 1
        assert value(text, "wsmonitor_handshake_status_code", variant="token+origin") == 101
        assert value(text, "wsmonitor_handshake_status_code", variant="wrong-origin") == 403
        assert value(text, "wsmonitor_redis_connected_clients") >= 1
        assert value(text, "wsmonitor_redis_commands_per_day") > 0
        assert value(text, "wsmonitor_probe_last_success_timestamp_seconds",
                     probe="handshake:wrong-origin") > 0
        lint = promtool_check_metrics(text)
        assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), \
            lint.stdout + lint.stderr
    finally:
        rc = w.terminate(signal.SIGTERM)
    assert rc == 0, w.stderr
    assert "Traceback" not in w.stderr
    for line in w.lines:
        fields = parse_line(line)
        assert {"time", "target", "layer", "confidence", "summary"} <= set(fields), line


def test_watch_stops_on_sigint_with_exit_0(target: Target) -> None:
    w = WatchProcess(watch_args(target))
    try:
        w.wait_line(lambda f: "layer" in f)
    finally:
        rc = w.terminate(signal.SIGINT)
    assert rc == 0, w.stderr
    assert "Traceback" not in w.stderr


def test_consecutive_lines_differ_in_diagnosis(target: Target) -> None:
    w = WatchProcess(watch_args(target))
    try:
        w.wait_line(lambda f: f.get("layer") == "none")
    finally:
        w.terminate()
    keys = [(f["layer"], f["confidence"], f.get("failing")) for f in map(parse_line, w.lines)]
    assert all(a != b for a, b in zip(keys, keys[1:])), keys


@pytest.mark.parametrize("address, words", [
    ("9464", "not HOST:PORT"),
    ("127.0.0.1:70000", "outside 1-65535"),
    ("127.0.0.1:http", "not HOST:PORT"),
    ("::1:9464", "brackets"),
    ("no-such-host.invalid:9464", "does not resolve"),
])
def test_metrics_bad_address_is_exit_2_with_one_line(address: str, words: str,
                                                     capsys: pytest.CaptureFixture[str],
                                                     unused_port: int) -> None:
    rc = main(["watch", "--redis-url", f"redis://127.0.0.1:{unused_port}/0",
               "--metrics", address])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("wsmonitor: error: "), err
    assert words in err


def test_metrics_port_in_use_is_exit_2(capsys: pytest.CaptureFixture[str],
                                       unused_port: int, tmp_path: Path) -> None:
    record = tmp_path / "rec.jsonl"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc = main(["watch", "--redis-url", f"redis://127.0.0.1:{unused_port}/0",
                   "--metrics", f"127.0.0.1:{port}", "--record", str(record)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "cannot listen there" in err and "in use" in err, err
    assert not record.exists()


def test_watch_without_a_target_is_exit_2(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("REDIS_URL", "WSMONITOR_REDIS_URL", "WSMONITOR_URL"):
        monkeypatch.delenv(var, raising=False)
    assert main(["watch"]) == 2
    assert capsys.readouterr().err.startswith("wsmonitor: error: nothing to watch")


def test_watch_records_every_sample(target: Target, tmp_path: Path) -> None:
    record = tmp_path / "watch.jsonl"
    w = WatchProcess(watch_args(target, "--record", str(record), "--kiosk"))
    try:
        w.wait_line(lambda f: f.get("layer") == "none")
    finally:
        assert w.terminate() == 0
    import json

    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert rows[0]["type"] == "RecordingHeader" and rows[0]["kiosk"] is True
    probes = {r.get("probe") for r in rows[1:]}
    assert "redis" in probes and "handshake:token+origin" in probes
    # --kiosk: no probe that writes to Redis.
    assert "channel-layer" not in probes
