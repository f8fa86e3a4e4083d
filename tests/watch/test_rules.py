"""The shipped alerting rules and Grafana dashboard: printed by ``watch``, checked and unit-tested
by promtool (a missing promtool fails, never skips)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from wsmonitor.cli import main
from wsmonitor.prometheus import dashboard_expressions, shipped_text

from .test_watch import SPEC_METRICS

METRIC_NAME = re.compile(r"\bwsmonitor_[a-z_]+")


def _print(kind: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["watch", f"--print-{kind}"]) == 0
    return capsys.readouterr().out


def _write_shipped(directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (directory / "alerts.yml").write_text(_print("alerts", capsys))
    (directory / "alerts_test.yml").write_text(_print("alert-tests", capsys))


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_printed_rules_pass_promtool_check_and_their_unit_tests(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_shipped(tmp_path, capsys)
    check = _promtool("check", "rules", "alerts.yml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 5 rules found" in check.stdout
    test = _promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_alert_has_a_unit_test_that_expects_it_to_fire() -> None:
    rules = shipped_text("alerts")
    tests = shipped_text("alert-tests")
    alerts = set(re.findall(r"- alert: (\w+)", rules))
    assert alerts == {"WsmonitorLayerBroken", "WsmonitorCheckFailing", "WsmonitorProbeStale",
                      "WsmonitorRedisCommandQuota", "WsmonitorHandshakeSlow"}
    fired = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", tests))
    quiet = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts: \[\]", tests))
    assert fired == alerts and quiet == alerts


@pytest.mark.parametrize("old, new", [
    ("> 0.8", "> 0.95"),              # the quota threshold
    ("for: 2m", "for: 5m"),           # how long a layer must stay broken
    ("> 300", "> 900"),               # when a probe is stale
    ('variant="token+origin"', 'variant="no-token"'),  # which handshakes the p95 reads
])
def test_the_unit_tests_catch_a_changed_rule(old: str, new: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _write_shipped(tmp_path, capsys)
    rules = tmp_path / "alerts.yml"
    assert old in rules.read_text()
    rules.write_text(rules.read_text().replace(old, new))
    assert _promtool("check", "rules", "alerts.yml", cwd=tmp_path).returncode == 0
    assert _promtool("test", "rules", "alerts_test.yml", cwd=tmp_path).returncode != 0


def test_rules_and_dashboard_read_only_spec_metric_names() -> None:
    spec = {n + ("_total" if kind == "counter" else "") for n, (kind, _) in SPEC_METRICS.items()}
    spec |= {n + suffix for n, (kind, _) in SPEC_METRICS.items() if kind == "histogram"
             for suffix in ("_bucket", "_sum", "_count")}
    used = set(METRIC_NAME.findall(shipped_text("alerts")))
    used |= {m for e in dashboard_expressions() for m in METRIC_NAME.findall(e)}
    assert used and used <= spec, used - spec


def test_dashboard_is_grafana_json_filtered_by_target(
        capsys: pytest.CaptureFixture[str]) -> None:
    dashboard = json.loads(_print("dashboard", capsys))
    assert dashboard["uid"] == "wsmonitor"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "target"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in dashboard["panels"]:
        for t in panel["targets"]:
            assert 'target=~"$target"' in t["expr"], (panel["title"], t["expr"])
            assert t["datasource"]["uid"] == "${datasource}"
