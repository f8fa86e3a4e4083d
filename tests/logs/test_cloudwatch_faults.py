"""CloudWatch faults become samples with a named error_kind, never exceptions: a scriptable stub
answers the JSON protocol's errors (throttling, denial, not found, expired credentials); the
environment provides the missing-credential and missing-region cases."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.servers import free_port
from wsmonitor.probes.logs import CloudWatchSource, LogsProbe, LogsSample, classify_aws_error

from .conftest import CloudWatchStub, group_description

GROUP = "/app/web"


def stub_probe(stub: CloudWatchStub, *groups: str, **options: Any) -> LogsProbe:
    options.setdefault("live_tail", False)
    options.setdefault("max_poll_rate", 1000.0)
    return LogsProbe(CloudWatchSource(groups or (GROUP,), endpoint_url=stub.url, **options),
                     hold=0.0)


def events_page(*messages: str, first_id: int = 1) -> tuple[int, dict[str, Any]]:
    now = int(time.time() * 1000)
    return 200, {"events": [
        {"logStreamName": "web", "timestamp": now + i, "ingestionTime": now + i,
         "message": m, "eventId": str(first_id + i)} for i, m in enumerate(messages)],
        "searchedLogStreams": []}


def describe(*names: str) -> tuple[int, dict[str, Any]]:
    return 200, {"logGroups": [group_description(n) for n in names or (GROUP,)]}


async def run(probe: LogsProbe) -> LogsSample:
    sample = await probe.run()
    assert isinstance(sample, LogsSample)
    return sample


async def test_throttling_backs_off_and_recovers(cw_stub: CloudWatchStub) -> None:
    cw_stub.on("DescribeLogGroups", describe())
    cw_stub.on("FilterLogEvents", "ThrottlingException", "ThrottlingException",
               events_page("ERR max requests limit exceeded"))
    probe = stub_probe(cw_stub, throttle_backoff=0.3)
    try:
        first = await run(probe)
        assert (first.ok, first.error_kind) == (False, "throttled")
        assert "5 requests/s" in str(first.error)
        # Inside the backoff: no request at all.
        during = await run(probe)
        assert during.error_kind == "throttled"
        assert len(cw_stub.ops("FilterLogEvents")) == 1
        deadline = time.monotonic() + 5
        sample = during
        while not sample.ok and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            sample = await run(probe)
        assert sample.ok, sample.error
        assert [e.category for e in sample.events] == ["plan-quota"]
    finally:
        await probe.close()
    calls = cw_stub.ops("FilterLogEvents")
    assert len(calls) == 3
    first_gap, second_gap = calls[1].at - calls[0].at, calls[2].at - calls[1].at
    assert first_gap >= 0.3
    assert second_gap >= 0.6  # doubled


async def test_polling_stays_inside_the_request_budget(cw_stub: CloudWatchStub) -> None:
    groups = ("/a", "/b", "/c")
    cw_stub.on("DescribeLogGroups", lambda body: describe(body["logGroupNamePrefix"]))
    cw_stub.on("FilterLogEvents", events_page())
    probe = LogsProbe(CloudWatchSource(groups, endpoint_url=cw_stub.url, live_tail=False))
    try:
        for _ in range(3):
            sample = await run(probe)
            assert sample.ok, sample.error
        # One request per group per second of the shared 5/s quota at most: three groups are
        # polled once, and the next round waits at least three seconds.
        assert len(cw_stub.ops("FilterLogEvents")) == 3
        assert probe.interval(2.0) >= 3.0
        assert probe.interval(2.0) >= 5.0  # idle: like `aws logs tail`, poll every 5 s
    finally:
        await probe.close()


@pytest.mark.parametrize(("op", "code", "kind", "says"), [
    ("FilterLogEvents", "AccessDeniedException", "access-denied", "logs:FilterLogEvents"),
    ("DescribeLogGroups", "AccessDeniedException", "access-denied", "logs:DescribeLogGroups"),
    ("FilterLogEvents", "ResourceNotFoundException", "group-not-found", GROUP),
    ("FilterLogEvents", "ExpiredTokenException", "expired-credentials", "expired"),
    ("DescribeLogGroups", "UnrecognizedClientException", "invalid-credentials", "rejected"),
    ("FilterLogEvents", "ServiceUnavailableException", "service-error", "unavailable"),
])
async def test_api_errors_become_named_faults(cw_stub: CloudWatchStub, op: str, code: str,
                                              kind: str, says: str) -> None:
    cw_stub.on("DescribeLogGroups", describe())
    cw_stub.on(op, code)
    probe = stub_probe(cw_stub)
    try:
        sample = await run(probe)
    finally:
        await probe.close()
    assert (sample.ok, sample.error_kind) == (False, kind)
    assert says in str(sample.error)
    assert code in str(sample.error)


async def test_the_tail_resumes_when_credentials_are_refreshed(cw_stub: CloudWatchStub) -> None:
    cw_stub.on("DescribeLogGroups", describe())
    cw_stub.on("FilterLogEvents", "ExpiredTokenException", events_page("Timeout reading from x"))
    probe = stub_probe(cw_stub)
    try:
        expired = await run(probe)
        assert expired.error_kind == "expired-credentials"
        resumed = await run(probe)
        assert resumed.ok, resumed.error
        assert [e.category for e in resumed.events] == ["channels-timeout"]
    finally:
        await probe.close()


async def test_deleted_group_is_looked_up_again(cw_stub: CloudWatchStub) -> None:
    cw_stub.on("DescribeLogGroups", describe(), (200, {"logGroups": []}))
    cw_stub.on("FilterLogEvents", "ResourceNotFoundException")
    probe = stub_probe(cw_stub)
    try:
        gone = await run(probe)
        assert gone.error_kind == "group-not-found"
        still = await run(probe)
        assert still.error_kind == "group-not-found"
        assert len(cw_stub.ops("DescribeLogGroups")) == 2
        assert len(cw_stub.ops("FilterLogEvents")) == 1
    finally:
        await probe.close()


@pytest.mark.parametrize(("response", "kind", "retry_factor"), [
    ("AccessDeniedException", "access-denied", 4),
    ("LimitExceededException", "limit-exceeded", 1),
    ((404, {"__type": "UnknownOperationException", "message": "no such operation"}),
     "live-tail-unavailable", 4),
])
async def test_live_tail_refused_falls_back_to_polling(cw_stub: CloudWatchStub, response: Any,
                                                       kind: str, retry_factor: int) -> None:
    cw_stub.on("DescribeLogGroups", describe())
    cw_stub.on("StartLiveTail", response)
    cw_stub.on("FilterLogEvents", events_page(
        '10.0.0.1:5 - - [26/Nov/2026:11:46:34] "WSREJECT /ws/notifications/" - -'))
    probe = stub_probe(cw_stub, live_tail=True, live_tail_retry=100)
    try:
        sample = await run(probe)
    finally:
        await probe.close()
    assert sample.ok, sample.error
    assert (sample.mode, sample.fallback_kind) == ("polling", kind)
    assert "polling" in str(sample.fallback_reason)
    assert sample.notice is None  # Live Tail never ran: nothing billed
    assert [e.category for e in sample.events] == ["ws-reject"]
    assert sample.live_tail_retry_at is not None
    wait = sample.live_tail_retry_at - time.time()
    assert 100 * retry_factor - 5 < wait <= 100 * retry_factor


async def test_live_tail_is_tried_again_after_the_retry_delay(cw_stub: CloudWatchStub) -> None:
    cw_stub.on("DescribeLogGroups", describe())
    cw_stub.on("StartLiveTail", "LimitExceededException")
    cw_stub.on("FilterLogEvents", events_page())
    probe = stub_probe(cw_stub, live_tail=True, live_tail_retry=0.3)
    try:
        await run(probe)
        await run(probe)
        assert len(cw_stub.ops("StartLiveTail")) == 1
        deadline = time.monotonic() + 5
        while len(cw_stub.ops("StartLiveTail")) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            await run(probe)
    finally:
        await probe.close()
    starts = cw_stub.ops("StartLiveTail")
    assert len(starts) == 2 and starts[1].at - starts[0].at >= 0.3


async def test_no_credentials_is_a_sample(cw_stub: CloudWatchStub,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    probe = stub_probe(cw_stub)
    try:
        sample = await run(probe)
    finally:
        await probe.close()
    assert (sample.ok, sample.error_kind) == (False, "no-credentials")
    assert "aws configure" in str(sample.error)
    assert cw_stub.ops() == []


async def test_no_region_is_a_sample(cw_stub: CloudWatchStub,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    probe = stub_probe(cw_stub)
    try:
        sample = await run(probe)
    finally:
        await probe.close()
    assert (sample.ok, sample.error_kind) == (False, "no-region")
    assert "AWS_REGION" in str(sample.error)


async def test_unreachable_endpoint_is_a_sample(aws_env: dict[str, str]) -> None:
    probe = LogsProbe(CloudWatchSource([GROUP], endpoint_url=f"http://127.0.0.1:{free_port()}",
                                       call_timeout=3))
    started = time.monotonic()
    try:
        sample = await run(probe)
    finally:
        await probe.close()
    assert (sample.ok, sample.error_kind) == (False, "endpoint-unreachable")
    assert "--aws-endpoint-url" in str(sample.error)
    assert time.monotonic() - started < 5


async def test_endpoint_credentials_are_redacted_from_faults(aws_env: dict[str, str]) -> None:
    url = f"http://admin:hunter2hunter2@127.0.0.1:{free_port()}"
    probe = LogsProbe(CloudWatchSource([GROUP], endpoint_url=url, call_timeout=3))
    try:
        sample = await run(probe)
    finally:
        await probe.close()
    assert not sample.ok
    assert "hunter2hunter2" not in str(sample.to_dict())


def test_unknown_exceptions_are_named_not_raised() -> None:
    fault = classify_aws_error(RuntimeError("weird"), what="log group /x")
    assert fault.kind == "aws-error" and "/x" in fault.message and "weird" in fault.message


async def test_a_malformed_answer_is_a_fault_not_a_crash(cw_stub: CloudWatchStub) -> None:
    cw_stub.on("DescribeLogGroups", (200, {"not": "what you expect"}))
    probe = stub_probe(cw_stub)
    try:
        sample = await run(probe)
    finally:
        await probe.close()
    assert (sample.ok, sample.error_kind) == (False, "group-not-found")
