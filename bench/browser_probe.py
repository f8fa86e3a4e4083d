"""Cost of one page load by the browser probe, beside a bare ``chromium --headless --dump-dom``
of the same page in the same run.

    python bench/browser_probe.py [--loads 5]

A page served on loopback opens a WebSocket that stays open. The probe loads it with its
defaults (3 s settle) `--loads` times after a cold first load; each figure is the median.
CPU counts the probe's own process and every Chromium process (the browser's reaped children
included); RSS is the browser's processes after a load, summed as ``ps`` does, and their own
(anonymous) memory, which the probe's restart bound judges. The share of a core is the CPU of
one warm load over the default cadence (6 × the default 2 s interval).
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402
from websockets.sync.server import serve  # noqa: E402

from wsmonitor.probes.browser import BrowserProbe  # noqa: E402
from wsmonitor.probes.chromium import BASE_FLAGS, group_members, resolve_chromium  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")

IDLE_WINDOW = 12.0
"""Seconds the idle browser is watched between loads (the default cadence)."""


def group_cpu(pgid: int) -> float:
    """CPU seconds of a process group: its live members, and the children its leader reaped."""
    total = 0.0
    for pid in group_members(pgid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK
        if pid == pgid:
            total += (int(fields[13]) + int(fields[14])) / CLK
    return total


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def hold(connection: object) -> None:
    """Keep the socket open until the browser leaves (dump-dom leaves without a close)."""
    try:
        for _ in connection:  # type: ignore[attr-defined]
            pass
    except Exception:  # noqa: BLE001
        pass


def serve_page() -> tuple[str, object, object]:
    ws = serve(hold, "127.0.0.1", 0)
    threading.Thread(target=ws.serve_forever, daemon=True).start()
    port = ws.socket.getsockname()[1]
    body = (f"<!doctype html><title>app</title><body>app<script>window.s = new WebSocket("
            f"'ws://127.0.0.1:{port}/ws/?token=x');</script></body>").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/app", httpd, ws


async def probe_loads(url: str, loads: int) -> dict[str, list[float]]:
    probe = BrowserProbe(url)
    out: dict[str, list[float]] = {"cold_wall": [], "wall": [], "cpu": [], "rss": [],
                                   "anon": [], "idle": []}
    try:
        for i in range(loads + 1):
            pgid = probe.browser.pid if probe.browser else None
            cpu0 = self_cpu() + (group_cpu(pgid) if pgid else 0.0)
            t0 = time.perf_counter()
            sample = await probe.run()
            wall = time.perf_counter() - t0
            assert sample.ok, sample.error
            assert probe.browser is not None
            cpu = self_cpu() + group_cpu(probe.browser.pid) - cpu0
            if i == 0:
                out["cold_wall"].append(wall)
                continue
            out["wall"].append(wall)
            out["cpu"].append(cpu)
            out["rss"].append((sample.chromium_rss_kib or 0) / 1024)
            out["anon"].append((sample.chromium_anon_kib or 0) / 1024)
        # Between loads the browser waits with no page open: what does that cost?
        assert probe.browser is not None
        idle0 = group_cpu(probe.browser.pid)
        await asyncio.sleep(IDLE_WINDOW)
        out["idle"].append(group_cpu(probe.browser.pid) - idle0)
    finally:
        await probe.close()
    return out


def dump_dom(binary: str, url: str, runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"wall": [], "cpu": [], "rss": []}
    for _ in range(runs):
        profile = tempfile.mkdtemp(prefix="wsmonitor-bench-")
        args = [a for a in BASE_FLAGS if not a.startswith("--remote-debugging")]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([binary, *args, f"--user-data-dir={profile}", "--dump-dom", url],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                       timeout=120, env={**os.environ, "TMPDIR": profile})
        out["wall"].append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["cpu"].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        out["rss"].append(after.ru_maxrss / 1024)
        shutil.rmtree(profile, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    binary = resolve_chromium(None)
    if binary is None:
        raise SystemExit("bench needs chromium on PATH (apt-get install chromium)")
    url, httpd, ws = serve_page()
    try:
        base = dump_dom(binary, url, args.loads)
        probe = asyncio.run(probe_loads(url, args.loads))
    finally:
        httpd.shutdown()  # type: ignore[attr-defined]
        ws.shutdown()  # type: ignore[attr-defined]
    med = statistics.median
    cadence = BrowserProbe(url).interval(2.0)
    rows = [
        ("browser load, warm: wall s", f"{med(probe['wall']):.2f}",
         f"dump-dom {med(base['wall']):.2f}", f"{med(probe['wall']) / med(base['wall']):.2f}",
         "≈ dump-dom + 3 s settle"),
        ("browser load, cold (start + load): wall s", f"{probe['cold_wall'][0]:.2f}",
         f"dump-dom {med(base['wall']):.2f}",
         f"{probe['cold_wall'][0] / med(base['wall']):.2f}", "once per browser"),
        ("browser load, warm: CPU s", f"{med(probe['cpu']):.3f}",
         f"dump-dom {med(base['cpu']):.3f}", f"{med(probe['cpu']) / med(base['cpu']):.2f}",
         "< 1 (no start-up)"),
        (f"share of one core at the default cadence ({cadence:g} s)",
         f"{100 * med(probe['cpu']) / cadence:.1f}%",
         f"dump-dom each time {100 * med(base['cpu']) / cadence:.1f}%",
         f"{med(probe['cpu']) / med(base['cpu']):.2f}", "< 5%"),
        ("idle browser between loads: share of one core",
         f"{100 * probe['idle'][0] / IDLE_WINDOW:.2f}%", "no browser 0%", "—", "< 0.5%"),
        ("Chromium RSS after a load, summed: MiB", f"{med(probe['rss']):.0f}",
         f"dump-dom largest process {med(base['rss']):.0f}",
         f"{med(probe['rss']) / med(base['rss']):.2f}", "stays flat"),
        ("Chromium own (anon) memory: MiB", f"{med(probe['anon']):.0f}", "—", "—",
         "< 768 (restart bound)"),
    ]
    print(table(rows))


if __name__ == "__main__":
    main()
