"""Log events at the time written in the line (SPEC, JSON report): Daphne/Django, access log,
ISO-8601, syslog, CloudWatch's timestamp; the read time only for lines with none, and such lines
read at start-up are history. Old errors found at start-up never fail `check`."""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pytest

from wsmonitor.rules.base import FAIL
from wsmonitor.rules.logs import consumer_errors
from wsmonitor.config import load_settings
from wsmonitor.log_samples import LogEvent, LogsSample
from wsmonitor.probes.logs import CloudWatchSource, CommandSource, FileSource, LogsProbe
from wsmonitor.probes.logs.timestamps import line_time
from wsmonitor.runtime import check_context

from .conftest import LogWriter

# --- the formats -------------------------------------------------------------------------------


def local(*args: int) -> float:
    return datetime(*args).timestamp()  # naive: local time, as wsmonitor reads zone-less times


@pytest.mark.parametrize(("line", "expected", "naive"), [
    # Daphne / Django's asctime
    ("2026-11-26 10:00:03,377 ERROR    Exception inside application: boom",
     local(2026, 11, 26, 10, 0, 3, 377000), True),
    # Daphne's access log
    ('127.0.0.1:5000 - - [26/Nov/2026:10:00:02] "WSCONNECT /ws/notifications/" - -',
     local(2026, 11, 26, 10, 0, 2), True),
    # nginx / common log format with a zone
    ('10.0.0.1 - - [26/Nov/2026:10:00:02 +0100] "GET / HTTP/1.1" 200 12',
     datetime(2026, 11, 26, 9, 0, 2, tzinfo=timezone.utc).timestamp(), False),
    # ISO-8601 with Z, with an offset, and without a zone
    ('{"time": "2026-11-26T10:00:03.5Z", "level": "error"}',
     datetime(2026, 11, 26, 10, 0, 3, 500000, tzinfo=timezone.utc).timestamp(), False),
    ("2026-11-26T10:00:03+02:00 worker died",
     datetime(2026, 11, 26, 8, 0, 3, tzinfo=timezone.utc).timestamp(), False),
    ("2026-11-26T10:00:03 worker died", local(2026, 11, 26, 10, 0, 3), True),
    # docker/kubectl --timestamps: nanoseconds
    ("2026-11-26T10:00:03.123456789Z redis.exceptions.ConnectionError",
     datetime(2026, 11, 26, 10, 0, 3, 123456, tzinfo=timezone.utc).timestamp(), False),
    # hypercorn
    ("[2026-11-26 10:00:03 +0000] [42] [ERROR] Error in ASGI Framework",
     datetime(2026, 11, 26, 10, 0, 3, tzinfo=timezone.utc).timestamp(), False),
    # syslog / journalctl (no year: the one that is not after the read)
    ("Nov 26 10:00:03 web daphne[7]: Exception inside application",
     local(2026, 11, 26, 10, 0, 3), True),
])
def test_formats_give_the_written_time(line: str, expected: float, naive: bool) -> None:
    found = line_time(line, local(2026, 11, 26, 12, 0, 0))
    assert found is not None
    assert found[0] == pytest.approx(expected, abs=1e-3)
    assert found[1] is naive


def test_lines_without_a_time_of_their_own() -> None:
    assert line_time("redis.exceptions.ConnectionError: Error 111 connecting") is None
    assert line_time("Traceback (most recent call last):") is None
    # a date deep in the message is the message's, not the line's
    assert line_time("WebSocket connection rejected: " + "x" * 80 +
                     " token expired at 2026-11-26T10:00:03Z") is None
    # numbers shaped like a date that is none
    assert line_time("2026-13-45 10:00:03 nonsense") is None
    assert line_time("order 2026-11-26 10:61:03 x") is None


def test_a_syslog_time_read_in_january_is_last_years() -> None:
    found = line_time("Dec 31 23:59:58 web daphne[7]: x", local(2027, 1, 1, 0, 0, 5))
    assert found is not None and found[0] == local(2026, 12, 31, 23, 59, 58)


# --- a real file, through the probe and `check` ------------------------------------------------

