"""The engine: schedules probes, owns timeouts and backoff, publishes samples to subscribers.

It runs on its own event loop in its own thread, so a latency probe measures Redis and not the
renderer, and the same probes serve the dashboard, ``check``, recording and metrics export.
Data flows one way: probe → immutable sample → engine → subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from wsmonitor.fanout import Fanout
from wsmonitor.samples import Sample
from wsmonitor.secrets import redact

log = logging.getLogger(__name__)

Subscriber = Callable[[Sample], None]
"""Called on the engine's thread with every sample; must be quick and thread-safe."""


class Probe(Protocol):
    """What the engine needs of a probe. Probes return failures as samples; raising is a bug."""

    name: str
    """Unique among the engine's probes."""
    timeout: float
    """Longest a run may take, seconds."""

    def interval(self, base: float) -> float:
        """Seconds between runs, given the engine's base interval (budgets may stretch it)."""
        ...

    async def run(self) -> Sample:
        """Observe once."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@dataclass(slots=True)
class ProbeState:
    """The engine's bookkeeping for one probe (read by the UI for the freshness display)."""

    failures: int = 0
    """Consecutive failed runs; drives the backoff."""
    running: bool = False
    runs: int = 0
    last_at: float | None = None
    next_at: float | None = None
    interval: float = 0.0
    """The interval in force, before backoff."""
    delay: float = 0.0
    """The wait chosen after the last run (interval, or backoff while failing)."""


