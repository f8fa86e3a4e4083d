"""The command source: a subprocess's stdout and stderr, restarted with backoff when it exits,
killed (its whole process group) on close."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wsmonitor.probes.logs import CommandSource, LogsProbe, LogsSample, parse_command

PY = shlex.quote(sys.executable)


def command(code: str) -> str:
    return f"{PY} -c {shlex.quote(code)}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_tails_stdout_and_stderr_and_kills_on_close(
        tmp_path: Path, wait_for: Callable[..., Any]) -> None:
    pidfile = tmp_path / "pid"
    code = (
        "import os, sys, time\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "print('2026-11-26 11:46:34,123 INFO     WebSocket connected for user 1')\n"
        "print('redis.exceptions.TimeoutError: Timeout reading from redis:6379', file=sys.stderr)\n"
        "sys.stdout.flush(); sys.stderr.flush()\n"
        "time.sleep(60)\n"
    )
    probe = LogsProbe(CommandSource(command(code)), hold=0.0)
    collected: list[Any] = []

    async def run() -> LogsSample:
        sample = await probe.run()
        collected.extend(sample.events)
        return sample

    try:
        samples = await wait_for(run, lambda s: len(collected) >= 2, timeout=10)
        assert all(s.ok for s in samples), samples[-1].error
        sample = samples[-1]
        assert (sample.source, sample.mode, sample.restarts) == ("command", "command", 0)
        assert sorted(str(e.category) for e in collected) == ["None", "channels-timeout"]
        assert {e.location for e in collected} == {os.path.basename(sys.executable)}
        pid = int(pidfile.read_text())
        assert alive(pid)
    finally:
        await probe.close()
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


async def test_restarts_after_exit_with_backoff(wait_for: Callable[..., Any]) -> None:
    code = "print('WSREJECT run'); raise SystemExit(3)"
    source = CommandSource(command(code), restart_backoff=0.1, max_backoff=0.4)
    probe = LogsProbe(source, hold=0.0)
    ids: list[str] = []
    kinds: set[str | None] = set()

    async def run() -> LogsSample:
        sample = await probe.run()
        ids.extend(e.event_id for e in sample.events)
        kinds.add(sample.error_kind)
        return sample

    try:
        samples = await wait_for(run, lambda s: s.restarts >= 2 and len(ids) >= 3, timeout=10)
    finally:
        await probe.close()
    assert {i.split(":")[0] for i in ids} >= {"1", "2", "3"}
    assert "command-exited" in kinds
    exited = next(s for s in samples if s.error_kind == "command-exited")
    assert "exited with status 3" in str(exited.error)


async def test_missing_program_is_a_sample() -> None:
    probe = LogsProbe(CommandSource("wsmonitor-no-such-program --follow", restart_backoff=5))
    try:
        sample = await probe.run()
    finally:
        await probe.close()
    assert (sample.ok, sample.error_kind) == (False, "command-not-found")
    assert "wsmonitor-no-such-program" in str(sample.error)


async def test_bad_quoting_is_a_sample() -> None:
    probe = LogsProbe(CommandSource("kubectl logs -f 'deploy/web"))
    try:
        sample = await probe.run()
    finally:
        await probe.close()
    assert (sample.ok, sample.error_kind) == (False, "bad-command")
    assert "quotes" in str(sample.error)


def test_parse_command_splits_like_a_shell_without_one() -> None:
    assert parse_command("journalctl -fu 'my app' -o cat") == ["journalctl", "-fu", "my app",
                                                               "-o", "cat"]
    assert parse_command("echo $HOME; rm -rf /") == ["echo", "$HOME;", "rm", "-rf", "/"]


async def test_output_queue_is_bounded() -> None:
    code = "import sys, time\nfor i in range(5000): print(i)\nsys.stdout.flush()\ntime.sleep(30)"
    source = CommandSource(command(code), queue=100, first_wait=0)
    try:
        first = len((await source.fetch()).lines)  # starts the reader
        deadline = time.monotonic() + 10
        while first + source.queue.dropped + len(source.queue) < 5000 \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        batch = await source.fetch()
        assert len(batch.lines) == 100
        assert source.queue.dropped == 5000 - first - 100
        assert batch.lines[-1][3] == "4999"  # the newest kept, the oldest dropped
        assert source.describe()["dropped_total"] == source.queue.dropped
    finally:
        await source.close()


async def test_secret_in_the_command_is_masked(wait_for: Callable[..., Any]) -> None:
    cmd = command("print('hello')") + " --token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    probe = LogsProbe(CommandSource(cmd), hold=0.0)
    try:
        sample = await probe.run()
    finally:
        await probe.close()
    assert "eyJzdWIiOiIxIn0" not in str(sample.to_dict())


async def test_first_run_sees_the_backlog_a_follow_command_prints() -> None:
    code = ("import sys, time\n"
            "for i in range(3): print(f'backlog {i} WSREJECT')\n"
            "sys.stdout.flush(); time.sleep(30)")
    probe = LogsProbe(CommandSource(command(code)), hold=0.0)
    try:
        sample = await probe.run()  # what `wsmonitor check` gets: one run
    finally:
        await probe.close()
    assert [e.message for e in sample.events] == [f"backlog {i} WSREJECT" for i in range(3)]
