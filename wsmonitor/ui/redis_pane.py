"""The Redis pane: latency, connections against the cap, commands against the quota."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Sparkline, Static

from wsmonitor.rules.base import failing_streak
from wsmonitor.rules.redis import command_rate
from wsmonitor.plans import DAYS_PER_MONTH, Plan
from wsmonitor.samples import SECONDS_PER_DAY
from wsmonitor.samples import RedisSample
from wsmonitor.ui.format import bar, big, freshness, interval_text, level, set_text

SPARK_POINTS = 120
"""PING round trips drawn in the history."""


@dataclass(frozen=True, slots=True)
class RedisPaneState:
    """Everything the pane shows, computed outside the widget."""

    samples: Sequence[RedisSample]
    plan: Plan
    interval: float
    """Seconds between runs, after the budget."""
    commands_per_run: int
    budget_percent: float
    budget_per_day: float | None
    """The monitor's whole budget (shared by the Redis and channel-layer probes)."""
    server: str
    warmup_wait: float | None = None
    """Set while the second run (for a first command rate) comes early."""
    own_per_day: float | None = None
    """Everything the monitor spends per day at its intervals (None: this probe's only)."""
    shared_with: str = ""
    """Another probe that spends from the same budget, if any."""
    paused: bool = False
    stale_after: float = 60.0
    now: float = 0.0
    failing: bool | None = None
    """The verdict has a Redis check failing (None: no verdict; the newest sample decides)."""


