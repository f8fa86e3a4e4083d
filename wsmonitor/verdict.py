"""One verdict pipeline: samples → pure rules → one `Verdict`, published to every subscriber.

The engine publishes samples; `VerdictPipeline` subscribes to it, judges the history once per
change of evidence (a burst of samples is coalesced into one judgement) and hands the same
immutable `Verdict` to every subscriber: the screen, ``check``, ``watch``, the recorder, exports
and the metrics exporter. Nothing downstream judges again.

The banner's hysteresis lives here too (`wsmonitor.rules.diagnosis.VerdictTracker`), so whether the
verdict is confirmed, and since when, is settled once for every view. The shown layer is always
the rules' layer on the evidence now: a new one is shown at once as a candidate
(``confirmed=False``) until the evidence confirms it, never hidden behind an older, greener
verdict; and ``none`` is never shown while a check fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from wsmonitor.fanout import Fanout
from wsmonitor.rules.base import FAIL, CheckContext, CheckResult, Diagnosis
from wsmonitor.rules.diagnosis import VerdictTracker, streaks
from wsmonitor.runtime import check_context, judge
from wsmonitor.samples import Sample

log = logging.getLogger(__name__)

COALESCE_S = 0.05
"""Seconds a judgement waits after the first new sample, so a burst is judged once."""

TICK_S = 2.0
"""Seconds between judgements when no sample comes: staleness, log windows and the
confirmation's patience move with time alone. Published only when the verdict changed."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Everything the rules settled at one moment: every check and the diagnosis above them."""

    at: float
    """When it was judged (the replay clock when replaying)."""
    diagnosis: Diagnosis
    """The raw verdict of the rules on this evidence."""
    checks: tuple[CheckResult, ...]
    shown: Diagnosis
    """What the banner shows: the rules' layer on this evidence; while a new layer is being
    confirmed, that candidate with ``confirmed=False`` — never an older, greener verdict.
    ``none`` only when no check fails."""
    confirmed: bool = True
    """False while `shown` is a candidate still being confirmed."""
    since: float | None = None
    """When the shown layer was first reached."""
    history: Mapping[str, Sequence[Sample]] = field(default_factory=dict)
    """The samples it was judged on (per probe, oldest first)."""
    seq: int = 0
    """Counts verdicts published by one pipeline."""
    previous: Diagnosis | None = None
    """While `shown` is a candidate: the last confirmed verdict it would replace."""
    context: CheckContext | None = None
    """The facts it was judged with (stale limits, budgets) for the panes' figures."""

    @property
    def failing(self) -> tuple[str, ...]:
        """Ids of the checks that fail."""
        return tuple(c.id for c in self.checks if c.status == FAIL)

    @property
    def exit_code(self) -> int:
        """1 when any check failed, else 0."""
        return 1 if self.failing else 0

    def check(self, cid: str) -> CheckResult | None:
        """One check's result by id."""
        return next((c for c in self.checks if c.id == cid), None)

    def key(self) -> tuple[object, ...]:
        """What a subscriber would see change (the judgement time and seq aside)."""
        return (self.diagnosis, self.shown, self.confirmed, self.since, self.previous,
                tuple((c.id, c.status, c.summary) for c in self.checks))


VerdictSubscriber = Callable[[Verdict], None]
"""Called with every published verdict; must be quick and thread-safe."""


def consistent(diagnosis: Diagnosis, results: Sequence[CheckResult]) -> Diagnosis:
    """The diagnosis, but never ``none`` while a check fails (SPEC: the banner never
    contradicts the checks). The rules already hold to it; this makes it a guarantee."""
    failing = [r.id for r in results if r.status == FAIL]
    if diagnosis.layer != "none" or not failing:
        return diagnosis
    return Diagnosis("unknown", f"{', '.join(failing)} failed, but no layer explains it alone.",
                     next((r.remedy for r in results if r.status == FAIL and r.remedy), ""),
                     tuple(failing), confidence="likely")


