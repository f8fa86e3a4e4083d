"""Theme files that name Textual's ANSI themes (the terminal's own palette), their validation,
and the dashboard drawn in them; the built-in themes are this tree's."""

from __future__ import annotations

from pathlib import Path

import pytest

import wsmonitor
from wsmonitor.theme_files import ThemeError, builtin_theme_names, load_theme, validate_theme


def test_builtin_themes_come_from_this_tree() -> None:
    here = Path(wsmonitor.__file__).resolve().parent.parent / "themes"
    assert {p.stem for p in here.glob("*.toml")} == set(builtin_theme_names())
    assert {"ansi-dark", "ansi-light"} <= set(builtin_theme_names())


@pytest.mark.parametrize(("name", "dark"), [("ansi-dark", True), ("ansi-light", False)])
def test_ansi_theme_files(name: str, dark: bool) -> None:
    theme = load_theme(name)
    assert theme == {"name": f"wsmonitor-{name}", "dark": dark, "textual": name}


@pytest.mark.parametrize(("text", "needle"), [
    ('textual = "neon"\n', "textual = 'neon' is not one of ansi-dark, ansi-light"),
    ('textual = "ansi-dark"\nprimary = "#FFFFFF"\n', "remove primary"),
])
def test_bad_textual_key_is_one_clear_error(text: str, needle: str) -> None:
    with pytest.raises(ThemeError, match=needle):
        validate_theme(text, "mine.toml")


@pytest.mark.parametrize("name", ["ansi-dark", "ansi-light"])
async def test_dashboard_in_an_ansi_theme(name: str, tmp_path: Path) -> None:
    from tests.test_snapshots import replay_app, svg_lines, write_recording
    from wsmonitor.ui.banner import VerdictBanner

    app, settle = replay_app(write_recording(tmp_path / "down.jsonl", redis_down_from=6), name)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.current_theme.ansi and app.theme == f"wsmonitor-{name}"
        text = svg_lines(app.export_screenshot())
        assert f"theme wsmonitor-{name}" in text
        banner = app.screen.query_one(VerdictBanner)
        assert "Do first:" in banner.plain() and "not decided yet" in banner.plain()


def test_cli_accepts_ansi_theme_and_rejects_unknown() -> None:
    from tests.test_cli import assert_usage_error, run

    assert_usage_error(run("check", "--theme", "ansi-neon"), "ansi-dark", "ansi-light")
