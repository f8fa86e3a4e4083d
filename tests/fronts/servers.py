"""Real servers for the platform tests: the tests' Django target under Daphne, uvicorn or
hypercorn, and real fronts before it (nginx, HAProxy, Caddy) plus a loopback Envoy as FACTS.md
describes App Runner's. Ports chosen at run time; every process stopped by its PID. A missing
binary fails the test (FileNotFoundError), never skips it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.handshake.processes import SECRET_KEY, TESTS_DIR, _stop, free_port

ASGI_SERVERS = ("daphne", "uvicorn", "hypercorn")
"""The ASGI servers the target runs under."""

_LISTENING = {
    "daphne": re.compile(r"Listening on TCP address 127\.0\.0\.1:(\d+)"),
    "uvicorn": re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)"),
    "hypercorn": re.compile(r"Running on http://127\.0\.0\.1:(\d+)"),
}


def _wait_port(port: int, proc: subprocess.Popen, timeout: float, what: str,
               log: Path) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.05)
    _stop(proc)
    raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-3000:]}")


class AsgiProcess:
    """``tests/target`` under one ASGI server, on a loopback port.

    Args:
        server: ``daphne``, ``uvicorn`` (``--ws websockets``) or ``hypercorn``.
        redis_url: The channel layer's Redis (add ``?socket_timeout=30`` to hold sockets longer
            than 6 s: FACTS.md).
        connect_errors: ``close-4500`` (the runbook's Fix 3) or ``raise``.
    """

    def __init__(self, server: str, workdir: Path, *, db: Path, redis_url: str,
                 connect_errors: str = "close-4500", name: str | None = None) -> None:
        self.server = server
        self.workdir = workdir
        self.log_path = workdir / f"{name or server}.log"
        self.env = dict(os.environ, TARGET_DB=str(db), TARGET_REDIS_URL=redis_url,
                        TARGET_SECRET_KEY=SECRET_KEY, TARGET_CONNECT_ERRORS=connect_errors,
                        PYTHONPATH=str(TESTS_DIR), DJANGO_SETTINGS_MODULE="target.settings")
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def command(self) -> list[str]:
        app = "target.asgi:application"
        if self.server == "daphne":
            return [sys.executable, "-m", "daphne", "-e", "tcp:port=0:interface=127.0.0.1",
                    app]
        if self.server == "uvicorn":
            return [sys.executable, "-m", "uvicorn", "--ws", "websockets", "--host",
                    "127.0.0.1", "--port", "0", app]
        if self.server == "hypercorn":
            return [sys.executable, "-m", "hypercorn", "--bind", "127.0.0.1:0", app]
        raise ValueError(self.server)

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), cwd=TESTS_DIR, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        pattern = _LISTENING[self.server]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = pattern.search(self.log_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group(1))
                _wait_port(self.port, self.proc, 10.0, self.server, self.log_path)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.server} did not start:\n"
                           f"{self.log_path.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, 8.0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class FrontProcess:
    """A real proxy binary (nginx, haproxy, caddy) with a config written here, on a
    loopback port, before ``upstream_port``."""

    def __init__(self, kind: str, workdir: Path, upstream_port: int, *,
                 upgrade_headers: bool = True, read_timeout: float | None = None,
                 tunnel_timeout: float | None = None) -> None:
        self.kind = kind
        self.dir = workdir / f"{kind}-{upstream_port}-{int(upgrade_headers)}-{read_timeout}-" \
            f"{tunnel_timeout}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.upstream_port = upstream_port
        self.upgrade_headers = upgrade_headers
        self.read_timeout = read_timeout
        self.tunnel_timeout = tunnel_timeout
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "out.log"

    def _config(self) -> tuple[list[str], str, str]:
        up = f"127.0.0.1:{self.upstream_port}"
        d = self.dir
        if self.kind == "nginx":
            upgrade = ("proxy_set_header Upgrade $http_upgrade;\n"
                       "      proxy_set_header Connection \"upgrade\";\n"
                       if self.upgrade_headers else "")
            timeout = f"proxy_read_timeout {self.read_timeout}s;" if self.read_timeout else ""
            conf = f"""
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://{up};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      {upgrade}
      {timeout}
    }}
  }}
}}
"""
            return ["nginx", "-p", str(d), "-c", str(d / "nginx.conf")], "nginx.conf", conf
        if self.kind == "haproxy":
            tunnel = f"timeout tunnel {int(self.tunnel_timeout * 1000)}ms" \
                if self.tunnel_timeout else "timeout tunnel 1h"
            conf = f"""
