"""Several targets: ``[[targets]]`` in wsmonitor.toml, ``--target``, ``check`` per target,
``watch`` exporting all of them; one target's fault never slows another's probes; no secret in
any line, metric or label."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import jsonschema
import pytest

from tests.handshake.processes import Target, free_port
from wsmonitor.cli import main
from wsmonitor.config import ConfigError, load_targets

from .running import WatchProcess, parse_line
from .test_watch import value

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "wsmonitor" /
                     "report.schema.json").read_text())


def _toml(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# --- the config ------------------------------------------------------------------------------

def test_targets_take_top_level_keys_as_defaults(tmp_path: Path) -> None:
    config = _toml(tmp_path / "w.toml", """
interval = 3
redis-plan = "upstash-free-2024"
redis-url = "redis://127.0.0.1:1/0"

[[targets]]
name = "eu"
url = "wss://eu.example.com/ws/notifications/"

[[targets]]
name = "us"
url = "wss://us.example.com/ws/notifications/"
redis-url = "redis://127.0.0.1:2/0"
interval = 7
""")
    eu, us = load_targets({}, environ={}, config_path=config)
    assert (eu.name, us.name) == ("eu", "us")
    assert eu.settings.url == "wss://eu.example.com/ws/notifications/"
    assert eu.settings.redis_url == "redis://127.0.0.1:1/0" and eu.settings.interval == 3
    assert us.settings.redis_url == "redis://127.0.0.1:2/0" and us.settings.interval == 7
    assert eu.settings.redis_plan == us.settings.redis_plan == "upstash-free-2024"
    assert us.settings.sources["interval"] == "target"
    assert eu.settings.sources["interval"] == "config"


def test_precedence_flag_then_target_then_environment_then_top_level(tmp_path: Path) -> None:
    config = _toml(tmp_path / "w.toml", """
redis-url = "redis://127.0.0.1:1/0"
[[targets]]
name = "own"
redis-url = "redis://127.0.0.1:2/0"
[[targets]]
name = "inherits"
""")
    env = {"REDIS_URL": "redis://127.0.0.1:3/0"}
    own, inherits = load_targets({}, environ=env, config_path=config)
    # A container's own REDIS_URL must not replace a target's written one.
    assert own.settings.redis_url == "redis://127.0.0.1:2/0"
    assert inherits.settings.redis_url == "redis://127.0.0.1:3/0"
    flagged = load_targets({"redis_url": "redis://127.0.0.1:4/0"}, environ=env,
                           config_path=config)
    assert {t.settings.redis_url for t in flagged} == {"redis://127.0.0.1:4/0"}


def test_target_flag_picks_some(tmp_path: Path) -> None:
    config = _toml(tmp_path / "w.toml", "".join(
        f'[[targets]]\nname = "{n}"\nredis-url = "redis://127.0.0.1:1/0"\n'
        for n in ("a", "b", "c")))
    picked = load_targets({}, environ={}, config_path=config, names=["c", "a"])
    assert [t.name for t in picked] == ["a", "c"]


def test_one_target_without_tables_is_named_by_its_host(tmp_path: Path) -> None:
    (t,) = load_targets({"url": "wss://app.example.com/ws/x/"}, environ={}, cwd=str(tmp_path))
    assert t.name == "app.example.com"
    (r,) = load_targets({"redis_url": "redis://:pw@cache.internal:6379/0"}, environ={},
                        cwd=str(tmp_path))
    assert r.name == "cache.internal"


@pytest.mark.parametrize("text, names, words", [
    ('[[targets]]\nurl = "ws://127.0.0.1:1/ws/"\n', None,
     ["[[targets]] table #1", "has no name"]),
    ('[[targets]]\nname = "eu"\nurl = "ws://127.0.0.1:1/ws/"\n'
     '[[targets]]\nname = "eu"\nurl = "ws://127.0.0.1:2/ws/"\n', None,
     ["[[targets]] table #2", "'eu' is already taken"]),
    ('[[targets]]\nname = "eu"\nurl = "ws://127.0.0.1:1/ws/"\nregion = "x"\n', None,
     ["unknown key 'region' in [[targets]] 'eu'", "known keys: name,"]),
    ('[[targets]]\nname = "eu"\nurl = "ws://127.0.0.1:1/ws/"\n'
     '[[targets]]\nname = "us"\nurl = "ws://127.0.0.1:2/ws/"\n', ("ap",),
     ["--target ap: no such target", "(known: eu, us)"]),
    ('url = "ws://127.0.0.1:1/ws/"\n', ("eu",), ["has no [[targets]] tables"]),
    ('[[targets]]\nname = "eu"\nurl = "http://x/"\n', None,
     ["[[targets]] 'eu': --url", "scheme"]),
    ('targets = "eu"\n', None, ["must be an array of tables"]),
])
def test_bad_targets_are_exit_2_naming_the_table(text: str, names: tuple[str, ...] | None,
                                                 words: list[str], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = _toml(tmp_path / "w.toml", text)
    with pytest.raises(ConfigError):
        load_targets({}, environ={}, config_path=config, names=names)
    args = ["check", "--config", config]
    for n in names or ():
        args += ["--target", n]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("wsmonitor: error: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


def test_serve_refuses_several_targets_naming_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _toml(tmp_path / "w.toml", "".join(
        f'[[targets]]\nname = "{n}"\nredis-url = "redis://127.0.0.1:1/0"\n' for n in "ab"))
    assert main(["serve", "--config", config]) == 2
    err = capsys.readouterr().err
    assert "(a, b)" in err and "--target NAME" in err


def test_each_target_has_its_own_engine_redis_connection_and_budget(tmp_path: Path) -> None:
    from wsmonitor.watch import Watch

    config = _toml(tmp_path / "w.toml", """
