"""Loopback servers that misbehave the ways platforms and proxies do.

One asyncio loop on its own thread serves them all, so tests (each on its own loop) talk to them
over real sockets. The behaviour is chosen by the request path:

- ``/close``: read the request, close; ``/reset``: read it, then RST
- ``/garbage``: answer bytes that are not HTTP; ``/silent``: never answer
- ``/status/<code>``: answer that status with a proxy's page
- ``/echo``: a 400 that echoes the request, token and all (a chatty proxy)
- ``/101-drop``: a valid 101, then drop the TCP connection
- ``/101-close/<code>``: a valid 101, then a close frame with that code
- ``/101-bad-frame``: a valid 101, then a frame with a reserved opcode
- ``/101-bad-accept``: a 101 with a wrong ``Sec-WebSocket-Accept``
- ``/slow-403/<seconds>``: Daphne's late 403; ``/slow-drop/<seconds>``: autobahn's late drop

A listener started with `close_on_accept` closes before reading anything.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future

from websockets.utils import accept_key

REASONS = {200: "OK", 301: "Moved Permanently", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 426: "Upgrade Required",
           500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


class LoopThread:
    """An event loop on a daemon thread, serving listeners until `stop`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="misbehaving",
                                        daemon=True)
        self._servers: list[asyncio.Server] = []
        self._thread.start()

    def call(self, coro: Awaitable[object]) -> object:
        fut: Future = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return fut.result(10)

    def listen(self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                       Awaitable[None]],
               ssl_context: ssl.SSLContext | None = None) -> int:
        """Start a listener on 127.0.0.1; returns its port."""

        async def start() -> int:
            server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)
            self._servers.append(server)
            return server.sockets[0].getsockname()[1]

        return int(self.call(start()))  # type: ignore[arg-type]

    def stop(self) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        try:
            self.call(close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return path, headers


def _status(code: int, body: bytes = b"", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {code} {REASONS.get(code, 'Status')}\r\n"
            f"Server: misbehaving-proxy\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n").encode() + body


def _switching(key: str, *, accept: str | None = None) -> bytes:
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept or accept_key(key)}\r\n\r\n").encode()


def _close_frame(code: int, reason: str = "") -> bytes:
    payload = struct.pack("!H", code) + reason.encode()
    return bytes([0x88, len(payload)]) + payload


async def _drain_then_close(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.drain()
    except OSError:
        pass
    writer.close()


async def misbehave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The path-dispatching handler (see the module docstring)."""
    try:
        path, headers = await _read_head(reader)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        writer.close()
        return
    full_path = path
    path = path.split("?", 1)[0]
    parts = [p for p in path.split("/") if p]
    mode = parts[0] if parts else ""
    arg = parts[1] if len(parts) > 1 else ""
    key = headers.get("sec-websocket-key", "")
    try:
        if mode == "close":
            writer.close()
        elif mode == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        elif mode == "garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff\xfe not http at all\r\n\r\n")
            await _drain_then_close(writer)
        elif mode == "silent":
            await reader.read()  # until the client gives up
            writer.close()
        elif mode == "status":
            code = int(arg)
            body = f"<html><body><h1>{code} {REASONS.get(code, '')}</h1></body></html>".encode()
            writer.write(_status(code, body))
            await _drain_then_close(writer)
        elif mode == "101-drop":
            writer.write(_switching(key))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.transport.abort()
        elif mode == "101-bad-frame":
            writer.write(_switching(key) + bytes([0x83, 0x00]))  # reserved opcode 0x3
            await writer.drain()
            await asyncio.wait_for(reader.read(64), 2)
            writer.close()
        elif mode == "101-bad-accept":
            writer.write(_switching(key, accept="d3JvbmcgYWNjZXB0IGtleQ=="))
            await writer.drain()
            await reader.read()
            writer.close()
        elif mode == "101-close":
            writer.write(_switching(key))
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(_close_frame(int(arg or 1011), "server going away"))
            await writer.drain()
            await asyncio.wait_for(reader.read(64), 2)  # the client's echoed close frame
            writer.close()
        elif mode == "echo":
            # A chatty proxy: echoes the request (token and all) in reason, headers and body.
            body = ("<pre>" + "\n".join(f"{k}: {v}" for k, v in headers.items())
                    + f"\n{full_path}</pre>").encode()
            writer.write(f"HTTP/1.1 400 Bad request {full_path}\r\n"
                         f"X-Original-URI: {full_path}\r\n"
                         f"Set-Cookie: session={full_path}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                         .encode() + body)
            await _drain_then_close(writer)
        elif mode == "slow-403":
            await asyncio.sleep(float(arg or 4.5))
            writer.write(b"HTTP/1.1 403 Access denied\r\n\r\n")
            await _drain_then_close(writer)
        elif mode == "slow-drop":
            await asyncio.sleep(float(arg or 4.5))
            writer.close()
        else:
            writer.write(_status(404))
            await _drain_then_close(writer)
    except (OSError, asyncio.TimeoutError):
        writer.close()


async def close_on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close before reading anything: a platform that refuses the upgrade outright."""
    writer.close()
