"""Pages and a WebSocket endpoint served on loopback for the browser probe's tests.

The pages come from `http.server` in a thread (plain or TLS), the WebSocket from `websockets`'
threaded server: ports chosen at run time, both stopped at teardown. Chromium is the real one
(Debian's, installed by .ci/run); without it these tests fail, they never skip.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import shutil
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import Server, ServerConnection, serve

GOOD_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.goodgoodgoodgood"
"""The token the test endpoint accepts (JWT-shaped, so redaction must mask it)."""

WRONG_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMiJ9.wrongwrongwrong"

DEADLINE = 60.0
"""Seconds a condition may take under a loaded CI machine."""


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed (apt-get install chromium; .ci/run does)",
                    pytrace=False)
    return found


class SocketEndpoint:
    """A WebSocket endpoint like the app's: ``/ws/?token=GOOD`` is accepted, greeted and
    held open; any other token gets a 403 before the upgrade; ``/close/`` is accepted and
    closed with 1011 at once."""

    def __init__(self) -> None:
        self.origins: list[str | None] = []
        self.server: Server = serve(self._handler, "127.0.0.1", 0,
                                    process_request=self._process_request)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        self.origins.append(request.headers.get("Origin"))
        if request.path.startswith("/ws/") and f"token={GOOD_TOKEN}" not in request.path:
            return connection.respond(403, "Forbidden\n")
        return None

    def _handler(self, connection: ServerConnection) -> None:
        if connection.request is not None and connection.request.path.startswith("/close/"):
            connection.close(1011, "channel layer failed")
            return
        connection.send(json.dumps({"type": "connection.ack"}))
        try:
            for _ in connection:
                pass
        except Exception:  # noqa: BLE001 - the browser went away
            pass

    def url(self, path: str = "/ws/", token: str = GOOD_TOKEN, host: str = "127.0.0.1") -> str:
        return f"ws://{host}:{self.port}{path}?token={token}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


class PageServer:
    """Pages by path: ``add(path, body, headers)``; ``/api/notifications/`` answers JSON (the
    polling fallback) and counts its requests."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.pages: dict[str, tuple[str, dict[str, str]]] = {}
        self.polls = 0
        pages = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                if path == "/hang":  # a frontend that never answers
                    time.sleep(60)
                    return
                if path.startswith("/api/notifications/"):
                    pages.polls += 1
                    body, headers, status = '{"results": []}', {"Content-Type":
                                                                "application/json"}, 200
                elif path in pages.pages:
                    body, extra = pages.pages[path]
                    headers, status = {"Content-Type": "text/html", **extra}, 200
                else:
                    body, headers, status = "not found", {"Content-Type": "text/plain"}, 404
                data = body.encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, script: str, headers: dict[str, str] | None = None) -> None:
        self.pages[path] = (f"<!doctype html><title>t</title><body>app<script>{script}"
                            "</script></body>", headers or {})

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def open_socket(url: str) -> str:
    """A page script that opens a socket as a frontend would."""
    return f"window.sock = new WebSocket({json.dumps(url)});"


POLLING = ("fetch('/api/notifications/');"
           "setTimeout(() => fetch('/api/notifications/'), 100);")
"""A page script that has given up on the socket and polls instead."""


@pytest.fixture
def endpoint() -> Iterator[SocketEndpoint]:
    server = SocketEndpoint()
    yield server
    server.stop()


@pytest.fixture
def pages() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.stop()


@pytest.fixture
def tls_pages(tmp_path: Path) -> Iterator[tuple[PageServer, str]]:
    """An https page server for ``app.test`` (a trustme certificate) and the SPKI hash that
    makes Chromium accept it (``--ignore-certificate-errors-spki-list``)."""
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    leaf = ca.issue_cert("app.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    server = PageServer(tls=context)
    yield server, base64.b64encode(hashlib.sha256(spki).digest()).decode()
    server.stop()


def profile_processes(marker: str) -> list[int]:
    """Live processes whose command line mentions `marker` (a temporary directory only
    the test's Chromium uses): what is left of it."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().decode("utf-8", "replace")
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        if stat[stat.rfind(b")") + 2:].split()[:1] == [b"Z"]:
            continue
        if marker in cmdline:
            out.append(int(entry))
    return out


def wait_gone(marker: str, what: str, deadline: float = DEADLINE) -> None:
    """Poll until no process mentions `marker`; fail naming the survivors."""
    end = time.monotonic() + deadline
    while True:
        left = profile_processes(marker)
        if not left:
            return
        if time.monotonic() > end:
            raise AssertionError(f"{what}: chromium processes left behind: {left}")
        time.sleep(0.2)