REDIS_TRACEBACK = """\
{stamp} ERROR    Exception inside application: Error 111 connecting to 127.0.0.1:6379.
Traceback (most recent call last):
  File "/app/main/consumers.py", line 36, in connect
    await self.channel_layer.group_add(self.group_name, self.channel_name)
redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.
"""


def asctime(ago: float) -> str:
    """Django's asctime, local time, `ago` seconds before now."""
    at = time.time() - ago
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + f",{int(at % 1 * 1000):03d}"


def access(ago: float, request: str = "WSREJECT /ws/notifications/") -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S", time.localtime(time.time() - ago))
    return f'127.0.0.1:4242 - - [{stamp}] "{request}" - -\n'


def check(path: Path) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--only", "logs",
                           "--log-file", str(path), "--json"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.stderr == "", proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def status(report: dict[str, Any], cid: str = "consumer-errors") -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == cid)


def test_check_passes_over_old_errors_and_fails_on_fresh_ones(tmp_path: Path) -> None:
    log = tmp_path / "daphne.log"
    # A Redis outage that ended six minutes ago: errors, then quiet access lines.
    log.write_text(REDIS_TRACEBACK.format(stamp=asctime(420)) + access(400) +
                   REDIS_TRACEBACK.format(stamp=asctime(360)) + access(300, "WSCONNECT /ws/"))
    code, report = check(log)
    assert code == 0, status(report)
    assert status(report)["status"] != "fail"
    assert report["diagnosis"]["layer"] == "none"
    logs = report["probes"]["logs"]
    # in the 15-minute window, counted under each category they carry
    assert logs["by_category"]["redis-error"] == 2 and logs["by_category"]["traceback"] == 2
    # the same errors logged seconds ago fail
    log.write_text(REDIS_TRACEBACK.format(stamp=asctime(400)) +
                   REDIS_TRACEBACK.format(stamp=asctime(5)) + access(4))
    code, report = check(log)
    assert code == 1
    assert status(report)["status"] == "fail"
    assert status(report)["summary"].startswith("1 consumer error(s) in the last 3 min")
    assert report["diagnosis"]["layer"] == "redis"


def test_an_error_with_no_time_read_at_start_up_is_history(tmp_path: Path) -> None:
    log = tmp_path / "bare.log"
    log.write_text(REDIS_TRACEBACK.format(stamp="").lstrip() + "plain line\n")
    code, report = check(log)
    assert code == 0
    assert status(report)["status"] == "pass"
    assert report["diagnosis"]["layer"] == "none"


async def test_file_events_carry_the_logs_time_and_untimed_lines_the_read_time(
        tmp_path: Path) -> None:
    log = tmp_path / "daphne.log"
    old = asctime(600)
    log.write_text(REDIS_TRACEBACK.format(stamp=old) + "untimed backlog error: "
                   "redis.exceptions.ConnectionError: refused\n")
    probe = LogsProbe(FileSource(str(log)), hold=0.0, window=900)
    try:
        first = await probe.run()
        written, untimed = first.events
        assert written.clock == "logged"
        assert written.timestamp == pytest.approx(time.time() - 600, abs=2)
        assert untimed.clock == "unknown"  # read at start-up with no time: age unknown
        assert first.events_in_window == 1  # only the one whose time is known
        with log.open("a") as fh:
            fh.write("redis.exceptions.ConnectionError: Error 111 (appended, no time)\n")
            fh.write(REDIS_TRACEBACK.format(stamp=asctime(2)))
        before = time.time()
        second = await probe.run()
        appended, fresh = second.events
        assert appended.clock == "read" and appended.timestamp >= before - 1
        assert fresh.clock == "logged"
        assert fresh.timestamp == pytest.approx(time.time() - 2, abs=2)
    finally:
        await probe.close()
    # judged: the old and the untimed are history; the appended ones fail
    settings = load_settings({"log_file": str(log)}, environ={})
    ctx = check_context(settings, None, {"logs"})
    at_start = consumer_errors(ctx, [first], time.time())
    assert at_start.status != FAIL, at_start
    assert any("no time written" in e for e in at_start.evidence), at_start.evidence
    later = consumer_errors(ctx, [first, second], time.time())
    assert later.status == FAIL and later.summary.startswith("2 consumer error(s)")


