"""Common options on either side of the command, ``--export-dir``, and ``check``'s progress line
on a terminal (a real pty) but never on stdout or a pipe."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli import assert_usage_error, run


def test_common_options_before_the_command(redis_server, tmp_path: Path) -> None:  # noqa: ANN001
    config = tmp_path / "wsmonitor.toml"
    config.write_text(f'redis-url = "{redis_server.url}?socket_timeout=10"\n')
    before = run("--config", str(config), "check", "--only", "redis", "--json")
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["probes"]["redis"]["reachable"] is True
    after = run("check", "--only", "redis", "--json", "--config", str(config))
    assert after.returncode == 0, after.stderr
    # Both sides at once: the later on the line wins, as on one side.
    mixed = run("--redis-url", "redis://127.0.0.1:1/0", "check", "--only", "redis", "--json",
                "--redis-url", f"{redis_server.url}?socket_timeout=10")
    assert mixed.returncode == 0, mixed.stdout + mixed.stderr


@pytest.mark.parametrize("args", [
    ["--interval", "0", "check", "--redis-url", "redis://h/0"],
    ["check", "--interval", "0", "--redis-url", "redis://h/0"],
    ["--interval", "0", "--redis-url", "redis://h/0"],
])
def test_bad_common_option_either_side_is_one_line(args: list[str]) -> None:
    assert_usage_error(run(*args), "--interval", "positive")


def test_option_value_that_looks_like_a_command_is_a_value(tmp_path: Path) -> None:
    """``--theme check`` is the theme named check, not the check command."""
    assert_usage_error(run("--theme", "check", "--redis-url", "redis://h/0"), "'check'")


@pytest.mark.parametrize("command", ["check", "dashboard", "serve", "demo", "replay"])
def test_export_dir_missing_or_unwritable_is_one_line(command: str, tmp_path: Path) -> None:
    extra = {"check": ["--redis-url", "redis://h/0"], "dashboard": ["--redis-url", "redis://h/0"],
             "serve": ["--redis-url", "redis://h/0"], "demo": [],
             "replay": [str(tmp_path / "none.jsonl")]}[command]
    if command == "replay":
        line = assert_usage_error(run(command, *extra, "--export-dir", str(tmp_path / "nope")))
        # a missing recording is named first; with a real one the directory is checked
        assert "none.jsonl" in line or "--export-dir" in line
        return
    assert_usage_error(run(command, *extra, "--export-dir", str(tmp_path / "nope")),
                       "--export-dir", "not a directory")
    # /proc takes no new files, not even from root (where a chmod'ed directory would).
    assert_usage_error(run("--export-dir", "/proc", command, *extra), "--export-dir",
                       "not writable")


@pytest.fixture(scope="module")
def demo_config() -> Iterator[str]:
    """``wsmonitor demo --target-only``, and the command it prints as its hint."""
    proc = subprocess.Popen([sys.executable, "-m", "wsmonitor", "demo", "--target-only"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        hint = None
        deadline = time.monotonic() + 60
        while hint is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the demo ended before printing its config"
            hint = re.search(r"\((wsmonitor --config \S+)\)", line)
        assert hint is not None
        yield hint.group(1)
    finally:
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _on_pty(args: list[str], timeout: float = 120) -> tuple[int, str, bytes]:
    """Run wsmonitor with stderr on a pty (a terminal), stdout on a pipe."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "wsmonitor", *args], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    err = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            err += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode()
    proc.wait(30)
    os.close(master)
    return proc.returncode, out, err


def test_demo_hint_runs_check_with_progress_on_a_terminal(demo_config: str) -> None:
    args = demo_config.split()[1:] + ["check", "--json", "--hold", "3"]
    code, out, err = _on_pty(args)
    assert code in (0, 1), (code, out, err)
    report = json.loads(out)  # stdout is the report and nothing else
    assert "\r" not in out and "\x1b" not in out
    text = err.decode()
    assert "\r\x1b[2K" in text, text  # redrawn in place
    frames = [f for f in text.split("\r\x1b[2K") if f]
    assert any(re.search(r"held socket \(\d+ s of its hold left\)", f) for f in frames), \
        frames
    assert any(re.search(r"\d+/\d+ done", f) for f in frames), frames
    assert text.endswith("\r\x1b[2K"), "the line is erased before the report"
    assert report["diagnosis"]["layer"]


def test_no_progress_when_stderr_is_not_a_terminal(demo_config: str) -> None:
    proc = run(*demo_config.split()[1:], "check", "--markdown", "--hold", "1")
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stderr == ""
    assert "\r" not in proc.stdout and "\x1b" not in proc.stdout
    assert proc.stdout.startswith("#")
