"""``check``'s progress line on a terminal: what runs, and how long the held socket has left.

Written to stderr only, only when stderr is a terminal, and erased before the report is
printed: stdout (``--json``, ``--markdown``) never carries it, and a pipe or a CI log never
sees carriage returns.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import IO, Any

from wsmonitor.secrets import redact

TICK = 0.25
"""Seconds between redraws of the line."""


class Progress:
    """Follows an engine's probes while ``run_once`` runs, on one line redrawn in place.

    Args:
        engine: The engine whose probes run (its ``states`` say which are running).
        stream: A terminal (stderr).
    """

    def __init__(self, engine: Any, stream: IO[str]) -> None:
        self.engine = engine
        self.stream = stream
        self.started = time.monotonic()
        self.held_at: dict[str, tuple[float, float]] = {}
        """Probe name → (when its socket was opened, the hold asked for)."""
        self._unsubscribe = engine.subscribe(self._on_sample)

    def _on_sample(self, sample: Any) -> None:
        # The held socket's interim sample comes at its 101: the hold starts counting there.
        if getattr(sample, "interim", False):
            self.held_at[sample.probe] = (time.monotonic(), float(getattr(sample, "hold_s", 0)))

    def line(self) -> str:
        """The progress line as it stands now."""
        now = time.monotonic()
        states = self.engine.states
        running = sorted(n for n, st in states.items() if st.running)
        done = sum(1 for st in states.values() if st.runs and not st.running)
        parts = []
        for name in running:
            if name in self.held_at:
                opened, hold = self.held_at[name]
                left = max(0.0, hold - (now - opened))
                parts.append(f"held socket ({left:.0f} s of its hold left)")
            else:
                parts.append(name)
        doing = ", ".join(parts) if parts else "judging"
        return redact(f"check {now - self.started:.0f} s · {done}/{len(states)} done · "
                      f"{doing}")

    def draw(self) -> None:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        width = max(20, (columns or 80) - 1)
        text = self.line()
        if len(text) > width:
            text = text[:width - 1] + "…"
        # \r and erase-line: the line is redrawn in place, never scrolls.
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()

    def clear(self) -> None:
        self._unsubscribe()
        self.stream.write("\r\x1b[2K")
        self.stream.flush()

    async def run(self) -> None:
        """Redraw until cancelled; then erase the line."""
        try:
            while True:
                self.draw()
                await asyncio.sleep(TICK)
        finally:
            self.clear()


def wanted(stream: IO[str]) -> bool:
    """A progress line only for a person at a terminal."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
