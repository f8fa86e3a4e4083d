"""The CloudWatch source against moto's server on loopback: polling, classification, dedupe,
App Runner discovery, Live Tail and the switch to polling, secrets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from wsmonitor.engine import Engine
from wsmonitor.probes.logs import CloudWatchSource, LogsProbe, LogsSample

from .conftest import LogWriter

GROUP = "/aws/apprunner/notifications-api/0f1e2d3c4b5a/application"

EXCEPTION_LINES = [
    "2026-11-26 11:46:34,123 ERROR    Exception inside application: Error 111 connecting to "
    "10.0.3.7:6379. Connection refused.",
    "Traceback (most recent call last):",
    '  File "/app/.venv/lib/python3.11/site-packages/channels/generic/websocket.py", line 182, '
    "in websocket_connect",
    "    await self.connect()",
    '  File "/app/.venv/lib/python3.11/site-packages/redis/asyncio/connection.py", line 307, '
    "in connect",
    "    raise ConnectionError(self._error_message(e))",
    "redis.exceptions.ConnectionError: Error 111 connecting to 10.0.3.7:6379. "
    "Connection refused.",
]
WSREJECT = '169.254.175.1:43210 - - [26/Nov/2026:11:46:35] "WSREJECT /ws/notifications/" - -'
TIMEOUT = ("redis.exceptions.TimeoutError: Timeout reading from "
           "eu1-able-cat-12345.upstash.io:6379")
QUOTA = ("redis.exceptions.ResponseError: ERR max daily request limit exceeded. Limit: 10000, "
         "Usage: 10000.")
ACCESS = '169.254.175.1:43211 - - [26/Nov/2026:11:46:36] "GET /api/notifications/ HTTP/1.1" 200 91'


def probe_for(moto: str, *groups: str, **options: Any) -> LogsProbe:
    options.setdefault("live_tail", False)
    options.setdefault("max_poll_rate", 1000.0)
    apprunner = options.pop("apprunner_service", None)
    return LogsProbe(CloudWatchSource(groups, apprunner_service=apprunner, endpoint_url=moto,
                                      **options), hold=0.0)


async def test_polling_finds_classifies_and_dedupes_across_runs(logs: LogWriter,
                                                                moto: str) -> None:
    logs.group(GROUP, "instance/a", "instance/b")
    logs.put(GROUP, "instance/a", *EXCEPTION_LINES, ACCESS)
    logs.put(GROUP, "instance/b", WSREJECT, TIMEOUT, QUOTA)
    probe = probe_for(moto, GROUP)
    try:
        first = await probe.run()
        assert first.ok, first.error
        assert (first.source, first.mode, first.groups) == ("cloudwatch", "polling", (GROUP,))
        categories = sorted(str(e.category) for e in first.events)
        assert categories == ["None", "channels-timeout", "plan-quota", "redis-error",
                              "ws-reject"]
        [exception] = [e for e in first.events if e.category == "redis-error"]
        assert exception.message.splitlines() == EXCEPTION_LINES
        assert exception.location == f"{GROUP}/instance/a"
        assert exception.label == "redis" and exception.severity == "error"
        assert {"connect-error", "exception-in-app", "traceback"} <= set(exception.tags)
        # An event counts under each of its categories (SPEC, by_category): the exception, the
        # timeout and the quota error are all redis.exceptions; one traceback; three errors.
        assert first.by_category["redis-error"] == 3
        assert first.by_category["traceback"] == first.by_category["connect-error"] == 1
        assert first.by_category["plan-quota"] == first.by_category["channels-timeout"] == 1
        assert first.by_category["ws-reject"] == 1
        assert first.by_category["auth-rejected"] == 0
        assert first.by_severity["error"] == 3 and first.by_severity["warning"] == 1
        assert first.events_total == first.events_in_window == 5

        again = await probe.run()
        assert again.ok and again.events == ()
        assert again.events_total == 5

        logs.put(GROUP, "instance/a", "2026-11-26 11:47:00,000 WARNING  WebSocket connection "
                                      "rejected: anonymous user")
        third = await probe.run()
        assert [e.category for e in third.events] == ["auth-rejected"]
        assert third.events_total == 6 and third.by_category["auth-rejected"] == 1
    finally:
        await probe.close()


async def test_no_secret_leaves_the_probe(logs: LogWriter, moto: str) -> None:
    logs.group("/svc", "web")
    logs.put("/svc", "web",
             "connecting with AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE and "
             "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
             "redis.exceptions.ConnectionError: Error 111 connecting to "
             "rediss://default:Sup3rS3cretPassw0rd@eu1-able-cat-12345.upstash.io:6379",
             "GET /ws/notifications/?token=eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiNDIifQ.c2lnbmF0dXJl")
    probe = probe_for(moto, "/svc")
    try:
        sample = await probe.run()
    finally:
        await probe.close()
    assert len(sample.events) == 3
    dumped = json.dumps(sample.to_dict())
    for secret in ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "Sup3rS3cretPassw0rd",
                   "eyJ1c2VyX2lkIjoiNDIifQ", "c2lnbmF0dXJl"):
        assert secret not in dumped
    assert "***" in dumped
    assert "redis-error" in dumped  # the classification survives the masking


async def test_app_runner_service_finds_its_newest_groups(logs: LogWriter, moto: str) -> None:
    logs.group("/aws/apprunner/notifications-api/old0000000/application")
    time.sleep(0.01)
    logs.group("/aws/apprunner/other-service/1111111111/application")
    time.sleep(0.01)
    new_app = "/aws/apprunner/notifications-api/new1111111/application"
    new_service = "/aws/apprunner/notifications-api/new1111111/service"
    logs.group(new_app, "instance/1")
    logs.group(new_service, "events")
    logs.put(new_app, "instance/1", WSREJECT)
    logs.put(new_service, "events", "[AppRunner] Health check on path '/' failed.")
    probe = probe_for(moto, apprunner_service="notifications-api")
    try:
        sample = await probe.run()
    finally:
        await probe.close()
    assert sample.ok, sample.error
    assert sample.groups == (new_app, new_service)
    assert {e.location for e in sample.events} == {f"{new_app}/instance/1",
                                                   f"{new_service}/events"}


async def test_unknown_app_runner_service_is_a_fault(moto: str) -> None:
    probe = probe_for(moto, apprunner_service="nope")
    try:
        sample = await probe.run()
    finally:
        await probe.close()
    assert not sample.ok
    assert sample.error_kind == "group-not-found"
    assert "/aws/apprunner/nope/" in str(sample.error)


async def test_missing_group_is_a_fault_until_it_appears(logs: LogWriter, moto: str) -> None:
    probe = probe_for(moto, "/app/web", lookback=60)
    try:
        missing = await probe.run()
        assert isinstance(missing, LogsSample)
        assert (missing.ok, missing.error_kind) == (False, "group-not-found")
        assert "/app/web" in str(missing.error) and "us-east-1" in str(missing.error)
        logs.group("/app/web", "web")
        logs.put("/app/web", "web", QUOTA)
        found = await probe.run()
        assert found.ok, found.error
        assert [e.category for e in found.events] == ["plan-quota"]
    finally:
        await probe.close()


async def test_one_missing_group_does_not_stop_the_others(logs: LogWriter, moto: str) -> None:
    logs.group("/present", "web")
    logs.put("/present", "web", TIMEOUT)
    probe = probe_for(moto, "/present", "/absent")
    try:
        sample = await probe.run()
    finally:
        await probe.close()
    assert sample.error_kind == "group-not-found" and "/absent" in str(sample.error)
    assert [e.category for e in sample.events] == ["channels-timeout"]


async def test_live_tail_streams_then_polling_takes_over(
        logs: LogWriter, moto: str, wait_for: Callable[..., Any]) -> None:
    logs.group("/tail", "web")
    # Older than the probe's lookback: only Live Tail (moto's snapshot) delivers these.
    logs.put("/tail", "web", WSREJECT, QUOTA, at_ms=int(time.time() * 1000) - 120_000)
    probe = probe_for(moto, "/tail", live_tail=True, lookback=1, live_tail_retry=300)
    try:
        # The session's first update arrives a moment after it starts: poll for it.
        samples = await wait_for(probe.run, lambda s: s.events, timeout=5)
        assert all(s.ok for s in samples), samples[-1].error
        assert samples[0].notice and "billed per minute" in samples[0].notice
        delivered = samples[-1].events
        assert sorted(str(e.category) for e in delivered) == ["plan-quota", "ws-reject"]
        assert all(e.event_id.startswith("lt-") for e in delivered)
        # moto's session ends after one snapshot: the probe says so and polls.
        samples = await wait_for(probe.run, lambda s: s.mode == "polling", timeout=5)
        polling = samples[-1]
        assert polling.fallback_kind == "session-ended"
        assert "Live Tail session ended" in str(polling.fallback_reason)
        assert polling.live_tail_retry_at is not None
        assert polling.live_tail_retry_at > time.time() + 200
        assert polling.notice is None  # said once
        logs.put("/tail", "web", TIMEOUT)
        later = await probe.run()
        assert [e.category for e in later.events] == ["channels-timeout"]
        assert not later.events[0].event_id.startswith("lt-")  # FilterLogEvents' eventId
    finally:
        await probe.close()


async def test_live_tail_is_retried_and_never_duplicates(logs: LogWriter, moto: str) -> None:
    logs.group("/tail2", "web")
    logs.put("/tail2", "web", WSREJECT, TIMEOUT)
    probe = probe_for(moto, "/tail2", live_tail=True, live_tail_retry=0.2)
    seen: list[str] = []
    calls: list[int] = []
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            sample = await probe.run()
            assert sample.ok, sample.error
            seen += [e.message for e in sample.events]
            calls.append(sample.api_calls)
            await asyncio.sleep(0.25)
            if len(calls) >= 6:
                break
    finally:
        await probe.close()
    assert sorted(seen) == sorted([WSREJECT, TIMEOUT])
    # describe + start + filter, then a fresh start (and a catch-up poll) about every retry.
    assert calls[-1] >= calls[0] + 4


async def test_engine_runs_the_probe_headless(logs: LogWriter, moto: str) -> None:
    logs.group("/engine", "web")
    logs.put("/engine", "web", *EXCEPTION_LINES)
    engine = Engine([probe_for(moto, "/engine")])
    try:
        [sample] = await engine.run_once()
    finally:
        await engine.close_probes()
    assert isinstance(sample, LogsSample) and sample.ok
    assert sample.by_category["redis-error"] == 1
    assert engine.latest("logs") is sample


async def test_live_tail_sampling_is_reported(logs: LogWriter, moto: str,
                                              wait_for: Callable[..., Any]) -> None:
    logs.group("/busy", "web")
    logs.put("/busy", "web", *(f"GET /api/notifications/?n={i} 200" for i in range(600)),
             at_ms=int(time.time() * 1000) - 60_000)
    probe = probe_for(moto, "/busy", live_tail=True, lookback=1)
    try:
        samples = await wait_for(probe.run, lambda s: s.sampled, timeout=5)
        assert all(s.ok for s in samples), samples[-1].error
        # moto, like Live Tail, sends at most 500 events an update and says it sampled.
        assert sum(len(s.events) for s in samples) == 500
        assert not (await probe.run()).sampled  # said for the run that saw it
    finally:
        await probe.close()
