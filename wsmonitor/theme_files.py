"""Themes as data: one TOML file each, validated on load with a message that names the fault."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

COLOUR_KEYS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
               "success", "warning", "error", "boost")
REQUIRED = ("primary",)
TEXTUAL_THEMES = ("ansi-dark", "ansi-light")
"""Textual's own themes a theme file may name (``textual = "ansi-dark"``): they follow the
terminal's palette (ANSI colours), which no #RRGGBB file can."""
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


class ThemeError(ValueError):
    """An invalid theme file or an unknown theme name."""


def user_theme_dir() -> Path:
    """``$XDG_CONFIG_HOME/wsmonitor/themes`` (``~/.config/wsmonitor/themes``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "wsmonitor" / "themes"


def _builtin_dir() -> Any:
    """``themes/``: beside the package in a source tree (a checkout run with PYTHONPATH, whose
    editable install may map ``wsmonitor.themes`` to another tree), else the installed
    ``wsmonitor.themes``."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "themes" / "dark.toml").is_file():
        return root / "themes"
    return resources.files("wsmonitor.themes")


def builtin_theme_names() -> list[str]:
    """Themes shipped in ``themes/``."""
    return sorted(p.name[:-5] for p in _builtin_dir().iterdir() if p.name.endswith(".toml"))


def theme_names() -> list[str]:
    """Built-in and user themes, for cycling with ``t``."""
    names = builtin_theme_names()
    udir = user_theme_dir()
    if udir.is_dir():
        names += sorted(p.stem for p in udir.glob("*.toml") if p.stem not in names)
    return names


def load_theme(name_or_path: str) -> dict[str, Any]:
    """Read and validate a theme by name (built-in, then user) or by file path.

    Returns:
        Keyword arguments for ``textual.theme.Theme``.

    Raises:
        ThemeError: unknown name, unreadable file, bad TOML, unknown key or bad colour.
    """
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        path = Path(name_or_path)
        label = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ThemeError(f"cannot read theme file {label!r} ({reason})") from None
    else:
        builtin = _builtin_dir().joinpath(f"{name_or_path}.toml")
        user = user_theme_dir() / f"{name_or_path}.toml"
        if builtin.is_file():
            text, label = builtin.read_text(encoding="utf-8"), f"themes/{name_or_path}.toml"
        elif user.is_file():
            text, label = user.read_text(encoding="utf-8"), str(user)
        else:
            raise ThemeError(f"unknown theme {name_or_path!r}: use one of "
                             f"{', '.join(theme_names())} or a path to a .toml theme file")
    return validate_theme(text, label, default_name=Path(label).stem)


def validate_theme(text: str, label: str, default_name: str = "custom") -> dict[str, Any]:
    """Validate a theme file's text; ``label`` names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"theme file {label!r} is not valid TOML ({exc})") from None
    out: dict[str, Any] = {"name": f"wsmonitor-{default_name}", "dark": True}
    for key, value in raw.items():
        if key == "name":
            if not isinstance(value, str) or not value.strip():
                raise ThemeError(f"theme file {label!r}: name must be a non-empty string")
            out["name"] = value
        elif key == "dark":
            if not isinstance(value, bool):
                raise ThemeError(f"theme file {label!r}: dark must be true or false")
            out["dark"] = value
        elif key == "textual":
            if value not in TEXTUAL_THEMES:
                raise ThemeError(f"theme file {label!r}: textual = {value!r} is not one of "
                                 f"{', '.join(TEXTUAL_THEMES)}")
            out["textual"] = value
        elif key in COLOUR_KEYS:
            if not isinstance(value, str) or not _HEX.match(value):
                raise ThemeError(f"theme file {label!r}: {key} = {value!r} is not a colour "
                                 "(use #RRGGBB)")
            out[key] = value
        else:
            raise ThemeError(f"theme file {label!r}: unknown key {key!r} (known: name, dark, "
                             f"textual, {', '.join(COLOUR_KEYS)})")
    if "textual" in out:
        extra = sorted(set(out) - {"name", "dark", "textual"})
        if extra:
            raise ThemeError(f"theme file {label!r}: textual = {out['textual']!r} takes the "
                             f"terminal's palette; remove {', '.join(extra)}")
        return out
    for key in REQUIRED:
        if key not in out:
            raise ThemeError(f"theme file {label!r}: {key} is missing")
    return out
