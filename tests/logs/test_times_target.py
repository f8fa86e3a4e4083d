"""The tests' Django target under Daphne, its real log, its own zone: Django sets the process's
zone to TIME_ZONE (America/Chicago when unset, as in tests/target), so Daphne writes zone-less
times hours off this machine's. The probe learns that from lines written while it watches, and
a real Redis outage's tracebacks are judged at the moment they were logged — by the dashboard's
probe, and by a `check` started after it: with nothing that sees Redis answer again they fail;
with --redis-url, once Redis answers, they are history (a warning), and while it is still down
they fail and name Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import websockets

from tests.handshake.processes import DaphneProcess, RedisProcess, Target, setup_target_db
from wsmonitor.rules.base import FAIL
from wsmonitor.rules.logs import consumer_errors
from wsmonitor.config import load_settings
from wsmonitor.log_samples import LogsSample
from wsmonitor.probes.logs import FileSource, LogsProbe
from wsmonitor.runtime import check_context


@pytest.fixture(scope="module")
def raising_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """Daphne serving the target whose connect() lets Redis errors escape, on its own Redis."""
    workdir = tmp_path_factory.mktemp("times-target")
    db = workdir / "target.sqlite3"
    user = setup_target_db(db)
    redis = RedisProcess(workdir)
    redis.start()
    daphne = DaphneProcess(workdir, db=db, redis_url=redis.url, connect_errors="raise",
                           name="daphne-times")
    try:
        daphne.start()
        yield Target(daphne=daphne, redis=redis, user_id=user)
    finally:
        daphne.stop()
        redis.stop()


async def handshake(target: Target) -> str:
    try:
        async with websockets.connect(f"{target.url}?token={target.token()}",
                                      origin=target.origin, open_timeout=15):
            return "101"
    except websockets.InvalidStatus as exc:
        return str(exc.response.status_code)


async def test_a_redis_outage_in_daphnes_log_is_judged_when_it_was_logged(
        raising_target: Target) -> None:
    target = raising_target
    assert await handshake(target) == "101"
    probe = LogsProbe(FileSource(str(target.daphne.log_path)), hold=0.0, window=900)
    samples: list[LogsSample] = []
    port = target.redis.port
    try:
        samples.append(await probe.run())  # the backlog: start-up lines
        for _ in range(2):  # lines written while we watch: Daphne's access log and logging
            assert await handshake(target) == "101"
        samples.append(await probe.run())
        target.redis.stop()
        outage = time.time()
        try:
            assert await handshake(target) == "500"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                samples.append(await probe.run())
                if any(e.category == "redis-error" for s in samples[2:] for e in s.events):
                    break
                await asyncio.sleep(0.2)
        finally:
            target.redis.start(port)
    finally:
        await probe.close()
    errors = [e for s in samples for e in s.events if e.category == "redis-error"]
    assert errors, [e.message[:80] for s in samples for e in s.events]
    # The target prints each error bare (no time: read now) and through logging (asctime).
    assert {e.clock for e in errors} == {"logged", "read"}
    for event in errors:
        # at the moment it was logged (this machine's clock), not six hours before
        assert outage - 5 <= event.timestamp <= time.time() + 1, (event.timestamp, outage)
        # a traceback caused by Redis: counted under both (SPEC, by_category)
        assert {"redis-error", "traceback"} <= set(event.categories)
    assert samples[-1].by_category["traceback"] >= 1
    assert samples[-1].by_category["redis-error"] >= samples[-1].by_category["traceback"]
    settings = load_settings({"log_file": str(target.daphne.log_path)}, environ={})
    verdict = consumer_errors(check_context(settings, None, {"logs"}), samples, time.time())
    assert verdict.status == FAIL and "redis-error" in verdict.summary, verdict
    # `check` started now reads that log from its start-up backlog: the file's last line
    # against its modification time is a whole number of hours off local time: the file is
    # written at that offset (Chicago's), so the outage's errors are seconds old, not six
    # hours: they fail, and name Redis (no --redis-url: nothing here sees Redis answer again).
    assert await handshake(target) == "101"
    proc = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--only", "logs",
                           "--log-file", str(target.daphne.log_path), "--json"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    report = json.loads(proc.stdout)
    result = next(c for c in report["checks"] if c["id"] == "consumer-errors")
    assert proc.returncode == 1 and result["status"] == "fail", result
    assert report["diagnosis"]["layer"] == "redis", report["diagnosis"]
    assert report["probes"]["logs"]["by_category"]["traceback"] >= 1


def run_check(target: Target) -> tuple[int, dict, dict]:
    """`wsmonitor check` with the target's Redis and Daphne's log; (exit code, report,
    consumer-errors)."""
    proc = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--redis-url",
                           target.redis.url, "--log-file", str(target.daphne.log_path), "--json"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=90)
    assert proc.stderr == "", proc.stderr
    report = json.loads(proc.stdout)
    result = next(c for c in report["checks"] if c["id"] == "consumer-errors")
    return proc.returncode, report, result


async def test_a_check_after_a_redis_outage_ended_warns_and_during_it_fails(
        raising_target: Target) -> None:
    """The issue's case: a `check` started after a Redis outage has ended (Redis answers here
    and to the service) finds the outage's errors in the log, seconds old, inside the recent
    window. wsmonitor never saw the outage, but redis-reachable sees its end now: the errors
    logged before it started are history — a warning, exit 0, no layer named. The same
    `check` while Redis is still down fails and names Redis."""
    target = raising_target
    log = target.daphne.log_path
    assert await handshake(target) == "101"
    port = target.redis.port
    target.redis.stop()
    try:
        before = log.read_text().count("redis.exceptions.ConnectionError")
        assert await handshake(target) == "500"  # connect() raises on group_add: real errors
        deadline = time.monotonic() + 30
        while log.read_text().count("redis.exceptions.ConnectionError") <= before:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            await asyncio.sleep(0.2)
        # Still down: the errors are current, Redis refuses here too.
        code, report, result = run_check(target)
        assert code == 1, result
        assert result["status"] == "fail", result
        assert result["summary"].startswith(tuple(f"{n} consumer error(s) in the last 3 min"
                                                  for n in range(1, 20))), result
        assert "redis-error" in result["summary"]
        assert report["diagnosis"]["layer"] == "redis", report["diagnosis"]
    finally:
        target.redis.start(port)
    # Over: the service connects again (its access log line is the file's last, written now).
    assert await handshake(target) == "101"
    code, report, result = run_check(target)
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert code == 0, (result, report["diagnosis"])
    assert statuses["redis-reachable"] == "pass"
    assert result["status"] == "warn", result
    assert "Redis error(s) logged before wsmonitor started, the last" in result["summary"]
    assert result["summary"].endswith("Redis answers now"), result
    assert any("logged before wsmonitor started watching" in e for e in result["evidence"])
    assert report["diagnosis"]["layer"] == "none", report["diagnosis"]
    # counted in the window all the same: history is shown, not hidden
    assert report["probes"]["logs"]["by_category"]["redis-error"] >= 1
