"""A real Prometheus (Debian's ``prometheus``) for the tests: loopback port chosen at run time,
scraping every second, stopped by PID. A missing binary fails the test."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.handshake.processes import free_port


class PrometheusProcess:
    """``prometheus`` scraping `targets` (HOST:PORT) every second, with `rule_files` loaded."""

    def __init__(self, workdir: Path, targets: list[str], rule_files: list[Path] = ()) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not os.access(binary, os.X_OK):
            raise RuntimeError("prometheus not found: apt-get install prometheus")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        config = workdir / "prometheus.yml"
        rules = "".join(f"  - {p}\n" for p in rule_files)
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            + (f"rule_files:\n{rules}" if rules else "")
            + "scrape_configs:\n  - job_name: wsmonitor\n    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n")
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "prometheus.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> PrometheusProcess:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.config}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             f"--storage.tsdb.path={self.workdir / 'data'}"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base}/-/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus did not become ready:\n{self.log_path.read_text()}")

    def query(self, promql: str) -> dict[str, Any]:
        """``/api/v1/query``'s JSON (status and data)."""
        r = httpx.get(f"{self.base}/api/v1/query", params={"query": promql}, timeout=10)
        return r.json()

    def wait_for(self, promql: str, timeout: float) -> list[dict[str, Any]]:
        """Poll `promql` until it returns a non-empty vector; its result."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.query(promql)
            assert last.get("status") == "success", last
            if last["data"]["result"]:
                return last["data"]["result"]
            time.sleep(0.5)
        raise AssertionError(f"{promql!r} stayed empty for {timeout:g} s; last answer {last}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
