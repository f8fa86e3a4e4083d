"""What the keys read: the bindings the ? help is made from, the failures j looks around,
and the short paths e's toast names. Kept apart from app.py, which other work changes."""

from __future__ import annotations

import os

from textual.binding import Binding
from textual.screen import Screen

from wsmonitor.samples_ws import HandshakeSample
from wsmonitor.samples import Sample
from wsmonitor.ui.handshake_pane import expected


def real_failure(sample: Sample) -> bool:
    """A failed probe run that is a fault: not the rejection a healthy service gives a
    handshake variant (no token, wrong Origin), and not a held socket's interim sample."""
    if sample.ok or getattr(sample, "interim", False):
        return False
    if isinstance(sample, HandshakeSample):
        return not expected(sample.variant, sample)
    return True


def short_path(path: str, room: int = 40) -> str:
    """A directory as short as it stays clear: ``~`` for home, and its tail when long."""
    full = os.path.abspath(path)
    home = os.path.expanduser("~")
    if full == home or full.startswith(home + os.sep):
        full = "~" + full[len(home):]
    return full if len(full) <= room else "…" + full[-(room - 1):]


def help_keys(screen: Screen[object]) -> list[tuple[str, str]]:
    """(key, what it does) for every binding the screen answers to, then the panes' own keys:
    the ? help is made from these, so it cannot drift from what the keys do."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    numbers: list[str] = []
    # wsmonitor's own bindings, base class first (Textual's defaults — tab, ^p … — are not
    # wsmonitor's to explain, and kiosk has none of them).
    own: list[Binding] = []
    for node in (screen.app, screen):
        for cls in reversed(type(node).__mro__):
            if cls.__module__.startswith("wsmonitor"):
                own += [b for b in cls.__dict__.get("BINDINGS", ()) if isinstance(b, Binding)]
    for binding in own:
        if binding.action in seen:
            continue
        seen.add(binding.action)
        if binding.action.startswith("pane("):
            numbers.append(binding.key)
            continue
        key = binding.key_display or screen.app.get_key_display(binding)
        rows.append((key, binding.tooltip or binding.description))
    if numbers:
        rows.append((f"{min(numbers)}–{max(numbers)}", "focus a pane, numbered in the screen's "
                     "order (top left first); again: maximise (the banner stays); again: "
                     "restore"))
    for pane in screen.query(".pane"):
        rows += list(getattr(pane, "HELP_KEYS", ()))
    return rows
