"""What wsmonitor ships for Prometheus and Grafana: alerting rules (with their promtool unit
tests) and a dashboard, as package data; ``wsmonitor watch --print-alerts`` and friends print
them."""

from __future__ import annotations

from importlib import resources

SHIPPED = {
    "alerts": "alerts.yml",
    "alert-tests": "alerts_test.yml",
    "dashboard": "grafana-dashboard.json",
}
"""Kind → file name inside this package."""


def shipped_text(kind: str) -> str:
    """The text of one shipped file (`SHIPPED` names the kinds)."""
    return resources.files(__name__).joinpath(SHIPPED[kind]).read_text(encoding="utf-8")


def dashboard_expressions() -> list[str]:
    """Every PromQL expression of the Grafana dashboard (``$target`` as ``.*``)."""
    import json

    dashboard = json.loads(shipped_text("dashboard"))
    return [t["expr"].replace("$target", ".*") for p in dashboard["panels"]
            for t in p.get("targets", ())]