global
  maxconn 64
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  {tunnel}
  retries 0
frontend web
  bind 127.0.0.1:{self.port}
  default_backend app
backend app
  server app1 {up}
"""
            return ["haproxy", "-db", "-f", str(d / "haproxy.cfg")], "haproxy.cfg", conf
        if self.kind == "caddy":
            conf = f"""{{
  admin off
  auto_https off
}}
http://127.0.0.1:{self.port} {{
  reverse_proxy {up}
}}
"""
            return ["caddy", "run", "--config", str(d / "Caddyfile"), "--adapter",
                    "caddyfile"], "Caddyfile", conf
        raise ValueError(self.kind)

    def start(self, timeout: float = 20.0) -> None:
        for attempt in range(3):
            self.port = free_port()
            argv, name, conf = self._config()
            (self.dir / name).write_text(conf)
            log = open(self.log_path, "wb")
            env = dict(os.environ, HOME=str(self.dir), XDG_DATA_HOME=str(self.dir),
                       XDG_CONFIG_HOME=str(self.dir))
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.dir, env=env)
            log.close()
            try:
                _wait_port(self.port, self.proc, timeout, self.kind, self.log_path)
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, 8.0)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/notifications/"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class EnvoyLike:
    """A loopback front that answers as FACTS.md says App Runner's Envoy does: every upgrade
    ``403 Forbidden``, empty body, ``server: envoy``, ``connection: close``; plain HTTP proxied
    to the app with ``server: envoy`` and ``x-envoy-upstream-service-time``; ``502`` "upstream
    connect error or disconnect/reset before headers" when the app is down. Runs on its own
    event loop thread (`tests.handshake.misbehaving.LoopThread`)."""

    def __init__(self, upstream_port: int) -> None:
        from tests.handshake.misbehaving import LoopThread

        self.upstream_port = upstream_port
        self.loop = LoopThread()
        self.port = self.loop.listen(self._serve)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                OSError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:] if ":" in line)}
        if "upgrade" in headers.get("connection", "").lower() or "upgrade" in headers:
            writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n"
                         b"date: Sun, 06 Dec 2026 00:00:00 GMT\r\nserver: envoy\r\n"
                         b"connection: close\r\n\r\n")
            await self._close(writer)
            return
        started = time.perf_counter()
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            body = b"upstream connect error or disconnect/reset before headers. reset reason: " \
                b"connection failure"
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\n"
                         b"content-length: " + str(len(body)).encode() +
                         b"\r\nserver: envoy\r\nconnection: close\r\n\r\n" + body)
            await self._close(writer)
            return
        # Forward the request (HTTP/1.0-style: one request per connection), rewrite the answer.
        request = "\r\n".join([lines[0]] + [line for line in lines[1:] if line and not
                              line.lower().startswith("connection:")] +
                              ["connection: close", "", ""])
        up_w.write(request.encode("latin-1"))
        await up_w.drain()
        answer = await up_r.read(-1)
        up_w.close()
        head_a, _, body = answer.partition(b"\r\n\r\n")
        alines = head_a.decode("latin-1").split("\r\n")
        kept = [line for line in alines[1:] if not line.lower().startswith(
            ("server:", "connection:"))]
        elapsed = int((time.perf_counter() - started) * 1000)
        out = [alines[0], *kept, "server: envoy", f"x-envoy-upstream-service-time: {elapsed}",
               "connection: close", "", ""]
        writer.write("\r\n".join(out).encode("latin-1") + body)
        await self._close(writer)

    @staticmethod
    async def _close(writer: asyncio.StreamWriter) -> None:
        try:
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        except OSError:
            pass

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/notifications/"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.loop.stop()
