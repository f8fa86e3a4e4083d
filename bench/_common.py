"""Helpers shared by the benchmarks: a throwaway redis-server, a results table, and the
process figures the soaks watch."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from wsmonitor.demo.target import free_port




@contextmanager
def redis_server() -> Iterator[tuple[int, str]]:
    """A redis-server on a free loopback port; yields (port, url)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench needs redis-server on PATH")
    workdir = tempfile.mkdtemp(prefix="wsmonitor-bench-")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield port, f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    """figure, value, baseline, ratio, goal → an aligned text table."""
    head = ("figure", "value", "baseline (same run)", "ratio", "goal")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def rss_kib() -> int:
    """This process's resident set, KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def process_figures(engine) -> dict:  # noqa: ANN001
    """This process now: RSS (MiB), open fds (and by kind), asyncio tasks on the running loop
    (the UI's) and on the engine's loop, threads."""
    rss = rss_kib()
    engine_tasks = -1
    loop = getattr(engine, "_loop", None)
    if loop is not None and not loop.is_closed():
        counted = threading.Event()
        box: list[int] = []

        def count() -> None:
            box.append(len(asyncio.all_tasks(loop)))
            counted.set()

        loop.call_soon_threadsafe(count)
        counted.wait(5)
        engine_tasks = box[0] if box else -1
    kinds: dict[str, int] = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":")[0] if ":" in target else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return {"rss_mib": rss / 1024, "fds": sum(kinds.values()), "fd_kinds": kinds,
            "ui_tasks": len(asyncio.all_tasks()), "engine_tasks": engine_tasks,
            "threads": threading.active_count()}
