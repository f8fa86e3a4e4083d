"""``pip install wsmonitor && wsmonitor demo`` on a machine without redis-server: the embedded
Redis comes with the core install, and the demo works without the ``channels`` extra.

The extras' modules (channels, channels_redis, daphne, django) are made unimportable in the
child process by a meta-path blocker, and PATH has no redis-server: what is left is the core
install. The check it runs must still tell a healthy demo from a broken one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = '''
import sys
class _Block:
    """The extras are not installed."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"channels", "channels_redis", "daphne", "django"}:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: not a core dependency)")
        return None
sys.meta_path.insert(0, _Block())
'''


def test_embedded_redis_is_a_core_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [d.replace(" ", "") for d in project["dependencies"]]
    assert any(d.startswith("fakeredis[lua]") for d in core), core
    assert not any(d.startswith(("channels", "daphne", "django")) for d in core), core


def test_demo_on_core_install_without_redis_server(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "WSMONITOR_URL") and not k.startswith("WSMONITOR_")}
    env["PATH"] = str(bare)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    proc = subprocess.Popen([sys.executable, "-m", "wsmonitor", "demo", "--target-only"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while not lines or not lines[-1].startswith("commands:"):
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, (lines, proc.stderr.read()
                                                          if proc.stderr else "")
            lines.append(line.rstrip("\n"))
        out = "\n".join(lines)
        assert "(embedded Redis, plain redis channel layer)" in out, out
        config = next(line.split()[1] for line in lines if line.strip().startswith("config"))

        def check() -> tuple[int, dict]:
            # The hint's form: the common option before the command.
            done = subprocess.run([sys.executable, "-m", "wsmonitor", "--config", config,
                                   "check", "--json", "--hold", "1", "--samples", "2"],
                                  capture_output=True, text=True, env=env, timeout=120)
            assert done.stderr == "", done.stderr
            return done.returncode, json.loads(done.stdout)

        code, report = check()
        assert (code, report["diagnosis"]["layer"]) == (0, "none"), report["diagnosis"]
        channel = {c["id"]: c["status"] for c in report["checks"]}["channel-layer"]
        assert channel == "skipped"  # no channels_redis: said, not failed
        proc.stdin.write("on proxy-502\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ok faults on: proxy-502"
        code, report = check()
        assert (code, report["diagnosis"]["layer"]) == (1, "proxy"), report["diagnosis"]
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
