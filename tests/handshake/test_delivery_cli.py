"""``wsmonitor check`` against the real target with every probe: the JSON report matches the
shipped schema and carries the delivery; exit codes 0 (delivered), 1 (a wrong group) and 2
(a group template that cannot name a group)."""

from __future__ import annotations

import json

from ..delivery.helpers import run_wsmonitor, statuses, validate_report
from .processes import Target


def flags(target: Target, *extra: str) -> list[str]:
    return ["check", "--url", target.url, "--jwt-secret", target.secret_key, "--jwt-user-id",
            target.user_id, "--redis-url", target.redis.url + "?socket_timeout=10", "--hold",
            "2", *extra]


def test_json_with_every_probe_matches_the_schema(target: Target) -> None:
    proc = run_wsmonitor(*flags(target, "--json", "--log-file", str(target.daphne.log_path)))
    report = json.loads(proc.stdout)
    validate_report(report)
    st = statuses(report)
    assert proc.returncode == (1 if "fail" in st.values() else 0), (proc.returncode, st)
    assert st["notification-delivery"] == "pass" and st["channel-layer"] == "pass", st
    probes = report["probes"]
    assert {h["variant"] for h in probes["handshake"]} == {"token+origin", "no-token",
                                                           "no-origin", "wrong-origin"}
    assert probes["redis"]["reachable"] is True and probes["logs"] is not None
    assert all(probes["http"][e] is not None for e in ("redis-health", "ws-diagnostic",
                                                       "polling"))
    d = probes["channel_layer"]["delivery"]
    assert d["delivered"] is True and d["latency_ms"] >= 0
    assert d["group"] == f"notifications.user.{target.user_id}"
    assert "wsmonitor.probe" in d["message_types"]
    assert target.secret_key not in proc.stdout


def test_check_exits_0_when_the_notification_arrives(target: Target) -> None:
    proc = run_wsmonitor(*flags(target))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Diagnosis: none")
    assert "✔ PASS    notification-delivery" in proc.stdout


def test_check_exits_1_when_the_group_is_wrong(target: Target) -> None:
    proc = run_wsmonitor(*flags(target, "--group-template", "alerts.{user_id}", "--markdown"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "## Diagnosis: `consumer`" in proc.stdout
    assert f"| ✖ | `notification-delivery` | fail | nobody is in group " \
           f"alerts.{target.user_id}" in proc.stdout
    assert f"not delivered (no-members, group `alerts.{target.user_id}`)" in proc.stdout


def test_check_exits_2_on_a_template_without_user_id(target: Target) -> None:
    proc = run_wsmonitor(*flags(target, "--group-template", "alerts.all"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wsmonitor: error: ")
    assert "--group-template" in lines[0] and "Traceback" not in proc.stderr
