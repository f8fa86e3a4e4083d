"""The engine with small real probes (no mocks of the engine), and with RedisProbe on a real server."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from conftest import PASSWORD
from servers import RedisServer
from wsmonitor.engine import Engine
from wsmonitor.plans import load_plans
from wsmonitor.probes.redis import CLIENT_NAME, RedisProbe
from wsmonitor.samples import RedisSample, Sample
from wsmonitor.secrets import register_secret

WAIT = 15.0
"""Generous: conditions are polled, so this only bounds a failing test."""


@dataclass(frozen=True, slots=True)
class CountedSample(Sample):
    n: int = 0
    """Which run of the probe produced it (1-based)."""


class ScriptedProbe:
    """A probe whose runs follow a script: each step is ``ok``, ``fail``, ``raise``, ``hang``.

    After the script the last step repeats. Records concurrency and the engine state seen at
    the start of each run (on the engine's own loop, so it is consistent).
    """

    def __init__(self, name: str = "scripted", *, script: tuple[str, ...] = ("ok",),
                 interval: float = 0.05, timeout: float = 5.0, sleep: float = 0.0,
                 engine: Engine | None = None) -> None:
        self.name = name
        self.timeout = timeout
        self._interval = interval
        self.script = script
        self.sleep = sleep
        self.engine = engine
        self.active = 0
        self.max_active = 0
        self.started = 0
        self.cancelled = 0
        self.closed = 0
        self.started_at: list[float] = []
        self.seen_delays: list[float] = []
        self.seen_failures: list[int] = []
        self.error_text = "boom"

    def interval(self, base: float) -> float:
        return self._interval

    async def run(self) -> Sample:
        self.started += 1
        n = self.started
        self.started_at.append(time.monotonic())
        if self.engine is not None:
            state = self.engine.states[self.name]
            self.seen_delays.append(state.delay)
            self.seen_failures.append(state.failures)
        step = self.script[min(n, len(self.script)) - 1]
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if step == "hang":
                await asyncio.sleep(3600)
            if self.sleep:
                await asyncio.sleep(self.sleep)
            if step == "raise":
                raise RuntimeError(self.error_text)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1
        ok = step == "ok"
        return CountedSample(self.name, time.time(), ok, None if ok else "failed",
                             None if ok else "test-failure", n=n)

    async def close(self) -> None:
        self.closed += 1


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines started by a test; all stopped at teardown."""
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.stop()


def started(engines: list[Engine], *probes: ScriptedProbe | RedisProbe,
            **kwargs: object) -> Engine:
    engine = Engine(probes, **kwargs)  # type: ignore[arg-type]
    for p in probes:
        if isinstance(p, ScriptedProbe):
            p.engine = engine
    engines.append(engine)
    engine.start()
    return engine


class Collector:
    """A subscriber that keeps what it got, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: list[Sample] = []
        self.threads: set[str] = set()

    def __call__(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)
            self.threads.add(threading.current_thread().name)

    def of(self, probe: str) -> list[Sample]:
        with self.lock:
            return [s for s in self.samples if s.probe == probe]


# --- construction ------------------------------------------------------------------------------


def test_probe_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="two probes named 'a'"):
        Engine([ScriptedProbe("a"), ScriptedProbe("a")])


# --- scheduling --------------------------------------------------------------------------------


def test_never_two_runs_of_one_probe_at_once(engines: list[Engine]) -> None:
    # Each run takes far longer than the interval, and run_now keeps asking for more.
    slow = ScriptedProbe("slow", interval=0.01, sleep=0.15)
    engine = started(engines, slow, interval=0.01)
    deadline = time.monotonic() + WAIT
    while slow.started < 5 and time.monotonic() < deadline:
        engine.run_now("slow")
        engine.run_now()
        time.sleep(0.005)
    assert slow.started >= 5
    assert slow.max_active == 1


def test_run_timeout_becomes_sample_and_engine_goes_on(engines: list[Engine]) -> None:
    hung = ScriptedProbe("hung", script=("hang", "ok"), timeout=0.2)
    got = Collector()
    engine = Engine([hung], interval=0.05)
    hung.engine = engine
    engine.subscribe(got)
    engines.append(engine)
    engine.start()
    wait_until(lambda: len(got.of("hung")) >= 3)
    first, second = got.of("hung")[:2]
    assert not first.ok
    assert first.error_kind == "probe-timeout"
    assert first.error == "no result within 0.2 s"
    assert first.duration_ms >= 150
    assert hung.cancelled == 1
    assert second.ok and isinstance(second, CountedSample) and second.n == 2
    assert engine.states["hung"].failures == 0


def test_raising_probe_becomes_redacted_probe_bug(engines: list[Engine],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiNDIifQ.c2lnbmF0dXJlLWhlcmU"
    buggy = ScriptedProbe("buggy", script=("raise", "raise", "ok"), interval=0.02)
    buggy.error_text = (f"cannot use redis://default:{quote(PASSWORD, safe='')}@cache:6379/0 "
                        f"with token={token} and {PASSWORD}")
    register_secret(PASSWORD)
    got = Collector()
    caplog.set_level(logging.DEBUG, logger="wsmonitor.engine")
    engine = Engine([buggy], interval=0.02, max_backoff=0.1)
    engine.subscribe(got)
    engines.append(engine)
    engine.start()
    wait_until(lambda: any(s.ok for s in got.of("buggy")))
    bugs = [s for s in got.of("buggy") if not s.ok]
    assert len(bugs) == 2
    for s in bugs:
        assert s.error_kind == "probe-bug"
        assert s.error.startswith("RuntimeError: cannot use redis://default:***@cache:6379/0")
        assert "token=***" in s.error
        for secret in (PASSWORD, quote(PASSWORD, safe=""), token):
            assert secret not in s.error
    # The log says what happened, with the same redaction (traceback included).
    engine.stop()
    logged = "\n".join(r.getMessage() + (logging.Formatter().formatException(r.exc_info)
                                         if r.exc_info else "") for r in caplog.records)
    assert "probe buggy raised" in logged
    assert "RuntimeError" in logged
    for secret in (PASSWORD, quote(PASSWORD, safe=""), token):
        assert secret not in logged


# --- backoff -----------------------------------------------------------------------------------


def test_backoff_delay_doubles_up_to_the_cap() -> None:
    # A first failure is looked at again after one interval (to confirm it); then doubling.
    p = ScriptedProbe("p", interval=1.0)
    engine = Engine([p], max_backoff=8.0, backoff_intervals=100)
    assert [engine.backoff_delay(p, f) for f in range(6)] == [1, 1, 2, 4, 8, 8]
    assert engine.backoff_delay(p, 10_000) == 8  # no overflow on a long outage
    assert engine.backoff_delay(p, -1) == 1
    # A probe whose own interval exceeds the cap never waits less than its interval.
    slow = ScriptedProbe("slow", interval=20.0)
    assert Engine([slow], max_backoff=8.0).backoff_delay(slow, 3) == 20.0


def test_backoff_is_capped_in_intervals_so_a_fault_that_ends_is_seen_soon() -> None:
    p = ScriptedProbe("p", interval=1.0)
    engine = Engine([p], max_backoff=30.0)  # default: at most two intervals
    assert [engine.backoff_delay(p, f) for f in range(5)] == [1, 1, 2, 2, 2]
    fast = ScriptedProbe("fast", interval=0.2)
    assert Engine([fast], max_backoff=30.0).backoff_delay(fast, 50) == pytest.approx(0.4)
    # Both caps hold: the seconds cap wins for slow probes (never under the interval).
    slow = ScriptedProbe("slow", interval=20.0)
    assert Engine([slow], max_backoff=30.0).backoff_delay(slow, 5) == 30.0
    # A probe may cap its own backoff lower (the fast probe verdicts are confirmed on).
    steady = ScriptedProbe("steady", interval=1.0)
    steady.backoff_intervals = 1.0  # type: ignore[attr-defined]
    assert [Engine([steady]).backoff_delay(steady, f) for f in range(4)] == [1, 1, 1, 1]


def test_backoff_follows_interval_scaling() -> None:
    class Scaled(ScriptedProbe):
        def interval(self, base: float) -> float:
            return base

    p = Scaled("p")
    engine = Engine([p], interval=2.0, max_backoff=100.0, backoff_intervals=100)
    assert engine.backoff_delay(p, 0) == 2.0
    assert engine.scale_interval(2) == 2.0
    assert engine.effective_interval(p) == 4.0
    assert engine.backoff_delay(p, 2) == 8.0
    assert engine.scale_interval(1000) == 16.0  # bounded
    assert engine.scale_interval(1e-6) == 0.25


def test_backoff_observed_while_failing_then_reset(engines: list[Engine]) -> None:
    script = ("fail",) * 5 + ("ok", "ok")
    flaky = ScriptedProbe("flaky", script=script, interval=0.05)
    engine = started(engines, flaky, max_backoff=0.4, backoff_intervals=100)
    wait_until(lambda: flaky.started >= 7)
    # The delay chosen after run k is what run k+1 sees.
    assert flaky.seen_failures[:7] == [0, 1, 2, 3, 4, 5, 0]
    assert flaky.seen_delays[1:7] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.4, 0.05])
    # The engine really waited that long (asyncio may wake a hair early: 10 % slack).
    gaps = [b - a for a, b in zip(flaky.started_at, flaky.started_at[1:])]
    for gap, delay in zip(gaps[:6], flaky.seen_delays[1:7]):
        assert gap >= delay * 0.9
    state = engine.states["flaky"]
    assert state.interval == pytest.approx(0.05)
    assert state.runs >= 7


def test_a_recovery_cuts_the_backoff_of_the_other_failing_probes(engines: list[Engine]) -> None:
    # Redis answers again: the probes of the service's view, waiting out a backoff, look again
    # at their interval instead of after it. Probes that were fine are left alone.
    redis = ScriptedProbe("redis", script=("fail",), interval=0.05)
    service = ScriptedProbe("service", script=("fail",), interval=0.2)
    fine = ScriptedProbe("fine", script=("ok",), interval=30.0)
    engine = started(engines, redis, service, fine, max_backoff=60.0, backoff_intervals=1000)
    wait_until(lambda: service.started >= 6, timeout=20)
    # 0.2 doubled five times (the first failure is looked at again after one interval)
    assert engine.states["service"].delay == pytest.approx(6.4)
    waited_from = service.started_at[-1]
    redis.script = ("ok",)
    engine.run_now("redis")
    wait_until(lambda: redis.started_at[-1] > waited_from and
               engine.states["redis"].failures == 0)
    recovered_at = time.monotonic()
    wait_until(lambda: service.started >= 7, timeout=20)
    # Woken, not left to its 6.4 s backoff (a generous bound: this is not a speed test).
    assert service.started_at[6] - recovered_at < 3.0
    # Never faster than its interval.
    gaps = [b - a for a, b in zip(service.started_at, service.started_at[1:])]
    assert min(gaps) >= 0.2 * 0.9
    assert fine.started == 1


# --- history and subscribers -------------------------------------------------------------------


def test_history_is_bounded_and_ordered(engines: list[Engine]) -> None:
    fast = ScriptedProbe("fast", interval=0.005)
    engine = started(engines, fast, history=5)
    wait_until(lambda: fast.started >= 12)
    engine.stop()
    kept = engine.history("fast")
    assert len(kept) == 5
    ns = [s.n for s in kept]  # type: ignore[attr-defined]
    assert ns == list(range(ns[0], ns[0] + 5))
    assert ns[-1] == engine.states["fast"].runs
    assert engine.latest("fast") is kept[-1]
    assert engine._history["fast"].maxlen == 5
    assert engine.history("nope") == [] and engine.latest("nope") is None


def test_subscribers_and_a_raising_one(engines: list[Engine]) -> None:
    p = ScriptedProbe("p", interval=0.01)
    engine = Engine([p], interval=0.01)
    calls: list[Sample] = []

    def bad(sample: Sample) -> None:
        calls.append(sample)
        raise RuntimeError("subscriber bug")

    good = Collector()
    engine.subscribe(bad)
    unsubscribe_good = engine.subscribe(good)
    late = Collector()
    engines.append(engine)
    engine.start()
    wait_until(lambda: len(good.samples) >= 3)
    unsub_late = engine.subscribe(late)
    wait_until(lambda: len(late.samples) >= 2)
    unsubscribe_good()
    count = len(good.samples)
    wait_until(lambda: len(late.samples) >= 4)
    unsub_late()
    unsub_late()  # twice is harmless
    engine.stop()
    assert len(good.samples) in (count, count + 1)  # at most one delivery in flight
    assert len(calls) >= len(good.samples)
    # Subscribers run on the engine's thread, not the caller's.
    assert good.threads == {"wsmonitor-engine"}


def test_publish_directly_reaches_subscribers_and_history() -> None:
    engine = Engine([ScriptedProbe("p")], history=3)
    got = Collector()
    engine.subscribe(got)
    for i in range(5):
        engine.publish(CountedSample("p", float(i), True, n=i))
    engine.publish(Sample("unknown-probe", 0.0, True))
    assert [s.n for s in engine.history("p")] == [2, 3, 4]  # type: ignore[attr-defined]
    assert len(got.samples) == 6  # subscribers see everything, history only known probes


# --- pause, resume, run now --------------------------------------------------------------------


def test_pause_and_resume(engines: list[Engine]) -> None:
    p = ScriptedProbe("p", interval=0.01)
    engine = started(engines, p, interval=0.01)
    wait_until(lambda: p.started >= 3)
    engine.pause()
    assert engine.paused
    wait_until(lambda: p.active == 0)
    time.sleep(0.05)  # a run already past the pause check may still start once
    frozen = p.started
    time.sleep(0.3)
    assert p.started == frozen
    engine.run_now()  # a run-now while paused does not run
    time.sleep(0.1)
    assert p.started == frozen
    engine.resume()
    assert not engine.paused
    wait_until(lambda: p.started >= frozen + 3)


def test_pause_before_start(engines: list[Engine]) -> None:
    p = ScriptedProbe("p", interval=0.01)
    engine = Engine([p])
    engines.append(engine)
    engine.pause()
    engine.start()
    time.sleep(0.2)
    assert p.started == 0
    engine.resume()
    wait_until(lambda: p.started >= 1)


def test_run_now_cuts_the_wait_of_one_probe(engines: list[Engine]) -> None:
    a = ScriptedProbe("a", interval=3600)
    b = ScriptedProbe("b", interval=3600)
    engine = started(engines, a, b)
    wait_until(lambda: a.started == 1 and b.started == 1 and a.active == 0)
    wait_until(lambda: engine.states["a"].next_at is not None
               and engine.states["b"].next_at is not None)
    engine.run_now("a")
    wait_until(lambda: a.started == 2)
    time.sleep(0.1)
    assert b.started == 1
    engine.run_now()
    wait_until(lambda: a.started == 3 and b.started == 2)


# --- threads, run_once -------------------------------------------------------------------------


def test_start_and_stop_on_own_thread(engines: list[Engine]) -> None:
    p = ScriptedProbe("p", interval=0.01)
    got = Collector()
    engine = Engine([p])
    engine.subscribe(got)
    engines.append(engine)
    engine.start()
    engine.start()  # a second start is a no-op
    threads = [t for t in threading.enumerate() if t.name == "wsmonitor-engine"]
    assert len(threads) == 1 and threads[0] is not threading.current_thread()
    wait_until(lambda: len(got.samples) >= 2)
    engine.stop()
    assert not threads[0].is_alive()
    assert p.closed == 1
    n = len(got.samples)
    time.sleep(0.1)
    assert len(got.samples) == n
    assert got.threads == {"wsmonitor-engine"}
    engine.stop()  # a second stop is harmless


def test_stop_cancels_a_hung_run(engines: list[Engine]) -> None:
    hung = ScriptedProbe("hung", script=("hang",), timeout=3600)
    engine = started(engines, hung)
    wait_until(lambda: hung.active == 1)
    engine.stop()
    assert hung.cancelled == 1 and hung.closed == 1
    assert engine.states["hung"].running is False


async def test_run_once_runs_concurrently_and_publishes() -> None:
    a = ScriptedProbe("a", sleep=0.2)
    b = ScriptedProbe("b", script=("raise",), sleep=0.2)
    engine = Engine([a, b])
    got = Collector()
    engine.subscribe(got)
    samples = await engine.run_once()
    assert [s.probe for s in samples] == ["a", "b"]
    assert samples[0].ok and samples[1].error_kind == "probe-bug"
    assert len(got.samples) == 2
    assert engine.states["b"].failures == 1
    only = await engine.run_once(["a"])
    assert [s.probe for s in only] == ["a"]
    await engine.close_probes()
    assert a.closed == b.closed == 1


async def test_run_forever_on_the_current_loop() -> None:
    p = ScriptedProbe("p", interval=0.01)
    engine = Engine([p])
    task = asyncio.create_task(engine.run_forever())
    deadline = time.monotonic() + WAIT
    while p.started < 3:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    engine.stop()
    await asyncio.wait_for(task, WAIT)
    assert p.closed == 1


# --- with the real Redis probe -----------------------------------------------------------------


def test_redis_probe_under_engine(engines: list[Engine], redis_server: RedisServer) -> None:
    probe = RedisProbe(redis_server.url, plan=load_plans()["none"], timeout=1)
    got = Collector()
    engine = Engine([probe], interval=0.1)
    engine.subscribe(got)
    engines.append(engine)
    engine.start()
    wait_until(lambda: len(got.of("redis")) >= 1)
    engine.run_now("redis")
    wait_until(lambda: len(got.of("redis")) >= 2)
    first, second = got.of("redis")[:2]
    assert isinstance(first, RedisSample) and first.ok and first.info_ok
    assert isinstance(second, RedisSample) and second.ok
    assert second.service_commands_per_second == pytest.approx(0.0, abs=1e-9)
    with redis_server.client() as c:
        assert CLIENT_NAME in [e["name"] for e in c.client_list()]

    redis_server.kill()
    engine.run_now("redis")
    wait_until(lambda: any(not s.ok for s in got.of("redis")))
    failed = next(s for s in got.of("redis") if not s.ok)
    assert failed.error_kind in ("closed", "refused")
    redis_server.start()
    deadline = time.monotonic() + WAIT
    while not any(s.ok and s.reconnects == 1 for s in got.of("redis")[2:]):
        assert time.monotonic() < deadline, [s.error_kind for s in got.of("redis")]
        engine.run_now("redis")
        time.sleep(0.05)
    engine.stop()
    # Stopping closed the probe's connection.
    with redis_server.client() as c:
        wait_until(lambda: CLIENT_NAME not in [e["name"] for e in c.client_list()])
