"""The three modes against the real Django Channels target: no secret on any screen, in any
theme; kiosk read-only by construction, and writing nothing to the Redis it watches."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from textual.widgets import Input

from wsmonitor.config import load_settings
from wsmonitor.replay import ReplayEngine, load_recording, replay_settings
from wsmonitor.runtime import build_engine
from wsmonitor.theme_files import load_theme
from wsmonitor.ui.app import KioskApp, MonitorScreen, WsMonitorApp, create_app
from wsmonitor.ui.theming import textual_theme

from .handshake.processes import DaphneProcess, RedisProcess, Target, setup_target_db
from .test_snapshots import THEMES, svg_lines, write_recording

SIZE = (160, 48)
MONITOR_USER = "kiosk"
MONITOR_PASSWORD = "K1osk:p@ss/w#rd!"
"""The monitor's Redis password: every character that breaks an unencoded URL."""
AWS_KEY_ID = "AKIAWSMONITORMODES01"
AWS_SECRET = "wsmModesAwsSecret/0123456789+abcdefghijKLM"
READ_ONLY_RULES = ("+@all", "-@write", "-@scripting", "-@pubsub", "-@admin", "+config|get",
                   "+client|list")
"""The monitor's ACL user: everything but writes (and admin, bar what the Redis probe reads).
Redis refuses and logs (ACL LOG, commandstats ``rejected_calls``) any write it tries."""


@pytest.fixture(scope="module")
def modes_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The target with a Redis of its own: the ACL user and the counters are this module's."""
    workdir = tmp_path_factory.mktemp("modes-target")
    db = workdir / "target.sqlite3"
    user_id = setup_target_db(db)
    redis_process = RedisProcess(workdir)
    redis_process.start()
    daphne = DaphneProcess(workdir, db=db, redis_url=redis_process.url, name="daphne-modes")
    try:
        daphne.start()
        client = redis.Redis(port=redis_process.port)
        assert client.acl_setuser(MONITOR_USER, enabled=True, passwords=[f"+{MONITOR_PASSWORD}"],
                                  keys=["*"], channels=["*"], commands=list(READ_ONLY_RULES))
        client.close()
        yield Target(daphne=daphne, redis=redis_process, user_id=user_id)
    finally:
        daphne.stop()
        redis_process.stop()


def monitor_url(target: Target) -> str:
    return (f"redis://{MONITOR_USER}:{quote(MONITOR_PASSWORD, safe='')}@127.0.0.1:"
            f"{target.redis.port}/0")


def secrets_of(target: Target, token: str) -> list[str]:
    forms = [MONITOR_PASSWORD, quote(MONITOR_PASSWORD, safe=""), token, target.secret_key,
             AWS_SECRET, AWS_KEY_ID]
    return forms + [html.escape(f) for f in forms]


def write_secret_log(path: Path, target: Target, token: str) -> Path:
    """A service log that quotes every secret, the way real ones do by accident."""
    path.write_text("\n".join([
        "INFO     Starting server",
        f"ERROR    Error connecting to {monitor_url(target)}: connection refused",
        f"WARNING  WebSocket connection rejected: GET /ws/notifications/?token={token}",
        f"DEBUG    settings SECRET_KEY={target.secret_key}",
        f"DEBUG    boto aws_secret_access_key={AWS_SECRET} key id {AWS_KEY_ID}",
        f"DEBUG    redis password is {MONITOR_PASSWORD}",
        "WebSocket connection rejected: anonymous user",
    ]) + "\n")
    return path


def settings_for(target: Target, tmp_path: Path, token: str, **flags: object):  # noqa: ANN201
    log = write_secret_log(tmp_path / "service.log", target, token)
    return load_settings({
        "url": f"{target.url}?token={token}", "token": token, "jwt_secret": target.secret_key,
        "jwt_user_id": target.user_id, "redis_url": monitor_url(target),
        "log_file": str(log), "hold": 1.0, "interval": 1.0, **flags,
    }, environ={"AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_ACCESS_KEY_ID": AWS_KEY_ID})