[[targets]]
name = "free"
redis-url = "redis://127.0.0.1:1/0"
redis-plan = "upstash-free-2024"
redis-budget = 10
[[targets]]
name = "paid"
redis-url = "redis://127.0.0.1:2/0"
""")
    watch = Watch([(t.name, t.settings) for t in load_targets({}, environ={}, config_path=config,
                                                               names=None)], io.StringIO())
    free, paid = watch.runs
    assert free.engine is not paid.engine
    rf, rp = free.engine.probes["redis"], paid.engine.probes["redis"]
    assert rf is not rp and rf.server != rp.server
    assert rf.budget_per_day == pytest.approx(10_000 * 0.10 / 2)  # shared with channel-layer
    assert rp.budget_per_day is None


# --- check and watch against real servers -----------------------------------------------------

@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that completes TCP handshakes and then never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(512)
        yield s.getsockname()[1]


def _two_targets(tmp_path: Path, target: Target, other: str, *, hold: float = 2) -> str:
    return _toml(tmp_path / "wsmonitor.toml", f"""
jwt-secret = "{target.secret_key}"
jwt-user-id = "{target.user_id}"
hold = {hold}
interval = 1

[[targets]]
name = "healthy"
url = "{target.url}"
redis-url = "{target.redis.url}"

{other}
""")


def test_check_reports_every_target_and_fails_when_one_does(
        own_target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Not the HTTP checks: the test target's /api/ws-diagnostic/ smoke test (2 s) sometimes
    # fails while /api/redis-health/ runs its own at the same moment, which is the target's
    # quirk and not what this test is about.
    down = free_port()
    config = _two_targets(tmp_path, own_target, f"""[[targets]]
name = "down"
url = "ws://127.0.0.1:{down}/ws/notifications/"
redis-url = "redis://127.0.0.1:{down}/0"
""", hold=1)
    rc = main(["check", "--json", "--config", config, "--samples", "2",
               "--only", "redis,handshake"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert set(report) == {"version", "started_at", "finished_at", "targets"}
    by_name = {t["name"]: t for t in report["targets"]}
    assert list(by_name) == ["healthy", "down"]
    for one in report["targets"]:
        jsonschema.validate({k: v for k, v in one.items() if k != "name"}, SCHEMA)
    assert by_name["healthy"]["diagnosis"]["layer"] == "none", "\n".join([
        str(by_name["healthy"]["diagnosis"])] + [
        f'{c["id"]} {c["status"]} {c["summary"]}' for c in by_name["healthy"]["checks"]])
    assert "fail" not in {c["status"] for c in by_name["healthy"]["checks"]}
    assert by_name["down"]["diagnosis"]["layer"] != "none"
    # One target picked: the report is unchanged (no "targets" wrapper).
    assert main(["check", "--json", "--config", config, "--target", "healthy",
                 "--only", "redis,handshake"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert "targets" not in single and single["diagnosis"]["layer"] == "none"
    jsonschema.validate(single, SCHEMA)


def test_a_stalled_target_never_slows_the_healthy_ones_probes(
        target: Target, black_hole: int, tmp_path: Path) -> None:
    config = _two_targets(tmp_path, target, f"""[[targets]]
