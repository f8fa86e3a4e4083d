"""The file source follows a log like ``tail -F``: the end at start, appends, partial lines,
truncation, rotation by rename, a file that appears later."""

from __future__ import annotations

import os
from pathlib import Path

from wsmonitor.probes.logs import FileSource, LogsProbe, LogsSample


def texts(batch_lines: list[tuple[str, float, str, str]]) -> list[str]:
    return [line[3] for line in batch_lines]


def write(path: Path, text: str, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as fh:
        fh.write(text)


async def test_starts_at_the_end_with_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "daphne.log"
    write(log, "".join(f"line {i}\n" for i in range(10)), "w")
    source = FileSource(str(log), initial_lines=3)
    try:
        batch = await source.fetch()
        assert batch.error is None
        assert texts(batch.lines) == ["line 7", "line 8", "line 9"]
        assert texts((await source.fetch()).lines) == []
    finally:
        await source.close()


async def test_follows_appends_and_waits_for_partial_lines(tmp_path: Path) -> None:
    log = tmp_path / "daphne.log"
    write(log, "old\n", "w")
    source = FileSource(str(log), initial_lines=0)
    try:
        assert texts((await source.fetch()).lines) == []
        write(log, "first\nsecond\nthi")
        batch = await source.fetch()
        assert texts(batch.lines) == ["first", "second"]
        ino = os.stat(log).st_ino
        assert [line[2] for line in batch.lines] == [f"{ino}:4", f"{ino}:10"]
        write(log, "rd\r\n")
        batch = await source.fetch()
        assert texts(batch.lines) == ["third"]
        assert batch.lines[0][2] == f"{ino}:17"
    finally:
        await source.close()


async def test_truncation_starts_over(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "a long line that makes the file bigger than what follows\n", "w")
    source = FileSource(str(log), initial_lines=0)
    try:
        await source.fetch()
        write(log, "after truncate\n", "w")
        assert texts((await source.fetch()).lines) == ["after truncate"]
        assert source.truncations == 1
        write(log, "more\n")
        assert texts((await source.fetch()).lines) == ["more"]
    finally:
        await source.close()


async def test_rotation_finishes_the_old_file_then_reads_the_new(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "before\n", "w")
    source = FileSource(str(log), initial_lines=5)
    try:
        assert texts((await source.fetch()).lines) == ["before"]
        # logrotate's create mode: rename, the writer's last lines land in the old file, then
        # a new file takes the name.
        with open(log, "a", encoding="utf-8") as writer:
            os.rename(log, tmp_path / "app.log.1")
            writer.write("last words in the old file\nno newline at the end")
        assert texts((await source.fetch()).lines) == ["last words in the old file"]
        write(log, "new file line 1\nnew file line 2\n", "w")
        batch = await source.fetch()
        assert texts(batch.lines) == ["no newline at the end", "new file line 1",
                                      "new file line 2"]
        assert source.rotations == 1
        write(log, "appended to the new file\n")
        assert texts((await source.fetch()).lines) == ["appended to the new file"]
    finally:
        await source.close()


async def test_a_file_that_appears_later_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    probe = LogsProbe(FileSource(str(log)), hold=0.0)
    try:
        missing = await probe.run()
        assert (missing.ok, missing.error_kind) == (False, "file-not-found")
        assert str(log) in str(missing.error)
        write(log, "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379.\n", "w")
        found = await probe.run()
        assert found.ok and [e.category for e in found.events] == ["redis-error"]
        assert (found.source, found.mode, found.target) == ("file", "file", str(log))
    finally:
        await probe.close()


async def test_a_directory_is_a_fault(tmp_path: Path) -> None:
    probe = LogsProbe(FileSource(str(tmp_path)))
    try:
        sample = await probe.run()
    finally:
        await probe.close()
    assert (sample.ok, sample.error_kind) == (False, "file-unreadable")


async def test_probe_groups_a_traceback_written_to_the_file(tmp_path: Path) -> None:
    log = tmp_path / "daphne.log"
    write(log, "", "w")
    probe = LogsProbe(FileSource(str(log)), hold=0.0)
    try:
        await probe.run()
        write(log, "2026-11-26 11:46:34,123 ERROR    Error during WebSocket connect: boom\n"
                   "Traceback (most recent call last):\n"
                   '  File "/app/main/consumers.py", line 21, in connect\n'
                   "    await self.channel_layer.group_add(self.group_name, self.channel_name)\n"
                   "redis.exceptions.ResponseError: ERR max concurrent connections exceeded\n"
                   '10.0.0.1:1 - - [26/Nov/2026:11:46:35] "WSCONNECT /ws/notifications/" - -\n')
        sample = await probe.run()
        assert isinstance(sample, LogsSample)
        assert [e.category for e in sample.events] == ["plan-quota", None]
        assert sample.events[0].message.count("\n") == 4
        assert "connect-error" in sample.events[0].tags
        assert probe.recent()[-1] == sample.events[-1]
    finally:
        await probe.close()


async def test_reads_are_bounded_per_run(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    write(log, "", "w")
    source = FileSource(str(log), max_bytes=1000)
    try:
        await source.fetch()
        write(log, "".join(f"{i:09d}\n" for i in range(300)))  # 3000 bytes
        sizes = [len((await source.fetch()).lines) for _ in range(4)]
        assert sizes == [100, 100, 100, 0]
    finally:
        await source.close()