class RedisPane(Vertical, can_focus=True):
    """Redis as seen from here."""

    ALLOW_MAXIMIZE = True
    DEFAULT_CSS = """
    RedisPane > #redis-status { height: auto; }
    RedisPane > Sparkline { height: 3; margin: 0 0 1 0; }
    RedisPane > Sparkline.-empty { display: none; }
    RedisPane > #redis-figures { height: auto; }
    """

    _state: RedisPaneState | None = None

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first Redis sample…", id="redis-status")
        yield Sparkline([], summary_function=max, id="redis-latency")
        yield Static("", id="redis-figures")

    def on_mount(self) -> None:
        self.border_title = "Redis"

    _last_at: float | None = None
    _stale_after: float = 60.0
    _cadence: str = ""

    def show_freshness(self, now: float, paused: bool) -> None:
        """Only the age of the newest sample (cheap: called every second)."""
        if self._last_at is None:
            return
        fresh, stale = freshness(now - self._last_at, self._stale_after, paused)
        subtitle = f"{fresh} · {self._cadence}"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
        self.set_class(stale, "-stale")

    def on_resize(self) -> None:
        if self._state is not None:
            self.show(self._state)

    def show(self, state: RedisPaneState) -> None:
        """Redraw from a state; a narrow or short pane gets the figures that matter most."""
        self._state = state
        now = state.now or time.time()
        samples = state.samples
        title = f"Redis · {escape(state.server)}"
        if title != self.border_title:
            self.border_title = title
        status = self.query_one("#redis-status", Static)
        figures = self.query_one("#redis-figures", Static)
        spark = self.query_one("#redis-latency", Sparkline)
        cadence = f"every {interval_text(state.interval)}"
        if state.warmup_wait is not None:
            cadence += f" (2nd run after {interval_text(state.warmup_wait)} for a rate)"
        if not samples:
            self.border_subtitle = f"no sample yet · {cadence}"
            return
        last = samples[-1]
        self._last_at, self._stale_after, self._cadence = last.at, state.stale_after, cadence
        self.show_freshness(now, state.paused)
        self.set_class(not last.ok if state.failing is None else state.failing, "-failing")

        if last.ok:
            tls = " · TLS" if last.tls else ""
            note = " · INFO not permitted: latency only" if last.info_denied else ""
            set_text(status, f"[$success]✔ OK[/] PONG{tls}{note}")
        else:
            streak = failing_streak(samples)
            set_text(status, f"[$error]✖ {escape(last.error_kind or 'error').upper()}[/] "
                          f"{escape(last.error or '')}\n"
                          f"[$text-muted]{streak} failed run(s); retrying with backoff[/]")

        points: list[float] = []
        for s in samples:
            points.extend(s.latencies_ms)
        # No round trip yet (Redis down from the start): no chart, rather than a flat block.
        spark.set_class(not points, "-empty")
        spark.data = points[-SPARK_POINTS:] or [0.0]

        compact = (self.content_size.width or 200) < 64
        lines: list[str] = []
        w = last.window
        if w and compact and w.p99 is None:
            lines.append(f"[b]latency[/] p50 {w.p50:.2f} ms  p99 n too small "
                         f"[$text-muted](n={w.samples})[/]")
        elif w and compact:
            lines.append(f"[b]latency[/] p50 {w.p50:.2f}  p99 {w.p99:.2f} ms")
        elif w:
            # A percentile of too few pings would be the maximum under another name.
            lines.append(f"[b]latency[/]  p50 {w.p50:.2f}  p95 {w.shown('p95')}  "
                         f"p99 {w.shown('p99')}  max {w.max:.2f} ms  "
                         f"[$text-muted]({w.samples} pings)[/]")
        info = next((s for s in reversed(samples) if s.info_ok), None)
        lines.append(self._connections(info, state.plan, compact))
        commands = self._commands(samples, state, compact)
        if not self.screen.has_class("-tall"):
            commands = commands[:1]  # the projection against the quota; the split waits
        lines.extend(commands)
        set_text(figures, "\n".join(lines))

    @staticmethod
    def _connections(info: RedisSample | None, plan: Plan, compact: bool = False) -> str:
        if info is None:
            return "[b]connections[/]  [$text-muted]unknown (no INFO)[/]"
        clients = info.connected_clients or 0
        cap = plan.max_connections.value
        src = f"plan {plan.name}"
        if cap is None:
            cap, src = info.maxclients, "maxclients"
        frac = clients / cap if cap else None
        colour = level(frac)
        rejected = info.rejected_connections or 0
        rej = f"  [$error]{rejected} rejected[/]" if rejected else "  0 rejected"
        if compact:
            cap_text = f"/{cap:,}" if cap else ""
            return f"[b]connections[/] [${colour}]{clients:,}[/]{cap_text} ·{rej[1:]}"
        cap_text = f" / {cap:,} ({src})" if cap else ""
        return (f"[b]connections[/]  [${colour}]{bar(frac, 16)}[/] {clients:,}{cap_text}{rej}")

    @staticmethod
    def _commands(samples: Sequence[RedisSample], state: RedisPaneState,
                  compact: bool = False) -> list[str]:
        rates = command_rate(samples)
        own_day = state.own_per_day if state.own_per_day is not None else \
            state.commands_per_run * SECONDS_PER_DAY / state.interval
        quota = state.plan.daily_quota
        budget = ""
        if state.budget_per_day:
            budget = (f"  budget {state.budget_percent:g}% = {big(state.budget_per_day)}/day"
                      f" [$text-muted](sets the intervals)[/]")
        also = f" + {state.shared_with}" if state.shared_with else ""
        own_line = (f"[b]wsmonitor[/]  {big(own_day)}/day: {state.commands_per_run} commands "
                    f"every {interval_text(state.interval)}{also}{budget}")
        if rates is None:
            return ["[b]commands[/]  [$text-muted]rate after the second INFO[/]", own_line]
        total, own = rates
        service_day = max(0.0, total - own) * SECONDS_PER_DAY
        projected = service_day + own_day
        lines = []
        if quota and compact:
            frac = projected / quota
            lines.append(f"[b]commands[/] [${level(frac)}]{frac:.0%}[/] of "
                         f"{state.plan.quota_text}: {big(projected)}/day projected")
        elif quota:
            frac = projected / quota
            lines.append(f"[b]commands[/]  [${level(frac)}]{bar(frac, 16)}[/] "
                         f"{big(projected)}/day projected = {frac:.0%} of "
                         f"{state.plan.quota_text} ({escape(state.plan.name)})")
        elif compact:
            lines.append(f"[b]commands[/] {big(projected)}/day projected "
                         f"[$text-muted](no quota)[/]")
        else:
            lines.append(f"[b]commands[/]  {big(projected)}/day, "
                         f"{big(projected * DAYS_PER_MONTH)}/month projected "
                         f"[$text-muted](plan {escape(state.plan.name)}: no quota)[/]")
        lines.append(f"[b]service[/]  {max(0.0, total - own):.2f}/s → {big(service_day)}/day")
        lines.append(own_line)
        return lines