name = "stalled"
url = "ws://127.0.0.1:{black_hole}/ws/notifications/"
redis-url = "redis://127.0.0.1:{black_hole}/0"
""")
    record = tmp_path / "rec.jsonl"
    port = free_port()
    w = WatchProcess(["--metrics", f"127.0.0.1:{port}", "--record", str(record)], cwd=tmp_path)
    try:
        w.wait_line(lambda f: f.get("target") == "healthy" and f.get("layer") == "none")
        w.wait_line(lambda f: f.get("target") == "stalled" and f.get("layer") not in
                    (None, "none", "unknown"), timeout=90)
        # Until the stalled target's handshakes have waited out their 10 s open timeout.
        deadline = time.monotonic() + 90
        while True:
            text = w.scrape(port)
            if value(text, "wsmonitor_handshakes_total", target="stalled",
                     variant="token+origin", classification="timeout"):
                break
            assert time.monotonic() < deadline, "the stalled target never timed out"
            time.sleep(0.5)
    finally:
        assert w.terminate() == 0
    assert value(text, "wsmonitor_diagnosis_info", target="healthy", layer="none") == 1
    assert value(text, "wsmonitor_diagnosis_info", target="stalled", layer="none") == 0
    healthy = [json.loads(line) for line in (tmp_path / "rec.healthy.jsonl").read_text()
               .splitlines()[1:]]
    stalled = [json.loads(line) for line in (tmp_path / "rec.stalled.jsonl").read_text()
               .splitlines()[1:]]
    assert any(s.get("classification") == "timeout" or s.get("error_kind") == "probe-timeout"
               for s in stalled if s["probe"].startswith("handshake")), "the stall happened"
    # The healthy target's Redis probe kept its 2 s cadence while the other's probes waited out
    # their 10 s open timeouts: no gap anywhere near a stall (the bound leaves room for a
    # loaded machine; a shared loop or thread would show gaps of 10 s and more).
    times = [s["at"] for s in healthy if s["probe"] == "redis"]
    assert len(times) >= 5
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 8.0, gaps


def test_no_secret_in_lines_metrics_or_labels(target: Target, redis_password: object,
                                              tmp_path: Path) -> None:
    from tests.conftest import PASSWORD

    server = redis_password
    token = target.token()
    encoded = quote(PASSWORD, safe="")
    config = _toml(tmp_path / "wsmonitor.toml", f"""
hold = 2
interval = 1
[[targets]]
name = "with-token"
url = "{target.url}"
token = "{token}"
redis-url = "{target.redis.url}"
[[targets]]
name = "with-password"
redis-url = "redis://default:{encoded}@127.0.0.1:{server.port}/0"
[[targets]]
name = "wrong-password"
redis-url = "redis://default:{encoded}x@127.0.0.1:{server.port}/0"
""")
    port = free_port()
    w = WatchProcess(["--metrics", f"127.0.0.1:{port}"], cwd=tmp_path)
    try:
        w.wait_line(lambda f: f.get("target") == "with-password" and f.get("layer") == "none")
        w.wait_line(lambda f: f.get("target") == "wrong-password" and f.get("layer") == "redis")
        w.wait_line(lambda f: f.get("target") == "with-token" and f.get("layer") == "none")
        text = w.scrape(port)
    finally:
        assert w.terminate() == 0
    everything = "\n".join([text, *w.lines, w.stderr])
    for secret in (PASSWORD, encoded, token, token.split(".")[2]):
        assert secret not in everything
    assert {parse_line(line)["target"] for line in w.lines} == {
        "with-token", "with-password", "wrong-password"}
    assert value(text, "wsmonitor_redis_connected_clients", target="with-password") >= 1
