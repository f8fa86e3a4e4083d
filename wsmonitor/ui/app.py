"""The Textual app: a banner with the verdict, the panes, and the keys of k9s and btop."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer, Static

from wsmonitor.rules.base import FAIL, CheckResult
from wsmonitor.config import Settings
from wsmonitor.engine import Engine
from wsmonitor.samples_ws import HOLD_PROBE, PRIMARY_VARIANT
from wsmonitor.samples import RedisSample, Sample
from wsmonitor.secrets import redact
from wsmonitor.theme_files import load_theme
from wsmonitor.ui.banner import VerdictBanner
from wsmonitor.ui.checklist_pane import ChecklistPane
from wsmonitor.ui.format import interval_text, set_text
from wsmonitor.ui.handshake_pane import HandshakePane, HandshakePaneState
from wsmonitor.ui.keys import help_keys, real_failure, short_path
from wsmonitor.ui.theming import textual_theme
from wsmonitor.ui.logs_pane import LogsPane
from wsmonitor.ui.messages import VerdictReady
from wsmonitor.ui.redis_pane import RedisPane, RedisPaneState
from wsmonitor.verdict import Verdict, VerdictPipeline

READ_ONLY_ACTIONS = frozenset({"quit"})
"""The only action kiosk mode allows."""

ENGINE_START_DELAY = 0.5
"""Seconds after mount before the probes start."""

FULL_REFRESH_TICKS = 5
"""Seconds between full redraws when no verdict arrives."""

MIN_REDRAW_S = 1.0
"""Least seconds between two full redraws for new verdicts (the newest is drawn)."""

HANDSHAKE_CHECKS = ("platform-websocket", "handshake-101", "stays-open", "ping-pong")
"""The checks whose failure marks the WebSocket pane as failing."""

REDIS_CHECKS = ("redis-reachable", "redis-connections", "redis-commands")
"""The checks whose failure marks the Redis pane as failing."""


def listed(result: CheckResult) -> bool:
    """Whether the checklist pane shows a check: all of them, but ``browser-websocket`` while
    it is not configured — the browser probe is opt-in (``--page-url``), and the runbook's
    fifteen rows are what fits at 80x24. The reports list it always."""
    return not (result.id == "browser-websocket" and result.status == "skipped"
                and result.summary.startswith("not configured"))


def _newest(history: Mapping[str, Sequence[Sample]]) -> float:
    """When the newest sample of a verdict's history was taken (0: none)."""
    return max((samples[-1].at for samples in history.values() if samples), default=0.0)


