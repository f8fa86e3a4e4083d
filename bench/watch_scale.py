"""``wsmonitor watch`` at scale: 1, 10 and 50 targets against a loopback target (the demo stack)
at the default cadence — CPU and RSS of the watch process, per extra target, and the time to
scrape /metrics at the largest count; then the footprint of one target on the watched service
(handshakes, HTTP requests and Redis commands per minute), from a recording.

    python bench/watch_scale.py [--counts 1,10,50] [--seconds 60] [--warmup 35]

Targets point at demo stacks (``wsmonitor demo --target-only``, one process per 10 targets)
under names of their own, so each has its own engine, sockets, Redis connection and budget, as
N real services would. Only the watch process is measured. Goals (issue #15): linear; an extra target costs at
most 0.5 % of a core and 5 MiB; /metrics at 50 targets in under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent

from _common import table  # noqa: E402

from wsmonitor.demo.target import free_port  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class DemoTarget:
    """``wsmonitor demo --target-only`` in a process of its own (so the service's work is not
    counted as the prober's, nor shares its GIL); its settings from the config it writes."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "wsmonitor", "demo", "--target-only"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env, cwd=tempfile.gettempdir())
        assert self.proc.stdout is not None
        config = None
        for line in self.proc.stdout:
            if line.strip().startswith("config "):
                config = line.split()[1]
            if line.startswith("commands:"):
                break
        if config is None:
            self.stop()
            raise SystemExit("demo --target-only did not say where its config is")
        import tomllib

        self.keys = tomllib.loads(Path(config).read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)


def write_config(path: Path, stacks: list[DemoTarget], count: int) -> None:
    """``count`` [[targets]], spread over the demo stacks in turn."""
    body = ""
    for i in range(count):
        keys = stacks[i % len(stacks)].keys
        body += f'\n[[targets]]\nname = "t{i:03d}"\n'
        body += "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    path.write_text(body)
    os.chmod(path, 0o600)


def start_watch(workdir: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for var in ("REDIS_URL", "WSMONITOR_REDIS_URL", "WSMONITOR_URL"):
        env.pop(var, None)
    return subprocess.Popen([sys.executable, "-m", "wsmonitor", "watch", "--metrics",
                             f"127.0.0.1:{port}", *extra], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def scrape(port: int) -> tuple[float, str]:
    """One GET /metrics on a fresh connection, as Prometheus's scrape would be; its ms."""
    import http.client

    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        if response.status != 200:
            raise httpx.HTTPError(f"/metrics answered {response.status}")
        text = response.read().decode()
    except OSError as exc:
        raise httpx.HTTPError(str(exc)) from None
    finally:
        conn.close()
    return (time.perf_counter() - t0) * 1000, text


def wait_metrics(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            scrape(port)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("watch did not serve /metrics")


def measure(stack: list[DemoTarget], count: int, seconds: float, warmup: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="wsbench-watch-") as tmp:
        workdir = Path(tmp)
        write_config(workdir / "wsmonitor.toml", stack, count)
        port = free_port()
        proc = start_watch(workdir, port)
        try:
            wait_metrics(port, proc)
            time.sleep(warmup)  # a benchmark's settling time, not a test's wait
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            rss = []
            while time.monotonic() - t0 < seconds:
                time.sleep(1)
                rss.append(rss_mib(proc.pid))
            cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
            times, text = [], ""
            for _ in range(20):
                ms, text = scrape(port)
                times.append(ms)
            lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
            none = sum(1 for ln in lines if ln.startswith("wsmonitor_diagnosis_info{")
                       and 'layer="none"' in ln and 'confidence="confirmed"' in ln
                       and ln.endswith(" 1.0"))
            return {"cpu": cpu * 100, "rss": statistics.median(rss),
                    "scrape_ms": statistics.median(times),
                    "scrape_p95_ms": sorted(times)[int(0.95 * len(times)) - 1],
                    "series": len(lines), "bytes": len(text), "healthy": none}
        finally:
            proc.terminate()
            proc.wait(15)


def footprint(stack: list[DemoTarget], seconds: float, warmup: float) -> dict[str, float]:
    """One target's load on the service it watches, per minute, from a recording."""
    with tempfile.TemporaryDirectory(prefix="wsbench-foot-") as tmp:
        workdir = Path(tmp)
        write_config(workdir / "wsmonitor.toml", stack[:1], 1)
        port = free_port()
        record = workdir / "rec.jsonl"
        proc = start_watch(workdir, port, "--record", str(record))
        try:
            wait_metrics(port, proc)
            time.sleep(warmup + seconds)
        finally:
            proc.terminate()
            proc.wait(15)
        rows = [json.loads(ln) for ln in record.read_text().splitlines()[1:]]
    start = rows[0]["at"] + warmup
    window = [r for r in rows if r["at"] >= start]
    minutes = (window[-1]["at"] - window[0]["at"]) / 60
    shakes = sum(1 for r in window if r["probe"].startswith("handshake:") and not r.get("interim"))
    http = sum(1 for r in window if r["probe"].startswith("http:"))
    redis = [r for r in window if r["probe"] == "redis"]
    commands = redis[-1]["own_commands_total"] - redis[0]["own_commands_total"]
    span = (redis[-1]["at"] - redis[0]["at"]) / 60
    return {"handshakes": shakes / minutes, "http": http / minutes,
            "redis": commands / span if span else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=35.0,
                        help="seconds before measuring: past the first 30 s hold")
    parser.add_argument("--per-stack", type=int, default=10,
                        help="targets per demo process (one demo cannot serve 50 watchers)")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    stacks = [DemoTarget() for _ in range(-(-max(counts) // args.per_stack))]
    try:
        results = {n: measure(stacks, n, args.seconds, args.warmup) for n in counts}
        foot = footprint(stacks, args.seconds, args.warmup)
    finally:
        for stack in stacks:
            stack.stop()
    base = results[counts[0]]
    rows = []
    for n in counts:
        r = results[n]
        rows.append((f"watch, {n} targets: CPU (% of a core)", f"{r['cpu']:.2f}",
                     f"{base['cpu']:.2f} (1 target)", f"{r['cpu'] / base['cpu']:.1f}x",
                     "linear"))
        rows.append((f"watch, {n} targets: RSS (MiB)", f"{r['rss']:.1f}",
                     f"{base['rss']:.1f} (1 target)", f"{r['rss'] / base['rss']:.2f}x", "linear"))
        if n != counts[0]:
            extra = n - counts[0]
            rows.append((f"  per extra target ({n}): CPU", f"{(r['cpu'] - base['cpu']) / extra:.3f} %",
                         "", "", "<= 0.5 %"))
            rows.append((f"  per extra target ({n}): RSS",
                         f"{(r['rss'] - base['rss']) / extra:.2f} MiB", "", "", "<= 5 MiB"))
        rows.append((f"  /metrics at {n}: median / p95 ms ({r['series']} series, "
                     f"{r['bytes'] / 1024:.0f} KiB)", f"{r['scrape_ms']:.1f} / "
                     f"{r['scrape_p95_ms']:.1f}", f"{base['scrape_ms']:.1f} (1 target)",
                     f"{r['scrape_ms'] / base['scrape_ms']:.1f}x",
                     "< 50 ms at 50" if n == max(counts) else ""))
        rows.append((f"  targets judged healthy at {n}", f"{r['healthy']}/{n}", "", "", "all"))
    rows.append(("one target on its service: handshakes/min", f"{foot['handshakes']:.1f}", "",
                 "", ""))
    rows.append(("one target on its service: HTTP requests/min", f"{foot['http']:.1f}", "", "",
                 ""))
    rows.append(("one target on its service: Redis commands/min", f"{foot['redis']:.1f}", "",
                 "", ""))
    print(table(rows))


if __name__ == "__main__":
    main()
