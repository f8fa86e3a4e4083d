"""Small text helpers shared by the panes (no widgets here)."""

from __future__ import annotations

from wsmonitor.rules.redis import big

__all__ = ["age_text", "bar", "big", "coarse_age", "freshness", "interval_text", "level",
           "set_text"]


def age_text(seconds: float | None) -> str:
    """``3 s``, ``2 min``, ``1 h`` — how old something is."""
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def interval_text(seconds: float) -> str:
    """``2 s``, ``10 min 22 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds % 1 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def bar(fraction: float | None, width: int = 20) -> str:
    """A text bar ``█████░░░░░`` for a fraction (clipped at 0 and 1)."""
    if fraction is None:
        return "░" * width
    filled = int(round(min(1.0, max(0.0, fraction)) * width))
    return "█" * filled + "░" * (width - filled)


def level(fraction: float | None, warn: float = 0.8) -> str:
    """The theme variable for a usage level: success, warning or error."""
    if fraction is None:
        return "foreground"
    if fraction >= 1:
        return "error"
    if fraction >= warn:
        return "warning"
    return "success"


def coarse_age(seconds: float) -> str:
    """An age that changes rarely (10 s steps, then minutes), so lists need few redraws."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return "now"
    if seconds < 60:
        return f"{int(seconds // 10) * 10} s"
    return age_text(seconds)


def set_text(widget: object, text: str) -> bool:
    """Update a Static only when its text changed; returns whether it did.

    Re-rendering an unchanged widget is most of an idle dashboard's CPU.
    """
    if getattr(widget, "_wsm_text", None) == text:
        return False
    widget._wsm_text = text  # type: ignore[attr-defined]
    widget.update(text)  # type: ignore[attr-defined]
    return True


def freshness(age: float | None, stale_after: float, paused: bool) -> tuple[str, bool]:
    """A pane's lower-border text for the age of its newest sample, and whether it is stale.

    Returns:
        ``("updated 3 s ago", False)``, with PAUSED or STALE in front when so; ``("", False)``
        when there is no sample yet.
    """
    if age is None:
        return "", False
    stale = age > stale_after
    text = f"updated {age_text(age)} ago"
    if paused:
        text = f"[$warning]PAUSED[/] · {text}"
    elif stale:
        text = f"[$error]STALE[/] · {text}"
    return text, stale
