"""The checklist pane: every check in the runbook's order, status as symbol and word.

Interactive: a list; Enter on a check opens its evidence and remedy. Kiosk: plain text, nothing
to select.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from wsmonitor.rules.base import CHECKS, CheckResult
from wsmonitor.report import SYMBOLS
from wsmonitor.ui.format import age_text, coarse_age, set_text

STATUS_STYLE = {"pass": "$success", "fail": "$error", "warn": "$warning",
                "unknown": "$text-muted", "skipped": "$text-muted"}
QUESTIONS = dict(CHECKS)


SUMMARY_ROOM = 16
"""Columns a summary needs to say anything: below that a row is symbol, word and id."""


def row_markup(r: CheckResult, width: int, now: float, summary: bool = True,
               below: int = 0, lines: int = 1) -> str:
    """One check: symbol and word, id, summary, age — on one line, or with ``below`` > 0 the
    summary under the id (when the pane has the height), wrapped at ``below`` columns over at
    most ``lines`` lines."""
    style = STATUS_STYLE[r.status]
    head = f"[{style}]{SYMBOLS[r.status]} {r.status.upper():<7}[/] "
    if not summary:
        return head + r.id
    age = f" [$text-muted]({coarse_age(now - r.at)})[/]" if r.at else ""
    if below:
        wrapped = summary_lines(r.summary, below)
        if len(wrapped) > lines:
            wrapped = wrapped[:lines]
            last = wrapped[-1]
            wrapped[-1] = (last if len(last) < below else last[:below - 1]) + "…"
        body = "\n".join(f"          [$text-muted]{escape(line)}[/]" for line in wrapped)
        return f"{head}{r.id}{age}\n{body}"
    return f"{head}{r.id:<{width}} {escape(r.summary)}{age}"


def summary_lines(summary: str, width: int) -> list[str]:
    """A summary wrapped at `width` columns (at least one line)."""
    return textwrap.wrap(summary, max(10, width)) or [""]


def line_budget(results: Sequence[CheckResult], width: int, height: int) -> list[int]:
    """Summary lines per check so that every check fits in `height` rows: one each first,
    then more for the checks whose summaries need them — failing and warning ones first."""
    need = [len(summary_lines(r.summary, width)) for r in results]
    lines = [1] * len(results)
    spare = height - 2 * len(results)
    order = sorted(range(len(results)),
                   key=lambda i: (results[i].status not in ("fail", "warn"), i))
    while spare > 0:
        grew = False
        for i in order:
            if spare > 0 and lines[i] < need[i]:
                lines[i] += 1
                spare -= 1
                grew = True
        if not grew:
            break
    return lines


class CheckDetailScreen(ModalScreen[None]):
    """One check's evidence and remedy."""

    DEFAULT_CSS = """
    CheckDetailScreen { align: center middle; }
    CheckDetailScreen > VerticalScroll {
        width: 110; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "dismiss", "Close")]

    def __init__(self, result: CheckResult, now: float) -> None:
        super().__init__()
        self.result = result
        self.now = now

    def compose(self) -> ComposeResult:
        r = self.result
        lines = [f"[b]{escape(r.id)}[/] — {escape(QUESTIONS.get(r.id, ''))}", "",
                 f"[{STATUS_STYLE[r.status]}]{SYMBOLS[r.status]} {r.status.upper()}[/]  "
                 f"{escape(r.summary)}"]
        if r.at:
            lines.append(f"[$text-muted]newest evidence {age_text(self.now - r.at)} old[/]")
        if r.evidence:
            lines += ["", "[b]Evidence[/]"] + [f"  · {escape(e)}" for e in r.evidence]
        if r.remedy:
            lines += ["", "[b]What to do[/]", f"  {escape(r.remedy)}"]
        lines += ["", "[$text-muted]Esc closes.[/]"]
        with VerticalScroll():
            yield Static("\n".join(lines), id="check-detail")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class ChecklistPane(Vertical, can_focus=False):
    """The runbook's testing checklist, ticking itself from evidence."""

    ALLOW_MAXIMIZE = True
    HELP_KEYS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("↑ ↓ Enter", "in the checklist: pick a check, Enter opens its evidence and remedy"),
    )
    """Keys of this pane for the ? help."""
    DEFAULT_CSS = """
    ChecklistPane > OptionList {
        height: 1fr; border: none; padding: 0; background: $surface 0%;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    ChecklistPane > VerticalScroll { height: 1fr; }
    """

    def __init__(self, *, interactive: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.interactive = interactive
        self._results: list[CheckResult] = []
        self._rows: list[str] = []
        self._now = 0.0

    @property
    def allow_maximize(self) -> bool:
        return True

    def compose(self) -> ComposeResult:
        if self.interactive:
            yield OptionList(id="checklist-list")
        else:
            with VerticalScroll():
                yield Static("", id="checklist-body")

    def on_mount(self) -> None:
        self.border_title = "Checklist"

    def focus(self, scroll_visible: bool = True) -> ChecklistPane:  # type: ignore[override]
        if self.interactive:
            options = self.query_one(OptionList)
            if options.highlighted is None and self._results:
                # Enter must open something: the first failing check, else the first.
                failing = [i for i, r in enumerate(self._results) if r.status == "fail"]
                options.highlighted = failing[0] if failing else 0
            options.focus(scroll_visible)
        return self

    def show(self, results: Sequence[CheckResult], now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._results, self._now = list(results), now
        width = max((len(r.id) for r in results), default=10)
        columns = self.content_size.width or 200
        room = columns - (10 + width + 1)
        # Twice the rows fit: each summary gets a line of its own, the pane's whole width,
        # instead of the columns left beside the ids.
        height = self.content_size.height
        below = columns - 10 if height >= 2 * len(results) else 0
        budget = line_budget(results, below, height) if below else [1] * len(results)
        rows = [row_markup(r, width, now, summary=room >= SUMMARY_ROOM or below > 0,
                           below=below, lines=n) for r, n in zip(results, budget, strict=True)]
        if rows != self._rows:
            self._rows = rows
            if self.interactive:
                options = self.query_one(OptionList)
                highlighted = options.highlighted
                options.clear_options()
                options.add_options([Option(row, id=r.id) for row, r in zip(rows, results,
                                                                             strict=True)])
                if highlighted is not None and highlighted < len(rows):
                    options.highlighted = highlighted
            else:
                set_text(self.query_one("#checklist-body", Static), "\n".join(rows))
        counts = {s: sum(1 for r in results if r.status == s) for s in SYMBOLS}
        subtitle = " ".join(f"{SYMBOLS[s]}{n}" for s, n in counts.items() if n)
        if self.interactive:
            subtitle += " · Enter: evidence"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle

    def on_resize(self) -> None:
        if self._results:
            self.show(self._results, self._now)

    def text(self) -> str:
        """The rows as plain text (for tests and exports)."""
        from textual.content import Content

        return "\n".join(Content.from_markup(r).plain for r in self._rows)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        result = next((r for r in self._results if r.id == event.option.id), None)
        if result is not None:
            self.app.push_screen(CheckDetailScreen(result, self._now))
