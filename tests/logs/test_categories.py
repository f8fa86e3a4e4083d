"""One event, several categories (SPEC, JSON report): a traceback whose last line is a
``redis.exceptions.ConnectionError`` counts once under ``traceback`` and once under
``redis-error``; the checks and the diagnosis still go by its cause, Redis, not the consumer."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from wsmonitor.rules.base import FAIL, PASS, WARN, CheckContext
from wsmonitor.rules.evaluate import evaluate
from wsmonitor.rules.logs import ended_categories, log_categories, recent_error_times
from wsmonitor.log_samples import LogsSample
from wsmonitor.plans import load_plans
from wsmonitor.probes.logs import FileSource, LogsProbe
from wsmonitor.runtime import judge
from wsmonitor.samples import LatencyStats, RedisSample

REDIS_TB = """\
{stamp} ERROR    Exception inside application: Error 111 connecting to 127.0.0.1:6379.
Traceback (most recent call last):
  File "/app/main/consumers.py", line 36, in connect
    await self.channel_layer.group_add(self.group_name, self.channel_name)
redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.
"""
KEY_TB = """\
{stamp} ERROR    Exception inside application: 'user'
Traceback (most recent call last):
  File "/app/main/consumers.py", line 40, in receive_json
    user = content["user"]
KeyError: 'user'
"""


def asctime(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + ",000"


async def read(path: Path, text: str) -> LogsSample:
    """The probe's sample over a file holding `text` (read live: appended after the start)."""
    path.write_text("")
    probe = LogsProbe(FileSource(str(path)), hold=0.0, window=900)
    try:
        await probe.run()
        with path.open("a") as fh:
            fh.write(text)
        sample = await probe.run()
    finally:
        await probe.close()
    assert isinstance(sample, LogsSample)
    return sample


def redis(at: float, ok: bool) -> RedisSample:
    return RedisSample(probe="redis", at=at, ok=ok, error=None if ok else "refused",
                       error_kind=None if ok else "refused",
                       latencies_ms=(0.1,) if ok else (), window=LatencyStats.of([0.1]),
                       info_ok=ok, connected_clients=3 if ok else None,
                       maxclients=100 if ok else None, rejected_connections=0 if ok else None,
                       server="127.0.0.1:6379")


def ctx() -> CheckContext:
    return CheckContext(plan=load_plans()["none"], redis_configured=True, logs_configured=True,
                        stale_after=30.0)


async def test_a_redis_traceback_counts_under_both_and_once_as_an_error(tmp_path: Path) -> None:
    now = time.time()
    sample = await read(tmp_path / "a.log", REDIS_TB.format(stamp=asctime(now - 2)))
    [event] = sample.events
    assert event.category == "redis-error"  # the cause first
    assert {"redis-error", "traceback", "exception-in-app"} <= set(event.categories)
    assert sample.by_category["redis-error"] == sample.by_category["traceback"] == 1
    assert sample.by_category["exception-in-app"] == 1
    assert sample.by_severity["error"] == 1 and sample.events_in_window == 1


async def test_the_json_report_counts_every_category(tmp_path: Path) -> None:
    log = tmp_path / "b.log"
    log.write_text(REDIS_TB.format(stamp=asctime(time.time() - 400)))
    proc = subprocess.run([sys.executable, "-m", "wsmonitor", "check", "--only", "logs",
                           "--log-file", str(log), "--json"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    by_category = json.loads(proc.stdout)["probes"]["logs"]["by_category"]
    assert by_category["traceback"] == 1 and by_category["redis-error"] == 1


async def test_redis_tracebacks_lead_to_redis_not_the_consumer(tmp_path: Path) -> None:
    now = time.time()
    text = "".join(REDIS_TB.format(stamp=asctime(now - 5 + i)) for i in range(3))
    text += KEY_TB.format(stamp=asctime(now - 1))
    logs = [await read(tmp_path / "c.log", text)]
    # four tracebacks, three of them Redis: Redis is the cause to name
    assert logs[0].by_category["traceback"] == 4 and logs[0].by_category["redis-error"] == 3
    down = [redis(now - 20, True), redis(now - 1, False)]
    diagnosis, results = judge(ctx(), {"redis": down, "logs": logs}, now)
    r = {x.id: x for x in results}
    assert r["consumer-errors"].status == FAIL
    assert "mostly redis-error" in r["consumer-errors"].summary
    assert "redis-reachable" in r["consumer-errors"].remedy
    assert diagnosis.layer == "redis", diagnosis
    # the log categories the diagnosis reads: every category of the events
    assert log_categories(logs, now)["traceback"] == 4


async def test_an_ended_redis_outage_leaves_no_consumer_traceback_behind(tmp_path: Path) -> None:
    now = time.time()
    logs = [await read(tmp_path / "d.log", REDIS_TB.format(stamp=asctime(now - 10)))]
    # Refused here during the outage, answering again since its errors.
    history = {"redis": [redis(now - 12, False), redis(now - 2, True)], "logs": logs}
    results = {x.id: x for x in evaluate(ctx(), history, now)}
    ended = ended_categories(results, recent_error_times(logs, now), history)
    assert set(ended) == {"redis-error"}
    # the traceback is the Redis error's: it ended with it, no consumer fault is left
    assert log_categories(logs, now, ended) == {}
    diagnosis, results_list = judge(ctx(), history, now)
    r = {x.id: x for x in results_list}
    assert r["consumer-errors"].status == WARN
    assert diagnosis.layer not in ("consumer", "redis"), diagnosis
    # a consumer's own traceback after it still fails, and names the consumer
    logs.append(await read(tmp_path / "e.log", KEY_TB.format(stamp=asctime(now - 1))))
    history["logs"] = logs
    diagnosis, results_list = judge(ctx(), history, now)
    r = {x.id: x for x in results_list}
    assert r["consumer-errors"].status == FAIL
    assert "mostly exception-in-app" in r["consumer-errors"].summary
    assert diagnosis.layer == "consumer", diagnosis
    assert r["redis-reachable"].status in (PASS, WARN)
