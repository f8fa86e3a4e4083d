"""``wsmonitor check`` through real fronts: ``probes.platform`` in the JSON report (valid
against the shipped schema) and the front in the markdown report; App Runner's Envoy exits 1
with a ``platform`` verdict."""

from __future__ import annotations

import json
from pathlib import Path

from tests.delivery.helpers import run_wsmonitor, validate_report

from .conftest import App, envoy, front


def args(app: App, base: str, *extra: str) -> list[str]:
    url = base.replace("http://", "ws://") + "/ws/notifications/"
    return ["check", "--url", url, "--jwt-secret", app.secret_key, "--jwt-user-id",
            app.user_id, "--hold", "2", *extra]


def test_json_names_nginx_and_daphne(app: App, fronts: list, tmp_path: Path) -> None:
    f = front(fronts, "nginx", tmp_path, app.port)
    proc = run_wsmonitor(*args(app, f.base, "--json"))
    report = json.loads(proc.stdout)
    validate_report(report)
    pf = report["probes"]["platform"]
    assert pf["front"] == "nginx", pf
    assert any(line.startswith("server: nginx/") for line in pf["evidence"]), pf
    assert report["diagnosis"]["layer"] == "none", report["diagnosis"]


def test_app_runner_envoy_report_exits_1_with_platform(app: App, fronts: list) -> None:
    e = envoy(fronts, app.port)
    proc = run_wsmonitor(*args(app, e.base, "--json"))
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    validate_report(report)
    assert report["probes"]["platform"]["front"] == "app-runner"
    assert report["diagnosis"]["layer"] == "platform"
    assert report["diagnosis"]["confidence"] == "confirmed"
    st = {c["id"]: c["status"] for c in report["checks"]}
    assert st["platform-websocket"] == "fail", st
    md = run_wsmonitor(*args(app, e.base, "--markdown")).stdout
    assert "- **Front:** `app-runner`" in md, md
    assert "## Diagnosis: `platform`" in md