class MonitorScreen(Screen[None]):
    """The dashboard. Timers and subscriptions live here, not on the App (FACTS.md).

    It judges nothing: the app's `VerdictPipeline` posts each `Verdict` here (as a
    `VerdictReady` message) and every pane draws what that verdict settled.
    """

    AUTO_FOCUS = ""
    """Nothing focused at start: the first press of 1–4 focuses a pane, the second
    maximises it, whichever pane it is."""

    def __init__(self, settings: Settings, engine: Engine,
                 pipeline: VerdictPipeline | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine
        self.pipeline = pipeline or VerdictPipeline(engine, settings)
        self.verdict: Verdict | None = None
        """The verdict on screen."""
        self._unsubscribe = None
        self._ticks = 0
        self._drawn_at = 0.0
        self._pending: Verdict | None = None
        """A verdict waiting for the next redraw."""

    def compose(self) -> ComposeResult:
        yield VerdictBanner("Diagnosis: waiting for evidence…", id="banner")
        web = any(n.startswith(("handshake:", "http:", "browser")) or n == HOLD_PROBE
                  for n in self.engine.probes)
        redis = "redis" in self.engine.probes
        logs = "logs" in self.engine.probes
        count = 1 + web + redis + logs
        # Grid order: WebSocket top left, checklist right, Redis bottom left, logs bottom
        # right; with three panes the checklist takes the whole right column.
        with Container(id="panes", classes=f"-panes-{count}"
                       + ("" if web else " -checklist-first")):
            if web:
                yield HandshakePane(classes="pane", id="handshake-pane")
            yield ChecklistPane(classes="pane", id="checklist-pane",
                                interactive=not self.settings.kiosk)
            if redis:
                yield RedisPane(classes="pane", id="redis-pane")
            if logs:
                yield LogsPane(classes="pane", id="logs-pane",
                               interactive=not self.settings.kiosk)
        yield Static("", id="statusbar")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self._unsubscribe = self.pipeline.subscribe(
            lambda verdict: self.post_message(VerdictReady(verdict)))
        self.set_interval(1.0, self._tick, name="freshness")
        self.refresh_views()

    def _tick(self) -> None:
        """Once a second: ages move. The panes are redrawn from the newest verdict when one
        arrives, or every few seconds so that ages and freshness move with no new verdict."""
        self._ticks += 1
        if time.monotonic() - self._drawn_at < 1.0:
            return  # drawn within the second: ages are current
        if self._ticks % FULL_REFRESH_TICKS == 0:
            if self.verdict is not None:
                self.show_verdict(self.verdict)
        elif "redis" in self.engine.probes:
            self.query_one(RedisPane).show_freshness(self.engine.now(), self.engine.paused)

    def on_resize(self) -> None:
        # Narrow, the footer's keys sit closer: every key fits at 80 columns, none cut.
        self.query_one(Footer).compact = self.size.width < 110

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def on_verdict_ready(self, message: VerdictReady) -> None:
        message.stop()
        verdict = message.verdict
        if self.verdict is not None and verdict.seq < self.verdict.seq:
            return  # an older verdict overtaken by a newer one already shown
        if self._pending is not None and verdict.seq < self._pending.seq:
            return
        # At most one full redraw per `MIN_REDRAW_S`: a busy second's verdicts are drawn
        # once, the newest (each redraw of every pane costs more than the judging).
        wait = self._drawn_at + MIN_REDRAW_S - time.monotonic()
        if wait <= 0 or self.verdict is None:
            self.show_verdict(verdict)
            return
        if self._pending is None:
            self.set_timer(wait, self._draw_pending)
        self._pending = verdict

    def _draw_pending(self) -> None:
        verdict, self._pending = self._pending, None
        if verdict is not None and (self.verdict is None or verdict.seq > self.verdict.seq):
            self.show_verdict(verdict)

    def refresh_views(self) -> None:
        """Redraw from the newest verdict (judged now only if evidence came since)."""
        self.show_verdict(self.pipeline.flush())

    def show_verdict(self, verdict: Verdict) -> None:
        """Draw one verdict: the banner, the checklist and every pane."""
        if self.engine.paused and self.verdict is not None \
                and _newest(verdict.history) <= _newest(self.verdict.history):
            # Paused, the evidence only ages: the verdict stays as the probes left it rather
            # than sliding to "not decided yet" for want of fresh samples. (A run that was in
            # flight at the pause still brings evidence, and is shown.)
            verdict = self.verdict
        self.verdict = verdict
        self._drawn_at = time.monotonic()
        now = self.engine.now()
        history = verdict.history
        ctx = verdict.context
        self._show_banner(verdict, now)
        self.query_one(ChecklistPane).show([r for r in verdict.checks if listed(r)], now)
        stale_after = ctx.stale_after if ctx else 60.0
        stale_by = ctx.stale_by_probe if ctx else {}
        base = self.engine.base_interval * self.engine.interval_factor
        if "redis" in self.engine.probes:
            probe = self.engine.probes["redis"]
            samples = [s for s in history.get("redis", ()) if isinstance(s, RedisSample)]
            self.query_one(RedisPane).show(RedisPaneState(
                samples=samples, plan=self.settings.plan,
                interval=getattr(probe, "steady_interval", probe.interval)(base),
                warmup_wait=probe.interval(base) if getattr(probe, "warming_up", False)
                and getattr(probe, "budget_per_day", None) else None,
                commands_per_run=getattr(probe, "commands_per_run", 0),
                budget_percent=self.settings.redis_budget,
                budget_per_day=ctx.redis_budget_per_day if ctx else None,
                own_per_day=ctx.own_commands_per_day if ctx else None,
                shared_with="channel-layer round trips" if "channel-layer" in self.engine.probes
                else "",
                server=getattr(probe, "server", ""), paused=self.engine.paused,
                stale_after=stale_by.get("redis", stale_after), now=now,
                failing=any(c.status == FAIL for c in verdict.checks if c.id in REDIS_CHECKS)))
        web = [n for n in self.engine.probes
               if n.startswith(("handshake:", "http:", "browser")) or n == HOLD_PROBE]
        if web:
            hs = [n for n in web if not n.startswith(("http:", "browser"))]
            self.query_one(HandshakePane).show(HandshakePaneState(
                history=history, endpoint=redact(self.settings.url or
                                                 self.settings.effective_api_base or
                                                 self.settings.page_url or ""),
                interval=self._interval(f"handshake:{PRIMARY_VARIANT}", base),
                stale_after=max((stale_by.get(n, stale_after) for n in hs),
                                default=stale_after),
                paused=self.engine.paused, now=now,
                variant_interval=self._interval("handshake:no-token", base),
                hold_interval=self._interval(HOLD_PROBE, base),
                failing=any(c.status == FAIL for c in verdict.checks
                            if c.id in HANDSHAKE_CHECKS)))
        if "logs" in self.engine.probes:
            self.query_one(LogsPane).show(list(history.get("logs", ())), now,
                                          stale_by.get("logs", stale_after),
                                          self.engine.paused)
        self._show_statusbar()

    def _interval(self, name: str, base: float) -> float | None:
        """The true time between the starts of two runs of a probe (None: not running)."""
        probe = self.engine.probes.get(name)
        if probe is None:
            return None
        interval = getattr(probe, "steady_interval", probe.interval)(base)
        return interval + getattr(probe, "hold", 0.0) if name == HOLD_PROBE else interval

    def _show_banner(self, verdict: Verdict, now: float) -> None:
        """The shown layer, whether it is confirmed (and how sure the rules are), since when,
        and what to do first; while paused, the verdict as the probes left it."""
        self.query_one(VerdictBanner).show(
            verdict.shown, confirmed=verdict.confirmed, since=verdict.since or verdict.at,
            now=now, paused=self.engine.paused,
            pending=None if verdict.confirmed or verdict.previous is None
            else verdict.previous.layer)

    def _show_statusbar(self) -> None:
        mode = "KIOSK read-only" if self.settings.kiosk else "interactive"
        state = "[b $warning]PAUSED[/] (p resumes)" if self.engine.paused else "running"
        base = self.engine.base_interval * self.engine.interval_factor
        set_text(self.query_one("#statusbar", Static),
            f"{mode} · probes {state} · base interval {interval_text(base)}"
            f"{'' if self.settings.kiosk else ' (+/-)'} · "
            f"theme {self.app.theme}")


class KioskScreen(MonitorScreen, inherit_bindings=False):
    """The dashboard with no bindings of its own and nothing focusable."""

    BINDINGS: ClassVar[list[BindingType]] = []

    def on_mount(self) -> None:
        for widget in self.walk_children(with_self=False):
            widget.can_focus = False


class WsMonitorApp(App[int]):
    """wsmonitor's dashboard.

    Args:
        settings: Validated settings.
        engine: The engine whose samples are shown; the app starts and stops it.
        start_engine: False in tests that drive the engine themselves.
        pipeline: The verdict pipeline over `engine` (default: a new one); the app starts and
            stops it, whatever `start_engine` says.
    """

    CSS_PATH = "app.tcss"
    TITLE = "wsmonitor"
    HORIZONTAL_BREAKPOINTS: ClassVar = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar = [(0, "-tiny"), (26, "-short"), (34, "-tall")]
    # The tooltip is the ? help's line for the key (help_screen.py builds it from these).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="quit"),
        Binding("p", "toggle_pause", "Pause", tooltip="pause / resume every probe (the panes "
                "then say PAUSED, the banner keeps the verdict as the probes left it)"),
        Binding("r", "run_now", "Run now", tooltip="run every probe now (while paused it "
                "runs nothing and says so: p resumes)"),
        # +/- are left out of the footer (the status bar names them beside the interval): at
        # 80 columns every key the footer shows then fits.
        Binding("plus,equals_sign", "slower", "Slower", key_display="+", show=False,
                tooltip="double the base interval"),
        Binding("minus", "faster", "Faster", key_display="-", show=False,
                tooltip="halve the base interval (budgets still apply)"),
        *(Binding(str(n), f"pane({n})", f"Pane {n}", show=False,
                  tooltip=f"focus pane {n}; again: maximise it (the banner stays); again: "
                  "restore") for n in range(1, 5)),
        Binding("slash", "filter_logs", "Filter", key_display="/",
                tooltip="filter the logs: text or a category; Esc clears"),
        Binding("j", "jump_to_failure", "Failure", tooltip="the log lines around the newest "
                "real probe failure (the expected 403s do not count); again: back"),
        Binding("t", "next_theme", "Theme", tooltip="next theme (high-contrast for projectors; "
                "ansi-dark/ansi-light follow the terminal's palette)"),
        Binding("e", "export", "Export", tooltip="write an SVG screenshot and the markdown "
                "report into --export-dir"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
    ]

    def __init__(self, settings: Settings, engine: Engine, *, start_engine: bool = True,
                 pipeline: VerdictPipeline | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine
        self.pipeline = pipeline or VerdictPipeline(engine, settings)
        """Judges the engine's samples once per change of evidence for every view."""
        self._start_engine = start_engine
        theme = load_theme(settings.theme)
        self.register_theme(textual_theme(theme))
        self.theme = theme["name"]
        self._theme_source = settings.theme

    def on_mount(self) -> None:
        screen = KioskScreen if self.settings.kiosk else MonitorScreen
        self.push_screen(screen(self.settings, self.engine, self.pipeline))
        self.pipeline.start()
        if self._start_engine:
            # After the first frames: Textual's start-up holds the GIL for a few hundred ms,
            # and PINGs timed meanwhile would measure that, not Redis.
            self.set_timer(ENGINE_START_DELAY, self.engine.start)

    async def on_unmount(self) -> None:
        await asyncio.to_thread(self.pipeline.stop)
        if self._start_engine:
            await asyncio.to_thread(self.engine.stop)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.settings.kiosk and action not in READ_ONLY_ACTIONS:
            return False
        return True

    def action_toggle_pause(self) -> None:
        if self.engine.paused:
            self.engine.resume()
            self.notify("probes resumed")
        else:
            self.engine.pause()
            self.notify("probes paused: panes will go stale", severity="warning")
        self._refresh()

    def action_run_now(self) -> None:
        if self.engine.paused:
            # A paused engine starts no run: say so instead of promising one.
            self.notify("probes are paused: r runs nothing until p resumes them",
                        severity="warning")
            return
        self.engine.run_now()
        self.notify("running every probe now")

    def action_slower(self) -> None:
        self.engine.scale_interval(2.0)
        self._refresh()

    def action_faster(self) -> None:
        self.engine.scale_interval(0.5)
        self.engine.run_now()
        self._refresh()

    def action_help(self) -> None:
        from wsmonitor.ui.help_screen import HelpScreen

        screen = self.screen
        panes = [str(p.border_title or p.id).split(" · ")[0] for p in screen.query(".pane")]
        self.push_screen(HelpScreen(help_keys(screen), panes))

    def action_pane(self, number: int) -> None:
        """Focus a pane (numbered in the screen's order, top left first); again, maximise it
        (the banner, status bar and footer stay); again, restore."""
        screen = self.screen
        panes = list(screen.query(".pane"))
        if not 1 <= number <= len(panes):
            self.notify(f"there is no pane {number}: {len(panes)} pane(s) are shown",
                        severity="warning")
            return
        pane = panes[number - 1]
        grid = screen.query_one("#panes")
        if pane.has_class("-max"):
            pane.remove_class("-max")
            grid.remove_class("-maximized")
            self.call_after_refresh(self._refresh)
        elif screen.focused is pane or pane.has_focus_within:
            for other in panes:
                other.set_class(other is pane, "-max")
            grid.add_class("-maximized")
            self.call_after_refresh(self._refresh)  # redrawn at its new width
        else:
            for other in panes:
                other.remove_class("-max")
            grid.remove_class("-maximized")
            pane.focus()

    def _logs_pane(self) -> LogsPane | None:
        found = self.screen.query(LogsPane)
        if not found:
            self.notify("no logs pane: give --log-group, --apprunner-service, --log-file or "
                        "--log-command", severity="warning")
            return None
        return found.first()

    def action_filter_logs(self) -> None:
        pane = self._logs_pane()
        if pane is not None:
            pane.open_filter()

    def action_jump_to_failure(self) -> None:
        """Narrow the logs to the lines around the newest probe failure (again: back)."""
        pane = self._logs_pane()
        if pane is None:
            return
        if pane.window is not None:
            pane.clear_window()
            return
        failures = [s for name in self.engine.probes if name != "logs"
                    for s in self.engine.history(name)[-50:] if real_failure(s)]
        if not failures:
            self.notify("no real probe failure to look around (the variants' expected "
                        "rejections, marked ✔, do not count)")
            return
        worst = max(failures, key=lambda s: s.at)
        when = time.strftime("%H:%M:%S", time.localtime(worst.at))
        label = f"lines around {when}: {worst.probe} {worst.error_kind or 'failed'}"
        count = pane.jump_to(worst.at, label)
        self.notify(f"{count} log line(s) around {when} ({worst.probe})")

    def action_next_theme(self) -> None:
        from wsmonitor.theme_files import ThemeError, load_theme, theme_names

        names = theme_names()
        current = next((n for n in names if f"wsmonitor-{n}" == self.theme
                        or n == self._theme_source), None)
        start = names.index(current) + 1 if current in names else 0
        for offset in range(len(names)):
            name = names[(start + offset) % len(names)]
            try:
                theme = load_theme(name)
            except ThemeError as exc:
                self.notify(str(exc), severity="error")
                continue
            self.register_theme(textual_theme(theme))
            self.theme = theme["name"]
            self._theme_source = name
            self.notify(f"theme {name}")
            break
        self._refresh()

    def action_export(self) -> None:
        """An SVG screenshot and the markdown report, side by side, with a timestamp: both of
        the verdict on screen."""
        from wsmonitor.report import CheckRun, render_markdown

        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"wsmonitor-{stamp}"
        screen = self.screen
        verdict = screen.verdict if isinstance(screen, MonitorScreen) and screen.verdict \
            else self.pipeline.flush()
        target = {"url": redact(self.settings.url) if self.settings.url else None,
                  "redis": redact(self.settings.redis_url) if self.settings.redis_url else None}
        started = min((s[0].at for s in verdict.history.values() if s), default=verdict.at)
        run = CheckRun.from_verdict(verdict, started, self.settings.plan, target)
        directory = self.settings.export_dir
        try:
            self.save_screenshot(f"{base}.svg", path=directory)
            with open(os.path.join(directory, f"{base}.md"), "w", encoding="utf-8") as fh:
                fh.write(render_markdown(run))
        except OSError as exc:
            self.notify(f"export failed: {exc.strerror}", severity="error")
            return
        # One short line each: a toast is narrow, and a cut path is no use.
        self.notify(f"{base}.svg\n{base}.md\nin {short_path(directory)}", title="Exported",
                    timeout=8)

    def _refresh(self) -> None:
        """Settings of the run changed (pause, interval, theme): judge again and redraw."""
        self.pipeline.poke()
        screen = self.screen
        if isinstance(screen, MonitorScreen):
            screen.refresh_views()


class KioskApp(WsMonitorApp, inherit_bindings=False):
    """Read-only by construction: no palette, nothing focusable, no binding but quit."""

    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = None
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]


def create_app(settings: Settings, engine: Engine, *, start_engine: bool = True,
               pipeline: VerdictPipeline | None = None) -> WsMonitorApp:
    """The dashboard app for the settings' mode."""
    cls = KioskApp if settings.kiosk else WsMonitorApp
    return cls(settings, engine, start_engine=start_engine, pipeline=pipeline)
