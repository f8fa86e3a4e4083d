"""The ``?`` help: made from the bindings in force, so it cannot drift from what the keys do."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

from wsmonitor.samples_ws import CLASSIFICATIONS
from wsmonitor.ui.handshake_pane import LETTER

TEXT_WIDTH = 96
"""Columns of the help's text (its box is 100 wide)."""

READING = """\
[b]Reading it[/]
  The banner names the layer most likely broken, what to do first, how sure it is and since
  when. Every status is a symbol and a word:  ✔ PASS  ✖ FAIL  ▲ WARN  ? UNKNOWN  – SKIPPED
  A pane's lower border says how old its newest sample is; a dashed border means STALE.
  Redis: the monitor's own commands are counted apart from the service's, and its interval
  is stretched so it never spends more than its budget of the plan's quota.
  No secret is ever drawn: passwords, tokens and keys show as ***."""


def legend() -> str:
    """The letters of the WebSocket pane's "recent" strip, in the pane's order."""
    lines, line, used = [], "  ", 2
    for name, letter in LETTER.items():
        if name not in CLASSIFICATIONS and name != "ok":
            continue
        plain = len(letter) + 1 + len(name) + 3
        if used + plain > 94:
            lines.append(line.rstrip())
            line, used = "  ", 2
        line += f"[b]{escape(letter)}[/] {escape(name)}   "
        used += plain
    lines.append(line.rstrip())
    return ("[b]WebSocket \"recent\" strip[/] — a letter per attempt, oldest first; green is what "
            "a healthy service\nanswers that variant (the 403s of no-token, no-origin and "
            "wrong-origin are expected), red is not:\n" + "\n".join(lines))


def help_text(keys: Sequence[tuple[str, str]], panes: Sequence[str] = (),
              columns: int = TEXT_WIDTH) -> str:
    """The help's markup from (key, what it does) rows and the panes' titles in screen order,
    the keys' explanations wrapped at `columns` under themselves."""
    width = max((len(k) for k, _ in keys), default=1) + 2
    rows = []
    for key, what in keys:
        lines = textwrap.wrap(what, max(20, columns - 2 - width)) or [""]
        rows.append(f"  [b]{escape(key)}[/]{' ' * (width - len(key))}{escape(lines[0])}")
        rows += [" " * (2 + width) + escape(line) for line in lines[1:]]
    text = "[b]wsmonitor[/] — which layer broke the WebSocket notifications, with evidence.\n\n"
    text += "[b]Keys[/]\n" + "\n".join(rows)
    if panes:
        text += "\n  [$text-muted]panes: " + ", ".join(
            f"{i} {escape(name)}" for i, name in enumerate(panes, 1)) + "[/]"
    return text + "\n\n" + legend() + "\n\n" + READING + "\n\n[$text-muted]Esc, q or ? closes this.[/]"


class HelpScreen(ModalScreen[None]):
    """Keys and how to read the dashboard.

    Args:
        keys: (key, what it does), from the bindings in force (`wsmonitor.ui.app.help_keys`).
        panes: The panes' titles in the screen's order (what 1–4 focus).
    """

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def __init__(self, keys: Sequence[tuple[str, str]], panes: Sequence[str] = ()) -> None:
        super().__init__()
        self.keys = list(keys)
        self.panes = list(panes)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            columns = min(TEXT_WIDTH, self.app.size.width - 6)
            yield Static(help_text(self.keys, self.panes, columns), id="help-text")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
