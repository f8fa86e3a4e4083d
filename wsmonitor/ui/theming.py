"""Textual themes from wsmonitor's theme files (`wsmonitor.theme_files` stays Textual-free)."""

from __future__ import annotations

import dataclasses

from textual.theme import BUILTIN_THEMES, Theme


def textual_theme(spec: dict[str, object]) -> Theme:
    """A Textual theme from a theme file's values (`wsmonitor.theme_files.load_theme`)."""
    if "textual" in spec:
        return dataclasses.replace(BUILTIN_THEMES[str(spec["textual"])], name=str(spec["name"]))
    return Theme(**spec)  # type: ignore[arg-type]
