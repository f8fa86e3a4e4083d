"""The checklist pane: every check in the runbook's order, status as symbol and word."""

from __future__ import annotations

import time
from collections.abc import Sequence

from textual.containers import VerticalScroll
from textual.markup import escape
from textual.widgets import Static

from wsmonitor.checks import CheckResult
from wsmonitor.report import SYMBOLS
from wsmonitor.ui.format import coarse_age, set_text

STATUS_STYLE = {"pass": "$success", "fail": "$error", "warn": "$warning",
                "unknown": "$text-muted", "skipped": "$text-muted"}


class ChecklistPane(VerticalScroll):
    """The runbook's testing checklist, ticking itself from evidence."""

    ALLOW_MAXIMIZE = True
    def compose(self):  # type: ignore[override]
        yield Static("", id="checklist-body")

    def on_mount(self) -> None:
        self.border_title = "Checklist"

    def show(self, results: Sequence[CheckResult], now: float | None = None) -> None:
        now = time.time() if now is None else now
        width = max((len(r.id) for r in results), default=10)
        lines = []
        for r in results:
            style = STATUS_STYLE[r.status]
            age = f" [$text-muted]({coarse_age(now - r.at)})[/]" if r.at else ""
            lines.append(f"[{style}]{SYMBOLS[r.status]} {r.status.upper():<7}[/] "
                         f"{r.id:<{width}} {escape(r.summary)}{age}")
        set_text(self.query_one("#checklist-body", Static), "\n".join(lines))
        counts = {s: sum(1 for r in results if r.status == s) for s in SYMBOLS}
        subtitle = " ".join(f"{SYMBOLS[s]}{n}" for s, n in counts.items() if n)
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
