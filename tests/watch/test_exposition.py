"""The exporter's counting and its text: `SampleStats` counts published samples as SPEC means
them; `Exposition` (what /metrics serves) gives exactly prometheus-client's samples for the
same collector, escaped, and passes ``promtool check metrics``."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from wsmonitor.rules.base import CheckResult, Diagnosis
from wsmonitor.config import load_settings
from wsmonitor.engine import Engine
from wsmonitor.metrics import MAX_LOG_CATEGORIES, Exposition, SampleStats, WatchCollector
from wsmonitor.probes.handshake import HandshakeSample, PhaseTimings
from wsmonitor.probes.logs import LogEvent, LogsSample
from wsmonitor.samples import RedisSample
from wsmonitor.verdict import Verdict


class _Idle:
    """A probe that is never run: the engine only keeps what the test publishes."""

    name = "redis"
    timeout = 1.0

    def interval(self, base: float) -> float:
        return base

    async def run(self) -> RedisSample:  # pragma: no cover - never scheduled
        raise AssertionError

    async def close(self) -> None:
        pass


def _shake(variant: str, classification: str, status: int | None, *, interim: bool = False,
           at: float = 100.0) -> HandshakeSample:
    ok = classification == "ok"
    return HandshakeSample(
        probe=f"handshake:{variant}", at=at, ok=ok, error_kind=None if ok else classification,
        duration_ms=30_000.0 if ok else 4.0, variant=variant, classification=classification,
        status=status, timings_ms=PhaseTimings(dns=0.1, tcp=0.2, upgrade=2.7), interim=interim)


def _run(name: str = 'eu "west"\\1') -> SimpleNamespace:
    settings = load_settings({"redis_url": "redis://127.0.0.1:6379/0",
                              "redis_plan": "upstash-free-2024"}, environ={})
    engine = Engine([_Idle()])
    stats = SampleStats()
    engine.subscribe(stats.add)
    for sample in (
        _shake("token+origin", "ok", 101, interim=True),
        _shake("token+origin", "ok", 101),
        _shake("no-token", "forbidden", 403),
        _shake("no-token", "forbidden", 403, at=110.0),
        _shake("wrong-origin", "refused", None, at=120.0),
        RedisSample("redis", 100.0, True, latencies_ms=(0.1, 0.2, 3.0), info_ok=True,
                    connected_clients=4, commands_per_second=1.0, own_commands_per_second=0.1),
        RedisSample("redis", 102.0, True, latencies_ms=(0.1,), info_ok=True,
                    connected_clients=5, commands_per_second=1.0, own_commands_per_second=0.1),
        LogsSample("logs", 103.0, True, by_category={"redis-error": 2, "traceback": 0},
                   events=(LogEvent(100.0, "f", "x", "traceback", tags=("traceback",
                                                                          "redis-error")),
                           LogEvent(101.0, "f", "y", None))),
    ):
        engine.publish(sample)
    d = Diagnosis("redis", "Redis refuses", "Start it", ("redis-reachable",), "likely")
    verdict = Verdict(at=104.0, diagnosis=d, shown=d, checks=(
        CheckResult("redis-reachable", "fail", "refused"),
        CheckResult("handshake-101", "pass", "101")))
    return SimpleNamespace(name=name, settings=settings, engine=engine, stats=stats,
                           verdict=verdict)


def _samples(text: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return sorted((s.name, tuple(sorted(s.labels.items())), s.value)
                  for f in text_string_to_metric_families(text) for s in f.samples)


def _value(text: str, name: str, **labels: str) -> float | None:
    for sample_name, got, value in _samples(text):
        if sample_name == name and all(dict(got).get(k) == v for k, v in labels.items()):
            return value
    return None


def test_exposition_equals_prometheus_client_and_passes_promtool() -> None:
    runs = [_run(), _run("us")]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchCollector(runs))  # type: ignore[arg-type]
    reference = generate_latest(registry).decode()
    ours = Exposition(runs).render().decode()
    assert _samples(ours) == _samples(reference)
    assert Exposition(runs).render().decode() == ours  # the prefix cache changes nothing
    lint = subprocess.run(["promtool", "check", "metrics"], input=ours, text=True,
                          capture_output=True, timeout=60)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), \
        lint.stdout + lint.stderr
    assert _value(ours, "wsmonitor_diagnosis_info", target='eu "west"\\1', layer="redis",
                  confidence="likely") == 1


def test_counts_follow_the_published_samples() -> None:
    text = Exposition([_run("eu")]).render().decode()
    # The held socket's interim sample and its final one are one attempt.
    assert _value(text, "wsmonitor_handshakes_total", variant="token+origin",
                  classification="ok") == 1
    assert _value(text, "wsmonitor_handshakes_total", variant="no-token",
                  classification="forbidden") == 2
    assert _value(text, "wsmonitor_handshake_status_code", variant="wrong-origin") == 0
    # Connect to 101 (3 ms), not the 30 s hold.
    assert _value(text, "wsmonitor_handshake_duration_seconds_sum",
                  variant="token+origin") == 0.003
    assert _value(text, "wsmonitor_handshake_duration_seconds_bucket", variant="token+origin",
                  le="0.005") == 1
    assert _value(text, "wsmonitor_redis_ping_seconds_count") == 4
    assert _value(text, "wsmonitor_redis_ping_seconds_bucket", le="0.00025") == 3
    assert _value(text, "wsmonitor_redis_connected_clients") == 5
    assert _value(text, "wsmonitor_redis_command_quota_per_day") == 10_000
    assert _value(text, "wsmonitor_redis_commands_per_day") == 86_400
    # One traceback whose last line is a Redis error counts under both; categories seen in
    # the window start at 0; unclassified lines are not a category.
    assert _value(text, "wsmonitor_log_events_total", category="traceback") == 1
    assert _value(text, "wsmonitor_log_events_total", category="redis-error") == 1
    assert {dict(labels).get("category") for name, labels, _ in _samples(text)
            if name == "wsmonitor_log_events_total"} == {"traceback", "redis-error"}
    # A rejection variant's 403 is a successful run; a refused one is not.
    assert _value(text, "wsmonitor_probe_last_success_timestamp_seconds",
                  probe="handshake:no-token") == 110
    assert _value(text, "wsmonitor_probe_last_success_timestamp_seconds",
                  probe="handshake:wrong-origin") is None
    assert _value(text, "wsmonitor_check_status", check="redis-reachable", status="fail") == 1
    assert _value(text, "wsmonitor_check_status", check="redis-reachable", status="pass") == 0


def test_log_categories_are_bounded() -> None:
    stats = SampleStats()
    events = tuple(LogEvent(1.0, "f", "x", f"rule-{i}") for i in range(MAX_LOG_CATEGORIES + 50))
    stats.add(LogsSample("logs", 2.0, True, events=events))
    assert len(stats.snapshot()["log_events"]) == MAX_LOG_CATEGORIES
