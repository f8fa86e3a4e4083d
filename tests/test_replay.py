"""Record and replay: a recording played back reproduces the same check results."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from wsmonitor.config import load_settings
from wsmonitor.recorder import Recorder, recording_header
from wsmonitor.replay import ReplayEngine, load_recording, replay_settings
from wsmonitor.runtime import build_engine, check_context, judge
from wsmonitor.ui.redis_pane import RedisPane

from .test_ui import redis_status, wait_for


async def record(tmp_path: Path, url: str, runs: int, **flags: object) -> tuple[Path, list]:  # noqa: ANN401
    settings = load_settings({"redis_url": url, **flags}, environ={})
    engine = build_engine(settings)
    path = tmp_path / "rec.jsonl"
    recorder = Recorder(str(path), recording_header(settings, engine))
    engine.subscribe(recorder)
    for i in range(runs):
        if i:
            time.sleep(0.3)
        await engine.run_once()
    await engine.close_probes()
    recorder.close()
    last = engine.latest("redis")
    live = judge(check_context(settings, engine), {"redis": engine.history("redis")}, last.at)
    return path, live


def wait_finished(engine: ReplayEngine) -> None:
    engine.start()
    assert engine.finished.wait(30)
    engine.stop()


async def test_replay_reproduces_check_results(tmp_path: Path, redis_server) -> None:  # noqa: ANN001
    path, (live_diag, live_results) = await record(
        tmp_path, redis_server.url + "?socket_timeout=10", 4, redis_plan="upstash-free-2024")
    recording = load_recording(str(path))
    assert len([s for s in recording.samples if s.probe == "redis"]) == 4
    engine = ReplayEngine(recording, speed=50)
    wait_finished(engine)
    settings = replay_settings(recording)
    assert settings.plan.name == "upstash-free-2024"
    replayed = judge(check_context(settings, engine), {"redis": engine.history("redis")},
                     engine.now())
    assert [(r.id, r.status, r.summary) for r in replayed[1]] == \
        [(r.id, r.status, r.summary) for r in live_results]
    assert replayed[0].layer == live_diag.layer


async def test_replay_reproduces_a_failure(tmp_path: Path, unused_port: int) -> None:
    path, (live_diag, live_results) = await record(
        tmp_path, f"redis://:pw-secret-1@127.0.0.1:{unused_port}/0", 2)
    assert "pw-secret-1" not in path.read_text()
    recording = load_recording(str(path))
    engine = ReplayEngine(recording, speed=50)
    wait_finished(engine)
    settings = replay_settings(recording)
    diag, results = judge(check_context(settings, engine), {"redis": engine.history("redis")},
                          engine.now())
    assert diag.layer == "redis" == live_diag.layer
    assert {r.id: r.status for r in results} == {r.id: r.status for r in live_results}


async def test_replay_through_the_dashboard(tmp_path: Path, redis_server) -> None:  # noqa: ANN001
    path, _ = await record(tmp_path, redis_server.url, 3)
    recording = load_recording(str(path))
    from wsmonitor.ui.app import create_app

    app = create_app(replay_settings(recording), ReplayEngine(recording, speed=20))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "OK" in redis_status(app))
        await wait_for(pilot, lambda: app.engine.finished.is_set())
        await pilot.pause(0.2)
        # ages are judged on the replay clock: the last sample is fresh, not hours old
        assert "updated 0 s ago" in str(app.screen.query_one(RedisPane).border_subtitle)


def test_replay_bad_files_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"probe": "redis", "at": 1, "ok": true}\nnot json\n')
    for path, needle in ((tmp_path / "missing.jsonl", "cannot read"), (empty, "no samples"),
                         (garbage, "line 2")):
        proc = subprocess.run([sys.executable, "-m", "wsmonitor", "replay", str(path)],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert proc.returncode == 2
        assert proc.stderr.startswith("wsmonitor: error: ") and needle in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([sys.executable, "-m", "wsmonitor", "replay", str(garbage), "--speed",
                           "0"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "--speed" in proc.stderr


def test_recording_lines_are_json(tmp_path: Path) -> None:
    # the format is the contract between --record and replay: one object per line
    path = tmp_path / "r.jsonl"
    rec = Recorder(str(path), {"type": "RecordingHeader", "probes": {}})
    rec.close()
    assert json.loads(path.read_text().splitlines()[0])["type"] == "RecordingHeader"
