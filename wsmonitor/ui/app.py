"""The Textual app: a banner with the verdict, the panes, and the keys of k9s and btop."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer, Static

from wsmonitor.checks import CheckResult, Diagnosis
from wsmonitor.config import Settings
from wsmonitor.diagnosis import VerdictTracker, streaks
from wsmonitor.engine import Engine
from wsmonitor.runtime import check_context, judge
from wsmonitor.samples import RedisSample
from wsmonitor.secrets import redact
from wsmonitor.theme_files import load_theme
from wsmonitor.ui.banner import VerdictBanner
from wsmonitor.ui.checklist_pane import ChecklistPane
from wsmonitor.ui.format import interval_text, set_text
from wsmonitor.ui.handshake_pane import HandshakePane, HandshakePaneState
from wsmonitor.ui.keys import help_keys, real_failure, short_path
from wsmonitor.ui.theming import textual_theme
from wsmonitor.ui.logs_pane import LogsPane
from wsmonitor.ui.messages import SampleReceived
from wsmonitor.ui.redis_pane import RedisPane, RedisPaneState

READ_ONLY_ACTIONS = frozenset({"quit"})

ENGINE_START_DELAY = 0.5
"""Seconds after mount before the probes start."""

FULL_REFRESH_TICKS = 5
"""Seconds between full redraws when no sample arrives."""
"""The only action kiosk mode allows."""


def listed(result: CheckResult) -> bool:
    """Whether the checklist pane shows a check: all of them, but ``browser-websocket`` while
    it is not configured — the browser probe is opt-in (``--page-url``), and the runbook's
    fifteen rows are what fits at 80x24. The reports list it always."""
    return not (result.id == "browser-websocket" and result.status == "skipped"
                and result.summary.startswith("not configured"))


class MonitorScreen(Screen[None]):
    """The dashboard. Timers and subscriptions live here, not on the App (FACTS.md)."""

    AUTO_FOCUS = ""
    """Nothing focused at start: the first press of 1–4 focuses a pane, the second
    maximises it, whichever pane it is."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine
        self._unsubscribe = None
        self._verdicts = VerdictTracker()
        """Hysteresis for the banner: one odd sample never flips the verdict."""
        self._ticks = 0
        self._shown: Diagnosis | None = None
        """The verdict on the banner (kept while the probes are paused)."""
        self._new_evidence = False
        """A sample arrived since the banner was last judged."""

    def compose(self) -> ComposeResult:
        yield VerdictBanner("Diagnosis: waiting for evidence…", id="banner")
        web = any(n.startswith(("handshake:", "http:", "browser")) for n in self.engine.probes)
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
        self._unsubscribe = self.engine.subscribe(
            lambda sample: self.post_message(SampleReceived(sample)))
        self.set_interval(1.0, self._tick, name="freshness")
        self.refresh_views()

    def _tick(self) -> None:
        """Once a second: ages move. Everything is redrawn only when a sample arrives, or every
        few seconds so that staleness is judged even when no sample comes."""
        self._ticks += 1
        if self._ticks % FULL_REFRESH_TICKS == 0:
            self.refresh_views()
        elif "redis" in self.engine.probes:
            self.query_one(RedisPane).show_freshness(self.engine.now(), self.engine.paused)

    def on_resize(self) -> None:
        # Narrow, the footer's keys sit closer: every key fits at 80 columns, none cut.
        self.query_one(Footer).compact = self.size.width < 110

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def on_sample_received(self, message: SampleReceived) -> None:
        message.stop()
        self._new_evidence = True
        self.refresh_views()

    def refresh_views(self) -> None:
        """Recompute checks and redraw every pane from the engine's history."""
        now = self.engine.now()
        history = {name: self.engine.history(name) for name in self.engine.probes}
        ctx = check_context(self.settings, self.engine)
        diagnosis, results = judge(ctx, history, now)
        self._show_banner(diagnosis, now, results)
        self.query_one(ChecklistPane).show([r for r in results if listed(r)], now)
        if "redis" in self.engine.probes:
            probe = self.engine.probes["redis"]
            base = self.engine.base_interval * self.engine.interval_factor
            samples = [s for s in history["redis"] if isinstance(s, RedisSample)]
            self.query_one(RedisPane).show(RedisPaneState(
                samples=samples, plan=self.settings.plan,
                interval=getattr(probe, "steady_interval", probe.interval)(base),
                warmup_wait=probe.interval(base) if getattr(probe, "warming_up", False)
                and getattr(probe, "budget_per_day", None) else None,
                commands_per_run=getattr(probe, "commands_per_run", 0),
                budget_percent=self.settings.redis_budget,
                budget_per_day=ctx.redis_budget_per_day,
                own_per_day=ctx.own_commands_per_day,
                shared_with="channel-layer round trips" if "channel-layer" in self.engine.probes
                else "",
                server=getattr(probe, "server", ""), paused=self.engine.paused,
                stale_after=ctx.stale_by_probe.get("redis", ctx.stale_after), now=now))
        hs = [n for n in self.engine.probes if n.startswith("handshake:")]
        if hs or any(n.startswith(("http:", "browser")) for n in self.engine.probes):
            primary = self.engine.probes.get("handshake:token+origin")
            base = self.engine.base_interval * self.engine.interval_factor
            self.query_one(HandshakePane).show(HandshakePaneState(
                history=history, endpoint=redact(self.settings.url or
                                                 self.settings.effective_api_base or
                                                 self.settings.page_url or ""),
                interval=primary.interval(base) if primary else base,
                stale_after=max((ctx.stale_by_probe.get(n, ctx.stale_after) for n in hs),
                                default=ctx.stale_after),
                paused=self.engine.paused, now=now))
        if "logs" in self.engine.probes:
            self.query_one(LogsPane).show(history["logs"], now,
                                          ctx.stale_by_probe.get("logs", ctx.stale_after),
                                          self.engine.paused)
        self._show_statusbar()

    def _show_banner(self, diagnosis: Diagnosis, now: float,
                     results: Sequence[CheckResult] = ()) -> None:
        paused = self.engine.paused
        if paused and self._shown is not None and not self._new_evidence:
            # Paused, the evidence only ages: the verdict stays as the probes left it rather
            # than sliding to "not decided yet" for want of fresh samples. (A run that was in
            # flight at the pause still brings evidence, and is judged.)
            shown = self._shown
        else:
            history = {name: self.engine.history(name) for name in self.engine.probes}
            shown = self._shown = self._verdicts.update(diagnosis, now, results,
                                                        streaks(history))
        self._new_evidence = False
        pending = self._verdicts.pending
        self.query_one(VerdictBanner).show(
            shown, confirmed=True, since=self._verdicts.since or now, now=now, paused=paused,
            pending=pending.layer if pending else None)

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

    def __init__(self, settings: Settings, engine: Engine, *, start_engine: bool = True) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine
        self._start_engine = start_engine
        theme = load_theme(settings.theme)
        self.register_theme(textual_theme(theme))
        self.theme = theme["name"]
        self._theme_source = settings.theme

    def on_mount(self) -> None:
        screen = KioskScreen if self.settings.kiosk else MonitorScreen
        self.push_screen(screen(self.settings, self.engine))
        if self._start_engine:
            # After the first frames: Textual's start-up holds the GIL for a few hundred ms,
            # and PINGs timed meanwhile would measure that, not Redis.
            self.set_timer(ENGINE_START_DELAY, self.engine.start)

    async def on_unmount(self) -> None:
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
        """An SVG screenshot and the markdown report, side by side, with a timestamp."""
        from wsmonitor.report import CheckRun, render_markdown
        from wsmonitor.runtime import check_context, judge

        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"wsmonitor-{stamp}"
        history = {name: self.engine.history(name) for name in self.engine.probes}
        now = self.engine.now()
        diagnosis, results = judge(check_context(self.settings, self.engine), history, now)
        started = min((s[0].at for s in history.values() if s), default=now)
        target = {"url": redact(self.settings.url) if self.settings.url else None,
                  "redis": redact(self.settings.redis_url) if self.settings.redis_url else None}
        run = CheckRun(started, now, diagnosis, results, history, self.settings.plan, target)
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
        screen = self.screen
        if isinstance(screen, MonitorScreen):
            screen.refresh_views()


class KioskApp(WsMonitorApp, inherit_bindings=False):
    """Read-only by construction: no palette, nothing focusable, no binding but quit."""

    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = None
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]


def create_app(settings: Settings, engine: Engine, *, start_engine: bool = True) -> WsMonitorApp:
    """The dashboard app for the settings' mode."""
    cls = KioskApp if settings.kiosk else WsMonitorApp
    return cls(settings, engine, start_engine=start_engine)