class VerdictPipeline:
    """Judges an engine's history once per change of evidence and publishes `Verdict`s.

    Args:
        engine: The engine (or a replay) whose samples are judged; its ``now()`` is the clock.
        settings: The settings the check context is built from (`settings` may be replaced,
            then `poke`).
        only: ``check --only``: the sections judged.
        tracker: The hysteresis (default a fresh `VerdictTracker`).
        coalesce: Seconds to gather a burst of samples before judging.
        tick: Seconds between judgements without new samples.
        context: Builds the check context (default `wsmonitor.runtime.check_context`).
    """

    def __init__(self, engine: Any, settings: Any, *, only: set[str] | None = None,
                 tracker: Any = None, coalesce: float = COALESCE_S, tick: float = TICK_S,
                 context: Callable[[], CheckContext] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.only = only
        self.tracker = tracker if tracker is not None else VerdictTracker()
        self.coalesce = coalesce
        self.tick = tick
        self._context = context
        self.latest: Verdict | None = None
        """The newest verdict published."""
        self.judgements = 0
        """How many times the rules ran (for tests and benchmarks)."""
        self._fanout: Fanout[Verdict] = Fanout("verdict")
        self._judging = threading.RLock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # --- subscribers ------------------------------------------------------------------------

    def subscribe(self, subscriber: VerdictSubscriber) -> Callable[[], None]:
        """Receive every verdict published from now on; returns a function that unsubscribes.

        The newest verdict, when there is one, is not replayed: read `latest`.
        """
        return self._fanout.subscribe(subscriber)

    def _publish(self, verdict: Verdict) -> None:
        self._fanout.publish(verdict)

    # --- judging ----------------------------------------------------------------------------

    def context(self) -> CheckContext:
        """The check context for the settings and the engine as they are now."""
        if self._context is not None:
            return self._context()
        return check_context(self.settings, self.engine, self.only)

    def judge_now(self, *, publish: str = "always") -> Verdict:
        """Judge the history as it stands, once; publish the verdict.

        Args:
            publish: ``always``, or ``changed`` (only when it differs from the last one).
        """
        with self._judging:
            self._dirty.clear()
            history = MappingProxyType({name: tuple(self.engine.history(name))
                                        for name in self.engine.probes})
            now = self.engine.now()  # after the history: every sample in it is older
            ctx = self.context()
            raw, results = judge(ctx, history, now)
            self.judgements += 1
            shown = consistent(raw, results)
            confirmed_verdict = self.tracker.update(shown, now, results, streaks(history))
            confirmed = confirmed_verdict.layer == shown.layer
            since = self.tracker.since if confirmed else self.tracker.pending_since
            last = self.latest
            verdict = Verdict(at=now, diagnosis=raw, checks=tuple(results), shown=shown,
                              confirmed=confirmed, since=since if since is not None else now,
                              history=history, seq=(last.seq + 1) if last else 1,
                              previous=None if confirmed else confirmed_verdict, context=ctx)
            if publish == "changed" and last is not None and last.key() == verdict.key():
                return last
            self.latest = verdict
        self._publish(verdict)
        return verdict

    def flush(self) -> Verdict:
        """The newest verdict, judged now when evidence came since (or none was made)."""
        if self.latest is None or self._dirty.is_set():
            return self.judge_now()
        return self.latest

    def poke(self) -> None:
        """Something besides samples changed (settings, interval, pause): judge again soon."""
        self._dirty.set()

    # --- running ----------------------------------------------------------------------------

    def _on_sample(self, _sample: Sample) -> None:
        self._dirty.set()

    def attach(self) -> None:
        """Mark new evidence as samples arrive (without a thread of its own: `flush` judges)."""
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_sample)

    def start(self) -> None:
        """Judge on a thread of its own from now on: after each burst of samples, and every
        `tick` seconds."""
        self.attach()
        if self._thread is not None:
            return
        self._stop.clear()
        self._dirty.set()  # the first verdict at once, on whatever history there is
        self._thread = threading.Thread(target=self._run, name="wsmonitor-verdict",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            woke = self._dirty.wait(self.tick)
            if self._stop.is_set():
                return
            if woke and self.coalesce:
                time.sleep(self.coalesce)
            try:
                self.judge_now(publish="always" if woke else "changed")
            except Exception:  # noqa: BLE001 - a rule's bug must not stop the verdicts
                log.exception("judging failed")
                self._stop.wait(self.tick)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop judging and leave the engine."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop.set()
        self._dirty.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
