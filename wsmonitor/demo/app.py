"""The dashboard of ``wsmonitor demo``: the usual app, plus ``f`` for the fault switches.

Only the demo has these keys; ``wsmonitor demo --kiosk`` runs the read-only app without them.
A switch runs off the UI thread (a Redis fault waits for the service's work in flight), then
the probes run at once so the panes show the change within a probe round.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

from wsmonitor.config import Settings
from wsmonitor.demo.faults import FAULTS, fault
from wsmonitor.demo.stack import DemoStack
from wsmonitor.engine import Engine
from wsmonitor.ui import app as ui_app
from wsmonitor.ui.app import MonitorScreen, WsMonitorApp


class FaultMenu(ModalScreen[None]):
    """The fault switches: a key per fault, ``c`` for all off."""

    DEFAULT_CSS = """
    FaultMenu { align: center middle; }
    FaultMenu > VerticalScroll {
        width: 108; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(f.key, f"toggle('{f.name}')", f.name, show=False) for f in FAULTS),
        Binding("c", "clear", "All off", show=False),
        Binding("escape,f,q", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._text(), id="fault-list")

    def _text(self) -> str:
        app = self.app
        on = app.stack.faults if isinstance(app, DemoApp) else frozenset()
        pending = app.switching if isinstance(app, DemoApp) else frozenset()
        lines = ["[b]Fault switches[/] — each reproduces a failure of the runbook "
                 "on the demo target", ""]
        for f in FAULTS:
            state = "[$warning]…    [/]" if f.name in pending else \
                "[$error]● ON [/]" if f.name in on else "[$text-muted]○ off[/]"
            lines.append(f" [b]{f.key}[/]  {state}  [b]{escape(f.name):<18}[/] "
                         f"{escape(f.title)}")
            lines.append(f"           [$text-muted]{escape(f.how)}[/]")
        lines += ["", "[b]c[/] all off · [b]Esc[/] close · the panes follow within a probe "
                  "round; the logs count over the last minute"]
        return "\n".join(lines)

    def refresh_list(self) -> None:
        self.query_one("#fault-list", Static).update(self._text())

    def action_toggle(self, name: str) -> None:
        app = self.app
        if isinstance(app, DemoApp):
            app.toggle_fault(name)
        self.refresh_list()

    def action_clear(self) -> None:
        app = self.app
        if isinstance(app, DemoApp):
            for name in sorted(app.stack.faults):
                app.toggle_fault(name)
        self.refresh_list()

    def action_close(self) -> None:
        self.dismiss(None)


class DemoApp(WsMonitorApp):
    """`WsMonitorApp` on a `DemoStack`, with the fault menu on ``f``.

    Args:
        settings: Settings pointed at the demo (`DemoStack.monitor_settings`).
        engine: The engine (`DemoStack.build_engine`).
        stack: The running demo.
        start_engine: False in tests that drive the engine themselves.
    """

    CSS_PATH = str(Path(ui_app.__file__).with_name("app.tcss"))
    """The dashboard's stylesheet (a relative path would be looked up beside this module)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "faults", "Faults", tooltip="the demo's fault switches: a key per "
                "failure of the runbook, c all off")]

    def __init__(self, settings: Settings, engine: Engine, stack: DemoStack, *,
                 start_engine: bool = True) -> None:
        super().__init__(settings, engine, start_engine=start_engine)
        self.stack = stack
        self.switching: set[str] = set()
        """Faults whose switch is under way."""

    def action_faults(self) -> None:
        self.push_screen(FaultMenu())

    def toggle_fault(self, name: str) -> None:
        """Switch a fault over, off the UI thread; the panes follow."""
        fault(name)
        if name in self.switching:
            return
        self.switching.add(name)
        threading.Thread(target=self._switch, args=(name,), name=f"demo-fault-{name}",
                         daemon=True).start()

    def _switch(self, name: str) -> None:
        error: str | None = None
        on = name not in self.stack.faults
        try:
            self.stack.set_fault(name, on)
        except Exception as exc:  # noqa: BLE001 - shown, never raised into the UI
            error = str(exc) or type(exc).__name__
        try:
            self.call_from_thread(self._switched, name, on, error)
        except RuntimeError:
            pass  # the app has gone

    def _switched(self, name: str, on: bool, error: str | None) -> None:
        self.switching.discard(name)
        if error is not None:
            self.notify(f"fault {name}: {error}", severity="error")
        else:
            if name == "token-expired":
                self._use_settings(self.stack.monitor_settings(self.settings))
            self.notify(f"fault {name} {'ON' if on else 'off'}: {fault(name).title}",
                        severity="warning" if on else "information")
            self.engine.run_now()
        for screen in self.screen_stack:
            if isinstance(screen, FaultMenu):
                screen.refresh_list()

    def _use_settings(self, settings: Settings) -> None:
        """What the checks know of the token changes with ``token-expired``."""
        self.settings = settings
        self.pipeline.settings = settings
        self.pipeline.poke()
        for screen in self.screen_stack:
            if isinstance(screen, MonitorScreen):
                screen.settings = settings