async def test_command_backlog_is_history_and_live_lines_are_read_now(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "print('redis.exceptions.ConnectionError: backlog, no time', flush=True)\n"
        "print('2026-01-02 03:04:05,000 ERROR backlog with a time', flush=True)\n"
        "time.sleep(1.5)\n"
        "print('redis.exceptions.ConnectionError: live, no time', flush=True)\n"
        "time.sleep(60)\n"
    )
    probe = LogsProbe(CommandSource(f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"),
                      hold=0.0)
    events: list[LogEvent] = []
    try:
        deadline = time.monotonic() + 20
        while len(events) < 3 and time.monotonic() < deadline:
            events.extend((await probe.run()).events)
            await asyncio.sleep(0.1)
    finally:
        await probe.close()
    backlog, dated, live = events
    assert backlog.clock == "unknown"
    assert (dated.clock, dated.timestamp) == ("logged", local(2026, 1, 2, 3, 4, 5))
    assert live.clock == "read" and live.timestamp == pytest.approx(time.time(), abs=30)


async def test_a_source_logging_in_another_zone_is_learned_from_live_lines(
        tmp_path: Path) -> None:
    """Django sets its process's zone to TIME_ZONE (America/Chicago when unset): its zone-less
    times are then hours off local time. Lines written while we watch tell the difference."""
    log = tmp_path / "chicago.log"
    log.write_text("")
    probe = LogsProbe(FileSource(str(log)), hold=0.0)
    shift = 6 * 3600  # the service's clock reads six hours behind ours
    try:
        await probe.run()
        with log.open("a") as fh:
            fh.write(access(shift, "WSCONNECTING /ws/") + access(shift, "WSCONNECT /ws/"))
            fh.write(REDIS_TRACEBACK.format(stamp=asctime(shift + 1)))
        sample = await probe.run()
        for event in sample.events:
            assert event.timestamp == pytest.approx(time.time(), abs=5), event
        # a line from before, in the same zone, is put at its true time
        with log.open("a") as fh:
            fh.write(REDIS_TRACEBACK.format(stamp=asctime(shift + 600)))
        [late] = (await probe.run()).events
        assert late.clock == "logged"
        assert late.timestamp == pytest.approx(time.time() - 600, abs=5)
    finally:
        await probe.close()


async def test_a_time_ahead_of_the_read_is_not_believed(tmp_path: Path) -> None:
    log = tmp_path / "ahead.log"
    # Ahead of its write by a gap no zone explains (a whole number of quarter hours would be
    # the file's zone: `test_a_file_written_in_another_zone_is_read_in_it`).
    log.write_text(REDIS_TRACEBACK.format(stamp=asctime(-3 * 3600 - 400)))
    probe = LogsProbe(FileSource(str(log)), hold=0.0)
    try:
        [event] = (await probe.run()).events
    finally:
        await probe.close()
    assert event.clock == "unknown"  # read at start-up, its time unbelievable: history


async def test_cloudwatch_events_keep_cloudwatchs_timestamp(logs: LogWriter, moto: str) -> None:
    logs.group("/svc", "web")
    at_ms = int(time.time() * 1000) - 30_000
    # the line's own (old) asctime is not what counts: CloudWatch's timestamp is
    logs.put("/svc", "web", "2026-01-02 03:04:05,000 ERROR redis.exceptions.ConnectionError: x",
             at_ms=at_ms)
    probe = LogsProbe(CloudWatchSource(["/svc"], endpoint_url=moto, live_tail=False,
                                       max_poll_rate=1000.0), hold=0.0)
    try:
        [event] = (await probe.run()).events
    finally:
        await probe.close()
    assert (event.timestamp, event.clock) == (at_ms / 1000, "logged")


def test_recorded_events_keep_their_clock() -> None:
    from wsmonitor.samples import sample_from_dict

    sample = LogsSample(probe="logs", at=1.0, ok=True, events=(
        LogEvent(1.0, "f", "m", "redis-error", "1", ("redis-error", "traceback"), "redis",
                 "error", "unknown"),))
    again = sample_from_dict(json.loads(json.dumps(sample.to_dict())))
    assert again == sample
    assert again.events[0].categories == ("redis-error", "traceback")  # type: ignore[attr-defined]
    # a recording made before the clock existed reads as logged at its timestamp
    old = sample.to_dict()
    del old["events"][0]["clock"]
    assert sample_from_dict(old).events[0].clock == "logged"  # type: ignore[attr-defined]


def test_untimed_history_is_never_recent() -> None:
    event = LogEvent(time.time(), "f", "m", "redis-error", clock="unknown", severity="error")
    assert not event.logged_since(0.0)
    assert LogEvent(5.0, "f", "m").logged_since(5.0)
    assert not LogEvent(4.9, "f", "m").logged_since(5.0)


def zoned(zone: str | tzinfo, ago: float) -> str:
    """Django's asctime as a process in `zone` (a name or a fixed offset) writes it, `ago`
    seconds before now."""
    from zoneinfo import ZoneInfo

    at = datetime.fromtimestamp(time.time() - ago, ZoneInfo(zone) if isinstance(zone, str)
                                else zone)
    return at.strftime("%Y-%m-%d %H:%M:%S") + ",000"


@pytest.mark.parametrize("zone", [
    "America/Chicago",  # Django's TIME_ZONE when a project sets none (the tests' target)
    timezone(timedelta(hours=5, minutes=30)),  # India: half an hour
    timezone(timedelta(hours=-3)),  # São Paulo
    timezone(timedelta(hours=5, minutes=45)),  # Nepal: a quarter
    timezone(timedelta(hours=14)),  # Kiribati, the furthest ahead
    timezone(timedelta(hours=-12)),  # the furthest behind
], ids=str)
async def test_a_file_written_in_another_zone_is_read_in_it(tmp_path: Path,
                                                            zone: str | tzinfo) -> None:
    """The file's last line, written as its modification time, is a whole number of quarter
    hours off it as local time: that is the zone the file is written in, whatever its name."""
    log = tmp_path / "zoned.log"
    log.write_text(REDIS_TRACEBACK.format(stamp=zoned(zone, 400)) +
                   REDIS_TRACEBACK.format(stamp=zoned(zone, 0)))
    probe = LogsProbe(FileSource(str(log)), hold=0.0)
    try:
        old, fresh = (await probe.run()).events
    finally:
        await probe.close()
    assert (old.clock, fresh.clock) == ("logged", "logged")
    assert old.timestamp == pytest.approx(time.time() - 400, abs=5)
    assert fresh.timestamp == pytest.approx(time.time(), abs=5)
    code, report = check(log)
    assert code == 1 and status(report)["status"] == "fail"
    assert report["diagnosis"]["layer"] == "redis"


@pytest.mark.parametrize("hours", [-13, 15])
def test_a_fit_that_is_no_zone_is_the_lines_age(tmp_path: Path, hours: int) -> None:
    """A gap of whole quarter hours that would put the writer at UTC-13 or UTC+15: no zone is
    there (they span UTC-12 to UTC+14), so the file stays in local time and the line is old
    (or ahead, not believed): history either way."""
    log = tmp_path / "far.log"
    log.write_text(REDIS_TRACEBACK.format(stamp=zoned(timezone(timedelta(hours=hours)), 0)))
    code, report = check(log)
    assert code == 0 and status(report)["status"] != "fail", status(report)


@pytest.mark.parametrize("ago", [1000, 3600 + 450, 6 * 3600 + 500])
async def test_a_genuinely_old_last_line_is_read_as_local_time(tmp_path: Path, ago: int) -> None:
    """A file touched now whose last line is old, by a gap no quarter hour fits: the gap is the
    line's age, the file stays in local time, its errors are history."""
    log = tmp_path / "old.log"
    log.write_text(REDIS_TRACEBACK.format(stamp=asctime(ago + 300)) +
                   REDIS_TRACEBACK.format(stamp=asctime(ago)))
    probe = LogsProbe(FileSource(str(log)), hold=0.0)
    try:
        older, last = (await probe.run()).events
    finally:
        await probe.close()
    assert (older.clock, last.clock) == ("logged", "logged")
    assert last.timestamp == pytest.approx(time.time() - ago, abs=5)
    assert older.timestamp == pytest.approx(time.time() - ago - 300, abs=5)
    code, report = check(log)
    assert code == 0 and status(report)["status"] != "fail", status(report)
