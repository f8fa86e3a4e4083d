"""The ``?`` help: keys, and how to read the panes."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]wsmonitor[/] — which layer broke the WebSocket notifications, with evidence.

[b]Keys[/]
  [b]p[/]        pause / resume every probe (panes then show PAUSED, later STALE)
  [b]r[/]        run every probe now
  [b]+[/] / [b]-[/]    double / halve the base interval (budgets still apply)
  [b]1[/]–[b]4[/]      focus a pane; the same key again maximises it, once more restores
  [b]t[/]        next theme (high-contrast is for projectors and video calls)
  [b]e[/]        export: an SVG screenshot and the markdown report, in the working directory
  [b]?[/]        this help          [b]q[/]  quit

[b]Reading it[/]
  The banner names the layer most likely broken and what to do first.
  Every status is a symbol and a word:  ✔ PASS  ✖ FAIL  ▲ WARN  ? UNKNOWN  – SKIPPED
  A pane's lower border says how old its newest sample is; a dashed border means STALE.
  Redis: the monitor's own commands are counted apart from the service's, and its interval
  is stretched so it never spends more than its budget of the plan's quota.
  No secret is ever drawn: passwords, tokens and keys show as ***.

[$text-muted]Esc, q or ? closes this.[/]"""


class HelpScreen(ModalScreen[None]):
    """Keys and how to read the dashboard."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
