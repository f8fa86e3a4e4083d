"""Helpers shared by the benchmarks: a throwaway redis-server and a results table."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
