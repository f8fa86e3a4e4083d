"""The logs probe as the rest of wsmonitor sees it: the factory, the sample's record format,
bounded buffers, counts over the window."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from wsmonitor.config import Settings
from wsmonitor.engine import Engine
from wsmonitor.log_rules import default_rules
from wsmonitor.probes.logs import (
    Batch,
    CloudWatchSource,
    CommandSource,
    FileSource,
    LogEvent,
    LogsProbe,
    LogsSample,
    build_logs_probe,
)
from wsmonitor.samples import sample_from_dict


class ListSource:
    """A source that hands out prepared batches."""

    kind = "command"
    timeout = 5.0

    def __init__(self, *batches: list[tuple[str, float, str, str]]) -> None:
        self.batches = list(batches)

    def interval(self, base: float) -> float:
        return base

    def describe(self) -> dict[str, Any]:
        return {"mode": "command", "target": "test"}

    async def fetch(self) -> Batch:
        return Batch(self.batches.pop(0) if self.batches else [])

    async def close(self) -> None:
        return None


def test_factory_picks_the_configured_source(tmp_path: Path) -> None:
    assert build_logs_probe(Settings()) is None
    file_probe = build_logs_probe(Settings(log_file=str(tmp_path / "x.log")))
    assert file_probe is not None and isinstance(file_probe.source, FileSource)
    assert file_probe.name == "logs"
    command_probe = build_logs_probe(Settings(log_command="kubectl logs -f deploy/web"))
    assert command_probe is not None and isinstance(command_probe.source, CommandSource)
    cloud = build_logs_probe(Settings(log_group=("/a", "/b"), aws_endpoint_url="http://h:1"))
    assert cloud is not None and isinstance(cloud.source, CloudWatchSource)
    assert cloud.source.wanted == ("/a", "/b") and cloud.source.endpoint_url == "http://h:1"
    runner = build_logs_probe(Settings(apprunner_service="api"))
    assert runner is not None and runner.source.apprunner_service == "api"  # type: ignore[attr-defined]
    both = build_logs_probe(Settings(log_file="x.log", log_group=("/a",)))
    assert both is not None and isinstance(both.source, FileSource)  # local wins


@dataclass(frozen=True)
class WithRules:
    """Settings as they will be once ``[[log-rules]]`` is a setting."""

    log_rules: tuple[dict[str, Any], ...] = ()
    log_file: str | None = "x.log"
    log_command: str | None = None
    log_group: tuple[str, ...] = ()
    apprunner_service: str | None = None
    aws_endpoint_url: str | None = None


def test_factory_applies_user_rules_and_names_a_bad_one() -> None:
    probe = build_logs_probe(WithRules(({"category": "db-error", "pattern": "OperationalError",
                                         "label": "db"},)))
    assert probe is not None
    assert probe.rules.categories[0] == "db-error"
    with pytest.raises(ValueError, match=r"log-rules\[0\] \('db-error'\): pattern"):
        build_logs_probe(WithRules(({"category": "db-error", "pattern": "("},)))


async def test_sample_round_trips_through_the_record_format() -> None:
    lines = [("svc", time.time(), "1", "ERR max daily request limit exceeded"),
             ("svc", time.time(), "2", "plain line")]
    probe = LogsProbe(ListSource(lines), hold=0.0)
    sample = await probe.run()
    data = json.loads(json.dumps(sample.to_dict()))
    assert data["type"] == "LogsSample"
    assert data["by_category"]["plan-quota"] == 1
    again = sample_from_dict(data)
    assert again == sample
    assert isinstance(again, LogsSample) and all(isinstance(e, LogEvent) for e in again.events)


async def test_spec_report_fields_are_present() -> None:
    probe = LogsProbe(ListSource([("svc", time.time(), "1", "Traceback (most recent call last):"),
                                  ("svc", time.time(), "2", "  File 'x', line 1, in f"),
                                  ("svc", time.time(), "3", "KeyError: 1")]), hold=0.0)
    sample = await probe.run()
    for category in ("auth-rejected", "connect-error", "redis-error", "traceback"):
        assert category in sample.by_category
    assert sample.by_category["traceback"] == 1
    assert (sample.source, sample.events_in_window, sample.error) == ("command", 1, None)


async def test_per_sample_cap_keeps_classified_events_first() -> None:
    now = time.time()
    lines = [("svc", now, str(i), f"noise {i}") for i in range(1000)]
    lines[10] = ("svc", now, "10", "WSREJECT early")
    lines[500] = ("svc", now, "500", 'x "WSREJECT /ws/"')
    probe = LogsProbe(ListSource(lines), hold=0.0, max_events=50, history=30)
    sample = await probe.run()
    assert len(sample.events) == 50 and sample.events_omitted == 950
    assert sample.events[0].event_id == "500"  # the classified one, in its place
    assert sample.events[-1].event_id == "999"
    assert sample.events_total == 1000 and sample.by_category["ws-reject"] == 1
    assert len(probe.recent()) == 30


async def test_counts_cover_the_window_only() -> None:
    now = time.time()
    lines = [("g/s", now - 3600, "old", "ERR max daily request limit exceeded"),
             ("g/s", now - 5, "new", "ERR max daily request limit exceeded")]
    probe = LogsProbe(ListSource(lines), hold=0.0, window=60)
    sample = await probe.run()
    assert sample.by_category["plan-quota"] == 1
    assert sample.events_total == 2 and sample.events_in_window == 1
    assert sample.window_seconds == 60
    assert [e.event_id for e in probe.recent(since=now - 60)] == ["new"]


async def test_engine_publishes_logs_samples(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text("WebSocket connection rejected: anonymous user\n", encoding="utf-8")
    probe = build_logs_probe(Settings(log_file=str(log)))
    assert probe is not None
    engine = Engine([probe])
    got: list[Any] = []
    engine.subscribe(got.append)
    try:
        await engine.run_once()
    finally:
        await engine.close_probes()
    [sample] = got
    assert isinstance(sample, LogsSample) and sample.ok
    assert [e.category for e in sample.events] == ["auth-rejected"]
    assert sample.events[0].label == default_rules().label("auth-rejected")


def test_log_event_is_small_and_frozen() -> None:
    event = LogEvent(1.0, "g/s", "m", "redis-error", "1")
    with pytest.raises(AttributeError):
        event.message = "x"  # type: ignore[misc]
    assert replace(event, category=None).category is None
    assert not hasattr(event, "__dict__")


def test_dedupe_memory_and_window_buckets_are_bounded() -> None:
    from wsmonitor.probes.logs import _Seen, _WindowCounts

    seen = _Seen(100)
    assert all(seen.add(i) for i in range(1000))
    assert len(seen) == 100 and 999 in seen and 0 not in seen
    assert not seen.add(999)
    counts = _WindowCounts(window=60, bucket=10)
    now = 10_000.0
    for i in range(3600):
        counts.add(now - 3600 + i, "x", now)  # an hour of events, one a second
    totals, n = counts.snapshot(now)
    assert n == totals["x"] <= 70
    assert len(counts._buckets) <= 8  # noqa: SLF001 - the bound is the point
