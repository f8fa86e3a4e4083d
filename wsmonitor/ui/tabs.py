"""Several targets on one dashboard: one tab per target, each the existing screen on that
target's own engine, under a strip of tabs whose labels carry each target's verdict.

``[`` and ``]`` switch targets; the kiosk cycles through them on its own. The keys of the
single-target dashboard (pause, run now, interval, export …) act on the target shown. The tab
labels read each target's published verdict (each target's own `VerdictPipeline`, the one its
screen draws), so the targets not shown are judged too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.widgets import Static

from wsmonitor.config import Settings
from wsmonitor.engine import Engine
from wsmonitor.secrets import redact
from wsmonitor.ui.app import ENGINE_START_DELAY, KioskApp, KioskScreen, MonitorScreen, \
    WsMonitorApp
from wsmonitor.ui.format import set_text
from wsmonitor.verdict import Verdict, VerdictPipeline

KIOSK_CYCLE = 20.0
"""Seconds the kiosk shows each target before the next."""

MARKS = {"none": "[$success]✔[/]", "unknown": "[$secondary]?[/]"}
"""A tab's verdict mark by layer (any other layer: ✖ and its name)."""


def tab_label(index: int, name: str, verdict: Verdict | None, active: bool) -> str:
    """``1 eu ✔`` / ``2 us ✖ redis`` (markup): the number, the name, the verdict."""
    if verdict is None:
        mark = "[$text-muted]…[/]"
    else:
        layer = verdict.shown.layer
        mark = MARKS.get(layer, f"[$error]✖ {escape(layer)}[/]")
    text = f" {index} {escape(redact(name))} {mark} "
    return f"[reverse b]{text}[/]" if active else text


class _TabStrip(Static):
    """The row of tab labels above a target's screen."""

    can_focus = False


def _tabbed(base: type[MonitorScreen]) -> type[MonitorScreen]:
    class TargetScreen(base):  # type: ignore[misc, valid-type]
        """A target's dashboard with the tab strip on top."""

        def __init__(self, settings: Settings, engine: Engine, pipeline: VerdictPipeline, *,
                     index: int, strip: Callable[[int], str]) -> None:
            super().__init__(settings, engine, pipeline)
            self.index = index
            self._strip = strip

        def compose(self) -> ComposeResult:
            yield _TabStrip(self._strip(self.index), id="target-tabs")
            yield from super().compose()

        def on_mount(self) -> None:
            # Textual calls the base screens' on_mount too (subscriptions, freshness timer).
            self.set_interval(1.0, self.show_tabs, name="tabs")

        def show_tabs(self) -> None:
            set_text(self.query_one("#target-tabs", _TabStrip), self._strip(self.index))

    TargetScreen.__name__ = f"Target{base.__name__}"
    return TargetScreen


TargetMonitorScreen = _tabbed(MonitorScreen)
TargetKioskScreen = _tabbed(KioskScreen)


class _Tabs:
    """What the tabbed apps share: the targets, their engines, verdicts and the switching."""

    names: list[str]
    engines: list[Engine]
    all_settings: list[Settings]
    verdicts: dict[int, Verdict]
    current: int

    def _setup(self, targets: Sequence[tuple[str, Settings, Engine]]) -> None:
        self.names = [n for n, _, _ in targets]
        self.all_settings = [s for _, s, _ in targets]
        self.engines = [e for _, _, e in targets]
        self.pipelines = [VerdictPipeline(e, s) for s, e in zip(self.all_settings, self.engines)]
        self.verdicts = {}
        self.current = 0
        self._stop_verdicts: list[Callable[[], None]] = []

    def strip(self, active: int) -> str:
        return "".join(tab_label(i + 1, n, self.verdicts.get(i), i == active)
                       for i, n in enumerate(self.names))

    def _mount_tabs(self, app: Any, kiosk: bool) -> None:
        screen_cls = TargetKioskScreen if kiosk else TargetMonitorScreen
        for i, (settings, engine) in enumerate(zip(self.all_settings, self.engines)):
            app.install_screen(screen_cls(settings, engine, self.pipelines[i], index=i,
                                          strip=self.strip), name=f"target-{i}")
        app.push_screen("target-0")
        app.set_timer(ENGINE_START_DELAY, self._start_engines)

    def _start_engines(self) -> None:
        for i, (engine, pipeline) in enumerate(zip(self.engines, self.pipelines)):
            engine.start()
            self._stop_verdicts.append(pipeline.subscribe(self._verdict_of(i)))
            pipeline.start()
            self._stop_verdicts.append(pipeline.stop)

    def _verdict_of(self, index: int) -> Callable[[Verdict], None]:
        def keep(verdict: Verdict) -> None:
            self.verdicts[index] = verdict  # read by the strips' 1 s timers
        return keep

    def show_target(self, app: Any, index: int) -> None:
        index %= len(self.names)
        if index == self.current:
            return
        self.current = index
        app.engine = self.engines[index]
        app.settings = self.all_settings[index]
        app.pipeline = self.pipelines[index]
        app.switch_screen(f"target-{index}")

    def _stop_all(self) -> None:
        for stop in self._stop_verdicts:
            stop()
        for engine in self.engines:
            engine.stop(4.0)


class TabbedApp(_Tabs, WsMonitorApp):
    """The interactive dashboard over several targets."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right_square_bracket", "target(1)", "Next target", key_display="]"),
        Binding("left_square_bracket", "target(-1)", "Previous target", key_display="["),
    ]

    def __init__(self, targets: Sequence[tuple[str, Settings, Engine]]) -> None:
        self._setup(targets)
        super().__init__(self.all_settings[0], self.engines[0], start_engine=False)

    def on_mount(self, event: events.Mount) -> None:
        event.prevent_default()  # not WsMonitorApp's single screen
        self._mount_tabs(self, kiosk=False)

    def action_target(self, step: int) -> None:
        self.show_target(self, self.current + step)

    async def on_unmount(self) -> None:
        await asyncio.to_thread(self._stop_all)


class TabbedKioskApp(_Tabs, KioskApp, inherit_bindings=False):
    """The read-only dashboard over several targets: no keys but quit; it cycles by itself."""

    def __init__(self, targets: Sequence[tuple[str, Settings, Engine]], *,
                 cycle: float = KIOSK_CYCLE) -> None:
        self._setup(targets)
        self.cycle = cycle
        super().__init__(self.all_settings[0], self.engines[0], start_engine=False)

    def on_mount(self, event: events.Mount) -> None:
        event.prevent_default()  # not WsMonitorApp's single screen
        self._mount_tabs(self, kiosk=True)
        self.set_interval(self.cycle, self.next_target, name="kiosk-cycle")

    def next_target(self) -> None:
        self.show_target(self, self.current + 1)

    async def on_unmount(self) -> None:
        await asyncio.to_thread(self._stop_all)


def create_tabbed_app(targets: Sequence[tuple[str, Settings, Engine]], *,
                      kiosk: bool = False) -> WsMonitorApp:
    """One tab per ``(name, settings, engine)``; read-only and cycling when `kiosk`."""
    return TabbedKioskApp(targets) if kiosk else TabbedApp(targets)
