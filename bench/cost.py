"""Cost of the dashboard: CPU over a window with the Redis pane live, `wsmonitor --help` wall time,
and time to first frame, each beside a baseline measured in the same run. With --all-panes,
also the dashboard with all four panes live (WebSocket, checklist, Redis, logs) against the demo
target run in a process of its own (`wsmonitor demo --target-only`): its CPU share and its
time to first frame.

    python bench/cost.py [--seconds 60] [--all-panes]

Needs tmux (the dashboard runs in a real terminal, as a person would run it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import redis_server, table  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def wall(cmd: list[str], runs: int = 10) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def pane_pid(session: str) -> int:
    return int(tmux("list-panes", "-t", session, "-F", "#{pane_pid}").strip())


def idle_textual_cpu(seconds: float) -> float:
    """CPU share of a minimal Textual app that redraws one line a second (the floor)."""
    code = ("from textual.app import App\nfrom textual.widgets import Static, Footer\n"
            "class A(App):\n"
            "    def compose(self):\n        yield Static('x')\n        yield Footer()\n"
            "    def on_mount(self):\n        self.n = 0\n"
            "        self.set_interval(1, self.tick)\n"
            "    def tick(self):\n        self.n += 1\n"
            "        self.query_one(Static).update(str(self.n))\n"
            "A().run()\n")
    script = Path(f"/tmp/wsbench-idle-{os.getpid()}.py")
    script.write_text(code)
    session = f"wsbenchidle{os.getpid()}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                    f"exec {sys.executable} {script}"], check=True)
    try:
        time.sleep(3)
        pid = pane_pid(session)
        c0, w0 = cpu_seconds(pid), time.perf_counter()
        time.sleep(seconds)
        return (cpu_seconds(pid) - c0) / (time.perf_counter() - w0)
    finally:
        tmux("kill-session", "-t", session)
        script.unlink(missing_ok=True)


def first_frame(session: str, t0: float, text: str = "Diagnosis") -> float | None:
    while time.perf_counter() - t0 < 30:
        if text in tmux("capture-pane", "-p", "-t", session):
            return time.perf_counter() - t0
        time.sleep(0.02)
    return None


def all_panes(seconds: float) -> list[tuple[str, str, str, str, str]]:
    """The dashboard with every pane live against the demo target (a separate process)."""
    import tempfile

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    workdir = tempfile.mkdtemp(prefix="wsbench-target-")
    target = subprocess.Popen([sys.executable, "-m", "wsmonitor", "demo", "--target-only"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=workdir, env=env)
    config = None
    assert target.stdout is not None
    for line in target.stdout:
        if line.strip().startswith("config"):
            config = line.split()[1]
        if line.startswith("commands:"):
            break
    if config is None:
        target.kill()
        raise SystemExit("the demo target did not start")
    session = f"wsbenchall{os.getpid()}"
    rows = []
    try:
        t0 = time.perf_counter()
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                        f"cd {workdir} && PYTHONPATH={env['PYTHONPATH']} exec {sys.executable} "
                        f"-m wsmonitor --config {config}"], check=True)
        frame = first_frame(session, t0)
        t1 = time.perf_counter()
        code = ("from textual.app import App\nfrom textual.widgets import Static\n"
                "class A(App):\n    def compose(self):\n        yield Static('Diagnosis')\n"
                "A().run()\n")
        subprocess.run(["tmux", "new-session", "-d", "-s", session + "b", "-x", "160", "-y",
                        "48", f"exec {sys.executable} -c \"{code}\""], check=True)
        base = first_frame(session + "b", t1)
        tmux("kill-session", "-t", session + "b")
        if frame is not None and base is not None:
            rows.append(("time to first frame (all four panes)", f"{frame * 1000:.0f} ms",
                         f"{base * 1000:.0f} ms bare Textual app", f"{frame / base:.2f}x",
                         "<= 500 ms"))
        time.sleep(10)  # past start-up and the first hold
        pid = pane_pid(session)
        c0, w0 = cpu_seconds(pid), time.perf_counter()
        time.sleep(seconds)
        share = (cpu_seconds(pid) - c0) / (time.perf_counter() - w0)
        base_share = idle_textual_cpu(seconds)
        rows.append((f"dashboard CPU over {seconds:.0f} s (all four panes, demo target)",
                     f"{share * 100:.2f}% of a core",
                     f"{base_share * 100:.2f}% Textual app ticking 1/s",
                     f"{share / base_share:.1f}x" if base_share else "-", "<= 2% of a core"))
    finally:
        tmux("kill-session", "-t", session)
        try:
            target.communicate("quit\n", timeout=20)
        except subprocess.TimeoutExpired:
            target.kill()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--all-panes", action="store_true",
                        help="also every pane live against the demo target")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("bench/cost.py needs tmux")
    # This checkout's wsmonitor, whatever the installed one is.
    root = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = root
    exe = f"PYTHONPATH={root} {sys.executable} -m wsmonitor"
    help_time = wall([sys.executable, "-m", "wsmonitor", "--help"])
    python_time = wall([sys.executable, "-c", "pass"])
    rows = [("wsmonitor --help wall time", f"{help_time * 1000:.0f} ms",
             f"{python_time * 1000:.0f} ms python -c pass", f"{help_time / python_time:.1f}x",
             "< 300 ms")]
    session = f"wsbench{os.getpid()}"
    with redis_server() as (_port, url):
        t0 = time.perf_counter()
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                        f"exec env {exe} --redis-url '{url}?socket_timeout=10'"], check=True)
        try:
            first_frame = None
            while time.perf_counter() - t0 < 30:
                if "Diagnosis" in tmux("capture-pane", "-p", "-t", session):
                    first_frame = time.perf_counter() - t0
                    break
                time.sleep(0.02)
            # a baseline: a Textual app that draws one Static, started the same way
            t1 = time.perf_counter()
            base_session = session + "b"
            code = ("from textual.app import App\nfrom textual.widgets import Static\n"
                    "class A(App):\n    def compose(self):\n        yield Static('Diagnosis')\n"
                    "A().run()\n")
            subprocess.run(["tmux", "new-session", "-d", "-s", base_session, "-x", "160", "-y",
                            "48", f"exec {sys.executable} -c \"{code}\""], check=True)
            base_frame = None
            while time.perf_counter() - t1 < 30:
                if "Diagnosis" in tmux("capture-pane", "-p", "-t", base_session):
                    base_frame = time.perf_counter() - t1
                    break
                time.sleep(0.02)
            tmux("kill-session", "-t", base_session)
            if first_frame is not None and base_frame is not None:
                rows.append(("time to first frame", f"{first_frame * 1000:.0f} ms",
                             f"{base_frame * 1000:.0f} ms bare Textual app",
                             f"{first_frame / base_frame:.2f}x", "report"))
            time.sleep(3)  # past start-up
            pid = pane_pid(session)
            c0, w0 = cpu_seconds(pid), time.perf_counter()
            time.sleep(args.seconds)
            c1, w1 = cpu_seconds(pid), time.perf_counter()
            share = (c1 - c0) / (w1 - w0)
            base_share = idle_textual_cpu(args.seconds)
            rows.append((f"dashboard CPU over {args.seconds:.0f} s (Redis pane live)",
                         f"{share * 100:.2f}% of a core",
                         f"{base_share * 100:.2f}% Textual app ticking 1/s",
                         f"{share / base_share:.1f}x" if base_share else "-", "<= 2% of a core"))
        finally:
            tmux("kill-session", "-t", session)
    if args.all_panes:
        rows += all_panes(args.seconds)
    print(table(rows))


if __name__ == "__main__":
    main()
