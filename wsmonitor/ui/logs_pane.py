"""The logs pane: the service's log tail, a word and a colour per category, counts over the
window, a filter, and the lines around a probe failure."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Input, RichLog, Static

from wsmonitor.log_samples import LogEvent, LogsSample
from wsmonitor.samples import Sample
from wsmonitor.ui.format import freshness, set_text

BUFFER = 5000
"""Events the pane keeps (the widget draws only what is visible)."""

DRAWN = 2000
"""Lines the log widget keeps."""

DRAW_BATCH = 100
"""Lines drawn per tick: a burst is drawn over several frames instead of freezing one."""

DRAW_TICK = 0.05
"""Seconds between drawing ticks while lines are pending."""

AROUND = 30.0
"""Seconds either side of a failure that `jump_to` shows."""


@dataclass(frozen=True, slots=True)
class Window:
    """A time window the pane is narrowed to (the lines around a failure)."""

    start: float
    end: float
    label: str


class LogsPane(Vertical, can_focus=False):
    """The service's logs, classified."""

    ALLOW_MAXIMIZE = True
    HELP_KEYS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("Esc", "in the logs: clear the filter, or leave the lines around a failure"),
    )
    """Keys of this pane for the ? help."""
    DEFAULT_CSS = """
    LogsPane > #logs-counts { height: auto; }
    LogsPane > #logs-filter { display: none; height: 3; }
    LogsPane > #logs-filter.-shown { display: block; }
    LogsPane > RichLog {
        height: 1fr; background: $surface 0%; overflow-y: auto;
        scrollbar-gutter: stable;  /* lines are wrapped at a width the scrollbar never takes */
    }
    """

    def __init__(self, *, interactive: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.interactive = interactive
        self.events: deque[LogEvent] = deque(maxlen=BUFFER)
        self.filter_text = ""
        self.window: Window | None = None
        self._seen: Sample | None = None
        self._drawn = 0
        self._now: float | None = None
        """The time of the newest `show` (a replay's own clock): what "today" is."""
        self._width = 0
        self._pending: deque[LogEvent] = deque(maxlen=DRAWN)
        """Matching events not drawn yet (older ones fall off: the widget would drop them)."""

    @property
    def allow_maximize(self) -> bool:
        return True

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first read of the logs…", id="logs-counts")
        if self.interactive:
            yield Input(placeholder="filter: text or category, Enter applies, Esc clears",
                        id="logs-filter")
        # Wrapped, so a line's end (the status code of an access line) is never cut off.
        yield RichLog(max_lines=DRAWN, wrap=True, min_width=20, markup=False, auto_scroll=True,
                      id="logs-lines")

    def on_mount(self) -> None:
        self.border_title = "Logs"
        self.set_interval(DRAW_TICK, self._draw_pending, name="logs-draw")

    def on_resize(self) -> None:
        # RichLog wraps at write time: a new width draws the lines again at that width.
        width = self.size.width
        if width != self._width:
            self._width = width
            if self.events:
                self.redraw()

    def _draw_pending(self) -> None:
        if not self._pending:
            return
        log = self.query_one(RichLog)
        for _ in range(min(DRAW_BATCH, len(self._pending))):
            self._write(log, self._pending.popleft())

    def focus(self, scroll_visible: bool = True) -> LogsPane:  # type: ignore[override]
        self.query_one(RichLog).focus(scroll_visible)
        return self

    # --- data --------------------------------------------------------------------------------

    def show(self, samples: Sequence[Sample], now: float, stale_after: float,
             paused: bool) -> None:
        """Take the events of samples not seen yet; redraw counts and freshness."""
        logs = [s for s in samples if isinstance(s, LogsSample)]
        self._now = now
        new: list[LogEvent] = []
        if logs:
            start = 0
            if self._seen is not None:
                for i in range(len(logs) - 1, -1, -1):
                    if logs[i] is self._seen:
                        start = i + 1
                        break
            for sample in logs[start:]:
                new.extend(sample.events)
            self._seen = logs[-1]
        self.events.extend(new)
        self._pending.extend(e for e in new if self._matches(e))
        if logs:
            self._counts(logs[-1])
        self._subtitle(logs[-1] if logs else None, now, stale_after, paused)

    def _counts(self, s: LogsSample) -> None:
        window = f"{s.window_seconds / 60:.0f} min" if s.window_seconds else "window"
        counts = sorted(((k, v) for k, v in s.by_category.items() if v), key=lambda kv: -kv[1])
        parts = [f"[${self._style(k)}]{escape(k)} {v}[/]" for k, v in counts]
        mode = f" ({escape(s.mode)})" if s.mode and s.mode != s.source else ""
        head = (f"[b]{escape(s.source)}[/]{mode} · {escape(s.target)} · "
                f"{s.events_in_window} events/{window}")
        # The counts first: when the pane is down to one line, they are what it must say.
        lines = ["  ".join(parts) if parts else "[$success]no classified events[/]", head]
        if s.error:
            lines.append(f"[$error]✖ {escape(s.error_kind or 'error')}[/] {escape(s.error)}")
        elif s.fallback_reason:
            lines.append(f"[$warning]polling: {escape(s.fallback_reason)}[/]")
        if s.notice:
            lines.append(f"[$text-muted]{escape(s.notice)}[/]")
        if self.window is not None:
            lines.append(f"[$accent]showing {escape(self.window.label)} (j or Esc: back)[/]")
        elif self.filter_text:
            lines.append(f"[$accent]filter: {escape(self.filter_text)} (/ then Esc: clear)[/]")
        set_text(self.query_one("#logs-counts", Static), "\n".join(lines))
        self.set_class(bool(s.error), "-failing")

    def _subtitle(self, last: LogsSample | None, now: float, stale_after: float,
                  paused: bool) -> None:
        fresh, stale = freshness(None if last is None else now - last.at, stale_after, paused)
        subtitle = fresh or "no read yet"
        if self.interactive and self.size.width >= 56:
            subtitle += " · / filter · j failure"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
        self.set_class(stale, "-stale")

    # --- drawing -----------------------------------------------------------------------------

    @staticmethod
    def _style(category: str | None) -> str:
        return {"error": "error", "warning": "warning"}.get(
            _SEVERITY.get(category or "", ""), "text-muted") if category else "text-muted"

    def _colour(self, event: LogEvent) -> str:
        theme = self.app.current_theme
        colour = {"error": theme.error, "warning": theme.warning}.get(
            event.severity or "", theme.foreground) or ""
        # The ANSI themes name the terminal's colours (ansi_yellow); Rich calls them yellow.
        return colour.removeprefix("ansi_").replace("default", "")

    def _write(self, log: RichLog, event: LogEvent) -> None:
        lines = event.message.splitlines() or [""]
        stamp = _stamp(event, self._now if self._now is not None else time.time())
        word = (event.label or event.category or "").upper()[:9]
        text = Text(f"{stamp} ")
        # A column for the category word when there is room; narrow, no blank column.
        column = f"{word:<9} " if self._width >= 70 else (f"{word} " if word else "")
        text.append(column, style=f"bold {self._colour(event)}" if word else "")
        text.append(lines[0][:500])
        if len(lines) > 1:
            text.append(f"\n         … {lines[-1][:300]}  (+{len(lines) - 1} lines)",
                        style=self._colour(event))
        log.write(text)
        self._drawn += 1

    def _matches(self, event: LogEvent) -> bool:
        if self.window is not None and not (self.window.start <= event.timestamp
                                            <= self.window.end):
            return False
        if not self.filter_text:
            return True
        needle = self.filter_text.lower()
        return (needle in event.message.lower() or needle == (event.category or "").lower()
                or needle == (event.label or "").lower())

    def redraw(self) -> None:
        """Draw the buffer again under the current filter and window."""
        log = self.query_one(RichLog)
        log.clear()
        self._drawn = 0
        self._pending.clear()
        self._pending.extend(e for e in self.events if self._matches(e))
        log.auto_scroll = self.window is None
        self._draw_pending()
        if self._seen is not None:
            self._counts(self._seen)  # type: ignore[arg-type]

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.redraw()

    def jump_to(self, at: float, label: str) -> int:
        """Narrow to the lines around a moment; returns how many there are."""
        self.window = Window(at - AROUND, at + AROUND, label)
        self.redraw()
        return sum(1 for e in self.events if self._matches(e))

    def clear_window(self) -> None:
        self.window = None
        self.redraw()

    # --- filter input ------------------------------------------------------------------------

    def open_filter(self) -> None:
        if not self.interactive:
            return
        field = self.query_one("#logs-filter", Input)
        field.add_class("-shown")
        field.value = self.filter_text
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_filter(event.value)
        self.query_one(RichLog).focus()

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        if key == "escape":
            field = self.query("#logs-filter")
            if field and field.first().has_class("-shown"):
                field.first().remove_class("-shown")
                self.set_filter("")
                self.query_one(RichLog).focus()
                getattr(event, "stop")()
            elif self.window is not None:
                self.clear_window()
                getattr(event, "stop")()


def _stamp(event: LogEvent, now: float) -> str:
    """The time the log wrote (local): the clock time today, the date too for older lines,
    dashes for a line read at start-up with no time in it (its age is unknown)."""
    if event.clock == "unknown":
        return "--:--:--"
    when = time.localtime(event.timestamp)
    if when[:3] == time.localtime(now)[:3]:
        return time.strftime("%H:%M:%S", when)
    return time.strftime("%m-%d %H:%M", when)


_SEVERITY: dict[str, str] = {}
"""Category → severity, filled from the shipped rules on first use."""


def _load_severities() -> None:
    from wsmonitor.log_rules import default_rules

    rules = default_rules()
    for category in rules.categories:
        _SEVERITY[category] = rules.severity(category) or ""


_load_severities()
