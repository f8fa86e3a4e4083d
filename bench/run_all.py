"""Every benchmark, one table: figure, value, baseline measured in the same run, ratio, goal.

    python bench/run_all.py [--quick] [--soak-minutes N]

Each benchmark is its own script (run them alone for details); this runs them one after the
other — never in parallel, so they do not measure each other — and gathers their rows.
`--quick` shortens the long ones (the CPU window, PING counts, handshake rounds).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402

HERE = Path(__file__).resolve().parent


def scripts(quick: bool, soak_minutes: float) -> list[tuple[str, list[str]]]:
    out = [
        ("redis_fidelity.py", ["--pings", "200" if quick else "400"]),
        ("cost.py", ["--seconds", "20" if quick else "60", "--all-panes"]),
        ("handshake.py", ["--rounds", "20" if quick else "60"]),
        ("log_classify.py", ["--lines", "50000", "--events", "200000"] if quick else []),
        ("logs_pane_burst.py", []),
        ("time_to_diagnosis.py", ["--warm", "30" if quick else "120"]),
        ("browser_probe.py", ["--loads", "3" if quick else "5"]),
        ("watch_scale.py", ["--seconds", "20"] if quick else []),
    ]
    if soak_minutes > 0:
        out.append(("soak_demo.py", ["--minutes", f"{soak_minutes:g}"]))
    return [(name, args) for name, args in out if (HERE / name).exists()]


def rows_of(output: str) -> list[tuple[str, ...]]:
    """The data rows of a `_common.table` printout: split on runs of 2+ spaces."""
    import re

    lines = output.splitlines()
    rows = []
    for i, line in enumerate(lines):  # every table (time_to_diagnosis prints cold and warm)
        if line.startswith("figure") and i + 1 < len(lines) and set(lines[i + 1]) <= {"-", " "}:
            for row in lines[i + 2:]:
                if not row.strip():
                    break
                cells = tuple(c for c in re.split(r"\s{2,}", row.strip()))
                if len(cells) == 5:
                    rows.append(cells)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--soak-minutes", type=float, default=0.0,
                        help="also run the soak against the demo (soak_demo.py) for this "
                             "long (default: skip; soak_kiosk.py runs alone)")
    args = parser.parse_args()
    all_rows: list[tuple[str, ...]] = []
    for name, extra in scripts(args.quick, args.soak_minutes):
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(HERE / name), *extra], capture_output=True,
                              text=True)
        took = time.perf_counter() - started
        rows = rows_of(proc.stdout)
        if proc.returncode != 0 or not rows:
            tail = (proc.stderr.strip().splitlines() or ["no table printed"])[-1]
            all_rows.append((f"{name}: FAILED", tail[:60], "-", "-", "-"))
            continue
        all_rows.extend(rows)
        print(f"{name}: {len(rows)} figure(s) in {took:.0f} s", file=sys.stderr)
    print(table([tuple(r) for r in all_rows]))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