async def wait_for(pilot, condition, what: str, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in time: {what}")
        await pilot.pause(0.1)


async def assert_no_secret_in_any_theme(app: WsMonitorApp, pilot, secrets: list[str],  # noqa: ANN001
                                        mode: str) -> None:
    for name in THEMES:
        theme = load_theme(name)
        app.register_theme(textual_theme(theme))
        app.theme = theme["name"]
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        screen.refresh_views()
        await pilot.pause(0.2)
        svg = app.export_screenshot()
        text = svg_lines(svg)
        assert f"theme {theme['name']}" in text or app.screen.has_class("-tiny")
        for secret in secrets:
            assert secret not in svg, (mode, name, secret)
            assert secret not in text, (mode, name, secret)


def _live(app: WsMonitorApp) -> bool:
    engine = app.engine
    return (bool(engine.history("handshake:token+origin")) and bool(engine.history("logs"))
            and any(s.ok for s in engine.history("redis"))
            and bool(engine.history("http:polling")))


async def test_no_secret_on_screen_in_any_mode_or_theme(modes_target: Target,
                                                        tmp_path: Path) -> None:
    token = modes_target.token()
    secrets = secrets_of(modes_target, token)
    record = tmp_path / "session.jsonl"
    for kiosk in (False, True):
        settings = settings_for(modes_target, tmp_path, token, kiosk=kiosk,
                                record=None if kiosk else str(record))
        engine = build_engine(settings)
        from wsmonitor.apprun import make_recorder

        recorder = make_recorder(settings, engine)
        app = create_app(settings, engine)
        assert isinstance(app, KioskApp) is kiosk
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: _live(app), "every probe reported")  # noqa: B023
            await pilot.pause(0.3)
            assert "WebSocket connection rejected" in svg_lines(app.export_screenshot())
            await assert_no_secret_in_any_theme(app, pilot, secrets,
                                                "kiosk" if kiosk else "interactive")
        if recorder is not None:
            recorder.close()
    # The recording holds none either, and replays without one on screen.
    recorded = record.read_text()
    for secret in secrets:
        assert secret not in recorded
    recording = load_recording(str(record))
    engine = ReplayEngine(recording, speed=64.0)
    app = create_app(replay_settings(recording), engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, engine.finished.is_set, "the replay finished")
        await pilot.pause(0.3)
        await assert_no_secret_in_any_theme(app, pilot, secrets, "replay")


def command_stats(client: redis.Redis) -> dict[str, dict[str, int]]:
    return {name: stats for name, stats in client.info("commandstats").items()}


async def test_kiosk_writes_nothing_to_redis(modes_target: Target, tmp_path: Path) -> None:
    """Every probe, several cycles, against the target's Redis as a user whose writes Redis
    refuses and logs: the kiosk must not even try one."""
    admin = redis.Redis(port=modes_target.redis.port, decode_responses=True)
    admin.acl_log_reset()
    admin.config_resetstat()
    token = modes_target.token()
    settings = settings_for(modes_target, tmp_path, token, kiosk=True, interval=0.5)
    engine = build_engine(settings)
    assert "channel-layer" not in engine.probes
    app = create_app(settings, engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: engine.states["redis"].runs >= 4
                       and engine.states["handshake:token+origin"].runs >= 2
                       and all(engine.states[n].runs >= 1 for n in engine.probes),
                       "several cycles of every probe", timeout=90)
        users = {c["user"] for c in admin.client_list()}
        assert MONITOR_USER in users, users
    stats = command_stats(admin)
    # The monitor did its reading: PING and INFO as the kiosk user, and nothing was refused.
    assert stats["cmdstat_ping"]["calls"] >= 4 and stats["cmdstat_info"]["calls"] >= 4
    refused = {k: v for k, v in stats.items() if v.get("rejected_calls")}
    assert refused == {}, refused
    entries = [e for e in admin.acl_log() if e.get("username") == MONITOR_USER]
    assert entries == [], entries

    # The detector works: a write as the same user is refused and shows in both places.
    writer = redis.Redis.from_url(monitor_url(modes_target))
    with pytest.raises(redis.exceptions.NoPermissionError):
        writer.set("wsmonitor-kiosk-control", "1")
    writer.close()
    stats = command_stats(admin)
    assert stats["cmdstat_set"]["rejected_calls"] == 1
    logged = [e for e in admin.acl_log() if e.get("username") == MONITOR_USER]
    assert [e["object"] for e in logged] == ["set"], logged
    admin.close()


ALL_KEYS = ("p", "r", "plus", "minus", "1", "2", "3", "4", "slash", "j", "t", "e",
            "question_mark", "ctrl+p", "tab", "enter", "escape", "space", "up", "down")


async def test_kiosk_has_no_binding_but_quit(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)  # an export, if one slipped through, would land here
    recording = load_recording(str(write_recording(tmp_path / "healthy.jsonl")))
    from wsmonitor.config import with_overrides

    settings = with_overrides(replay_settings(recording), kiosk=True)
    engine = ReplayEngine(recording, speed=1.0)
    app = create_app(settings, engine, start_engine=False)
    assert isinstance(app, KioskApp)
    interactive = {b.action for b in WsMonitorApp.BINDINGS}  # type: ignore[union-attr]
    assert len(interactive) > 10
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        theme, speed, stack = app.theme, engine.speed, len(app.screen_stack)
        assert {b.binding.action for b in app.active_bindings.values()} == {"quit"}
        for action in interactive - {"quit"}:
            assert app.check_action(action.split("(")[0], ()) is False, action
        assert app.ENABLE_COMMAND_PALETTE is False
        assert not app.query(Input) and not app.screen.query(Input)
        for key in ALL_KEYS:
            await pilot.press(key)
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        assert app.focused is None
        assert app.screen.maximized is None
        assert len(app.screen_stack) == stack, app.screen_stack
        assert app.theme == theme and engine.speed == speed and not engine.paused
        assert not app.screen.query(Input)
        assert list(tmp_path.glob("wsmonitor-*")) == []
        await pilot.press("q")
        await asyncio.sleep(0)
    assert app.return_code in (0, None)