class Engine:
    """Runs probes on their intervals and fans samples out.

    Args:
        probes: The probes to run; names must be unique.
        interval: Base interval in seconds (each probe may stretch it).
        history: Samples kept per probe.
        max_backoff: Longest wait between runs of a failing probe, seconds.
        backoff_intervals: Longest wait between runs of a failing probe, in its intervals:
            a failing probe slows down, but a fault that ends is seen within this many intervals.
    """

    def __init__(self, probes: Iterable[Probe], *, interval: float = 2.0, history: int = 600,
                 max_backoff: float = 30.0, backoff_intervals: float = 2.0) -> None:
        self.probes: dict[str, Probe] = {}
        for probe in probes:
            if probe.name in self.probes:
                raise ValueError(f"two probes named {probe.name!r}")
            self.probes[probe.name] = probe
        self.base_interval = interval
        self.interval_factor = 1.0
        self.max_backoff = max_backoff
        self.backoff_intervals = backoff_intervals
        self.stagger = 0.2
        """Seconds between the first runs of successive probes."""
        for probe in self.probes.values():
            if hasattr(probe, "publish_interim"):
                # A probe that knows part of its answer early (a held socket's handshake)
                # publishes it before its run ends.
                probe.publish_interim = self.publish
        self.states: dict[str, ProbeState] = {name: ProbeState() for name in self.probes}
        self._history: dict[str, deque[Sample]] = {
            n: deque(maxlen=getattr(p, "history_size", None) or history)
            for n, p in self.probes.items()}
        self._lock = threading.Lock()
        self._fanout: Fanout[Sample] = Fanout("sample")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._wake: dict[str, asyncio.Event] = {}
        self._recheck: set[str] = set()
        """Probes woken out of their backoff because another probe recovered."""
        self._unpaused: asyncio.Event | None = None
        self._paused = False
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def now(self) -> float:
        """The time panes judge freshness against (a replay runs its own clock)."""
        return time.time()

    # --- subscribers and history -------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Receive every sample from now on; returns a function that unsubscribes."""
        return self._fanout.subscribe(subscriber)

    def history(self, probe: str) -> list[Sample]:
        """The retained samples of one probe, oldest first."""
        with self._lock:
            return list(self._history.get(probe, ()))

    def latest(self, probe: str) -> Sample | None:
        """The newest sample of one probe."""
        with self._lock:
            h = self._history.get(probe)
            return h[-1] if h else None

    def publish(self, sample: Sample) -> None:
        """Record a sample and hand it to every subscriber (a failing subscriber is logged)."""
        with self._lock:
            if sample.probe in self._history:
                self._history[sample.probe].append(sample)
        self._fanout.publish(sample)

    # --- one-shot (headless) -----------------------------------------------------------------

    async def run_once(self, names: Iterable[str] | None = None) -> list[Sample]:
        """Run the given probes (default: all) once, concurrently; publish and return samples."""
        chosen = [self.probes[n] for n in (names or self.probes)]

        async def staggered(i: int, probe: Probe) -> Sample:
            await asyncio.sleep(i * self.stagger)
            return await self._run_one(probe)

        samples = await asyncio.gather(*(staggered(i, p) for i, p in enumerate(chosen)))
        for sample in samples:
            self.publish(sample)
        return list(samples)

    async def close_probes(self) -> None:
        """Close every probe's connections."""
        for probe in self.probes.values():
            try:
                await asyncio.wait_for(probe.close(), 5)
            except Exception:  # noqa: BLE001
                log.debug("closing %s failed", probe.name, exc_info=True)

    async def _run_one(self, probe: Probe) -> Sample:
        state = self.states[probe.name]
        state.running = True
        started = time.perf_counter()
        try:
            sample = await asyncio.wait_for(probe.run(), probe.timeout)
        except TimeoutError:
            sample = Sample(probe.name, time.time(), False,
                            f"no result within {probe.timeout:g} s", "probe-timeout",
                            (time.perf_counter() - started) * 1000)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a probe bug becomes data, never a crash
            # Not log.exception: its traceback would carry the unredacted message into the logs.
            log.error("probe %s raised: %s", probe.name, redact(traceback.format_exc()))
            sample = Sample(probe.name, time.time(), False,
                            redact(f"{type(exc).__name__}: {exc}"), "probe-bug",
                            (time.perf_counter() - started) * 1000)
        finally:
            state.running = False
        state.runs += 1
        state.last_at = sample.at
        state.failures = 0 if sample.ok else state.failures + 1
        return sample

    # --- continuous --------------------------------------------------------------------------

    def effective_interval(self, probe: Probe) -> float:
        """The probe's interval under the current base and +/- factor."""
        return probe.interval(self.base_interval * self.interval_factor)

    def backoff_delay(self, probe: Probe, failures: int) -> float:
        """Wait after a run: the interval, doubled per consecutive failure after the first up
        to the caps (`backoff_intervals` intervals and `max_backoff` seconds), never under the
        interval. A first failure is looked at again after one interval: the banner confirms a
        new verdict on the second sample, and a fault that just began deserves it soon."""
        interval = self.effective_interval(probe)
        if failures <= 1:
            return interval
        # A probe may cap its own backoff lower: the fast probe a verdict is confirmed on
        # should see the end of a fault at its interval.
        intervals = getattr(probe, "backoff_intervals", None) or self.backoff_intervals
        return max(interval, min(interval * 2 ** min(failures - 1, 10),
                                 interval * intervals, self.max_backoff))

    async def run_forever(self) -> None:
        """Run every probe on its interval until `stop` (on the current event loop)."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._unpaused = asyncio.Event()
        if not self._paused:
            self._unpaused.set()
        self._wake = {name: asyncio.Event() for name in self.probes}
        self._tasks = [asyncio.create_task(self._probe_loop(p, i * self.stagger),
                                           name=f"probe:{p.name}")
                       for i, p in enumerate(self.probes.values())]
        try:
            await self._stop.wait()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.close_probes()

    async def _probe_loop(self, probe: Probe, delay: float = 0.0) -> None:
        state = self.states[probe.name]
        assert self._unpaused is not None and self._stop is not None
        wake = self._wake[probe.name]
        if delay:
            # Staggered first runs: probes that start together time each other's set-up work
            # (TLS contexts, imports) instead of the network.
            await asyncio.sleep(delay)
        while not self._stop.is_set():
            await self._unpaused.wait()
            wake.clear()
            self._recheck.discard(probe.name)
            started = time.monotonic()
            failing_before = state.failures
            sample = await self._run_one(probe)
            self.publish(sample)
            state.interval = self.effective_interval(probe)
            state.delay = self.backoff_delay(probe, state.failures)
            state.next_at = time.time() + state.delay
            if sample.ok and failing_before:
                self._recheck_failing(probe.name)
            try:
                await asyncio.wait_for(wake.wait(), state.delay)
            except TimeoutError:
                pass
            if probe.name in self._recheck:
                # Woken because another probe recovered: run now, but never sooner than one
                # interval after this probe's last start (backoff is cut, the rate is not).
                self._recheck.discard(probe.name)
                remaining = started + state.interval - time.monotonic()
                if remaining > 0:
                    state.next_at = time.time() + remaining
                    await asyncio.sleep(remaining)

    def _recheck_failing(self, recovered: str) -> None:
        """A probe recovered: the faults of the others may have ended too, so the probes
        waiting out a backoff run again at their interval instead of after it."""
        for name, state in self.states.items():
            if name != recovered and state.failures > 0 and not state.running \
                    and state.delay > state.interval:
                self._recheck.add(name)
                self._wake[name].set()

    def start(self) -> None:
        """Run the engine on its own thread and event loop."""
        if self._thread is not None:
            return
        ready = threading.Event()

        def main() -> None:
            async def runner() -> None:
                task = asyncio.create_task(self.run_forever())
                await asyncio.sleep(0)
                ready.set()
                await task

            try:
                asyncio.run(runner())
            except Exception:  # noqa: BLE001
                log.exception("engine stopped")
            finally:
                ready.set()

        self._thread = threading.Thread(target=main, name="wsmonitor-engine", daemon=True)
        self._thread.start()
        ready.wait(5)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the probes, close their connections and join the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _call(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            fn()
            return
        try:
            if threading.current_thread() is self._thread:
                fn()
            else:
                loop.call_soon_threadsafe(fn)
        except RuntimeError:
            pass

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Finish the runs in progress, then start no new ones."""
        self._paused = True
        self._call(lambda: self._unpaused.clear() if self._unpaused else None)

    def resume(self) -> None:
        self._paused = False
        self._call(lambda: self._unpaused.set() if self._unpaused else None)

    def run_now(self, name: str | None = None) -> None:
        """Cut the wait of one probe (or all) short; a run in progress is not doubled."""
        def wake() -> None:
            for n, event in self._wake.items():
                if name is None or n == name:
                    event.set()
        self._call(wake)

    def scale_interval(self, factor: float) -> float:
        """Multiply the base interval (bounded to 0.25×–16×); returns the new factor."""
        self.interval_factor = min(16.0, max(0.25, self.interval_factor * factor))
        return self.interval_factor
