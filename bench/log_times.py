"""Log times: what reading the time written in each line costs the logs probe. The same
Daphne-like corpus (every line timestamped) goes through the probe twice in the same run: with
a source whose timestamps are read times (file, command: each line's own time is parsed) and
with one whose timestamps are the events' own (CloudWatch: nothing parsed), in CPU seconds of
this process, best of five.

    python bench/log_times.py [--lines 50000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402
from log_classify import corpus  # noqa: E402

from wsmonitor.probes.logs import Batch, LogsProbe  # noqa: E402
from wsmonitor.probes.logs.timestamps import line_time  # noqa: E402


class _Source:
    kind = "command"
    timeout = 5.0

    def __init__(self, read_times: bool) -> None:
        self.read_times = read_times

    def interval(self, base: float) -> float:
        return base

    def describe(self) -> dict[str, Any]:
        return {}

    async def fetch(self) -> Batch:
        return Batch()

    async def close(self) -> None:
        return None


def rate(lines: list[str], read_times: bool, repeat: int = 5) -> float:
    """Lines per CPU second through the probe's processing (assemble, time, classify, count)."""
    best = 0.0
    for _ in range(repeat):
        now = time.time()
        raw = [("bench", now, str(i), line) for i, line in enumerate(lines)]
        probe = LogsProbe(_Source(read_times), hold=0.0)
        started = time.process_time()
        probe._process(raw)  # noqa: SLF001 - the part that parses; no I/O
        best = max(best, len(lines) / max(1e-9, time.process_time() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    lines = corpus(args.lines, seed=11)
    timed = sum(1 for line in lines if line_time(line) is not None)
    parsed = rate(lines, read_times=True)
    trusted = rate(lines, read_times=False)
    print(f"{len(lines):,} lines, {timed:,} with a time of their own")
    print(table([("probe processing, line times parsed (lines/CPU s)", f"{parsed:,.0f}",
                  f"{trusted:,.0f} not parsed", f"{parsed / trusted:.2f}", ">= 50,000/s")]))


if __name__ == "__main__":
    main()
