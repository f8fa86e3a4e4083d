"""A real Prometheus scrapes a running ``wsmonitor watch`` against the real Daphne target every
second: PromQL sees the healthy verdict, then — Redis stopped — the redis verdict and the
failing check within 30 s. The shipped rules load in it and every dashboard query runs."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.handshake.processes import Target, free_port
from wsmonitor.prometheus import dashboard_expressions, shipped_text

from .conftest import watch_args
from .prom import PrometheusProcess
from .running import WatchProcess

FAULT_SEEN_WITHIN = 30.0
"""The issue's bound, from Redis stopping to PromQL seeing the verdict."""


def test_prometheus_sees_the_healthy_verdict_then_the_redis_fault(own_target: Target,
                                                                 tmp_path: Path) -> None:
    port = free_port()
    rules = tmp_path / "alerts.yml"
    rules.write_text(shipped_text("alerts"))
    w = WatchProcess(watch_args(own_target, "--metrics", f"127.0.0.1:{port}"))
    prom = PrometheusProcess(tmp_path, [f"127.0.0.1:{port}"], [rules])
    try:
        w.scrape(port)  # listening before Prometheus's first scrape
        prom.start()
        healthy = prom.wait_for('wsmonitor_diagnosis_info{layer="none"} == 1', timeout=120)
        assert healthy[0]["metric"]["target"] == "127.0.0.1"
        assert healthy[0]["metric"]["confidence"] == "confirmed"
        assert prom.wait_for('up{job="wsmonitor"} == 1', timeout=10)
        # The shipped rules loaded, and nothing alerts on a healthy target.
        groups = prom.query("ALERTS")["data"]["result"]
        assert not [a for a in groups if a["metric"].get("alertstate") == "firing"], groups
        for expr in dashboard_expressions():
            answer = prom.query(expr)
            assert answer["status"] == "success", (expr, answer)
        prom.wait_for('wsmonitor_handshakes_total{variant="token+origin",'
                      'classification="ok"} > 0', timeout=30)

        own_target.redis.stop()
        stopped = time.monotonic()
        redis = prom.wait_for('wsmonitor_diagnosis_info{layer="redis"} == 1',
                              timeout=FAULT_SEEN_WITHIN)
        failing = prom.wait_for(
            'wsmonitor_check_status{check="redis-reachable",status="fail"} == 1',
            timeout=max(1.0, FAULT_SEEN_WITHIN - (time.monotonic() - stopped)))
        assert redis[0]["metric"]["target"] == failing[0]["metric"]["target"] == "127.0.0.1"
        assert prom.query('wsmonitor_diagnosis_info{layer="none"} == 1')["data"]["result"] == []
        w.wait_line(lambda f: f.get("layer") == "redis", timeout=10)
    finally:
        prom.stop()
        rc = w.terminate(signal.SIGTERM)
    assert rc == 0, w.stderr
