"""The demo's Redis front: a RESP proxy that forwards every command and plays Redis's failures.

Everyone — the demo service, its workers and wsmonitor — reaches the demo's Redis through this
front, so one switch breaks Redis for all of them the way it breaks in production:

- ``down``: the port stops listening and every open connection is dropped (Redis stopped);
- ``capped``: the connection cap is the current number of clients; a new connection gets
  ``-ERR max number of clients reached`` and is closed, as redis-server does, and counts in
  INFO's ``rejected_connections``;
- ``quota``: every command is answered with Upstash's ``ERR max daily request limit exceeded``.

Commands are forwarded one at a time per connection (each reply is read whole before the next
command goes), which keeps INFO and the injected errors in order with the rest. INFO is
answered by the front when the backend has none (the embedded fakeredis), and otherwise
patched with the front's own figures (rejections, the cap). A connection that subscribes is
piped through untouched from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

QUOTA_ERROR = b"-ERR max daily request limit exceeded\r\n"
"""What Upstash answers once the plan's daily command quota is spent (FACTS.md)."""

MAX_CLIENTS_ERROR = b"-ERR max number of clients reached\r\n"
"""What redis-server writes to a connection over ``maxclients`` before closing it."""

SETTLED_S = 0.2
"""A connection open this long counts towards the cap `RedisFront.set_capped` sets."""

_MAX_BULK = 64 << 20
_PIPE_COMMANDS = frozenset({b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE", b"MONITOR"})


class ProtocolError(Exception):
    """Bytes that are not RESP."""


async def read_request(reader: asyncio.StreamReader) -> tuple[list[bytes], bytes] | None:
    """One command from a client: its arguments and its raw bytes (None at EOF)."""
    line = await reader.readline()
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise ProtocolError("unterminated line")
    if line[:1] != b"*":
        # An inline command (redis-cli in a pipe, telnet).
        return line.split(), line
    count = _int(line[1:])
    raw = [line]
    args: list[bytes] = []
    for _ in range(max(count, 0)):
        head = await reader.readline()
        if head[:1] != b"$":
            raise ProtocolError("expected a bulk string")
        size = _int(head[1:])
        if not 0 <= size <= _MAX_BULK:
            raise ProtocolError("bulk string size out of range")
        data = await reader.readexactly(size + 2)
        raw += (head, data)
        args.append(data[:-2])
    return args, b"".join(raw)


async def read_reply(reader: asyncio.StreamReader) -> bytes:
    """One whole reply (RESP2 or RESP3) from the backend, as raw bytes."""
    out = bytearray()
    await _read_value(reader, out)
    return bytes(out)


async def _read_value(reader: asyncio.StreamReader, out: bytearray) -> None:
    line = await reader.readline()
    if not line.endswith(b"\n"):
        raise ConnectionError("the backend closed the connection")
    out += line
    kind = line[:1]
    if kind in b"+-:_,#(":
        return
    n = _int(line[1:])
    if kind in b"$=!":
        if n >= 0:
            out += await reader.readexactly(n + 2)
        return
    if kind in b"*~>":
        for _ in range(max(n, 0)):
            await _read_value(reader, out)
        return
    if kind == b"%":
        for _ in range(2 * max(n, 0)):
            await _read_value(reader, out)
        return
    if kind == b"|":
        # Attributes come before the reply they describe.
        for _ in range(2 * max(n, 0)):
            await _read_value(reader, out)
        await _read_value(reader, out)
        return
    raise ProtocolError(f"unknown reply type {kind!r}")


def _int(text: bytes) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ProtocolError("not a number") from None


def _bulk(text: str) -> bytes:
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class RedisFront:
    """The proxy in front of the demo's Redis.

    Args:
        backend_port: Port of the Redis behind (on 127.0.0.1).
        synthesize_info: Answer INFO here (the backend has none).
        maxclients: The cap INFO reports when not capped.
        server_version: ``redis_version`` of a synthesized INFO.
    """

    def __init__(self, backend_port: int, *, synthesize_info: bool = False,
                 maxclients: int = 100, server_version: str = "7.4.0") -> None:
        self.backend_port = backend_port
        self.synthesize_info = synthesize_info
        self.maxclients = maxclients
        self.server_version = server_version
        self.port = 0
        self.quota = False
        """Answer every command with Upstash's quota error."""
        self.cap: int | None = None
        """The connection cap in force while capped (None: not capped)."""
        self.rejected = 0
        """Connections refused at the cap since start."""
        self.commands = 0
        """Commands received since start."""
        self.connections_received = 0
        self.started = time.time()
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, float] = {}
        """Open client connections and when each was accepted (monotonic)."""
        self._upstreams: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def down(self) -> bool:
        """The port does not listen (Redis stopped)."""
        return self._server is None

    @property
    def clients(self) -> int:
        """Connections open through the front."""
        return len(self._clients)

    @property
    def capped(self) -> bool:
        return self.cap is not None

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after `set_down`)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                  reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def set_down(self, down: bool) -> None:
        """Stop listening and drop everything (Redis stopped), or listen again."""
        if down and self._server is not None:
            server, self._server = self._server, None
            server.close()
            self._drop_all()
            await server.wait_closed()
        elif not down and self._server is None:
            await self.start()

    def set_capped(self, capped: bool) -> None:
        """Hold the connection cap at the number of clients connected now, or lift it.

        Connections younger than `SETTLED_S` (a PING on a fresh connection) are not counted:
        the cap is what the long-lived clients already hold.
        """
        if not capped:
            self.cap = None
            return
        now = time.monotonic()
        settled = sum(1 for since in self._clients.values() if now - since >= SETTLED_S)
        self.cap = max(1, settled)

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        await self.set_down(True)
        # Not cancelled: asyncio's stream callback would report a cancelled handler as an
        # error. Dropping the connections ends each handler's reads instead.
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2)

    def _drop_all(self) -> None:
        for writer in list(self._clients) + list(self._upstreams):
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ProtocolError, OSError):
            pass
        finally:
            self._handlers.discard(task)
            self._clients.pop(writer, None)
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_received += 1
        if self.cap is not None and self.clients >= self.cap:
            self.rejected += 1
            writer.write(MAX_CLIENTS_ERROR)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), 1)
            return
        self._clients[writer] = time.monotonic()
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        self._upstreams.add(up_writer)
        next_request: asyncio.Task[tuple[list[bytes], bytes] | None] | None = None
        try:
            upstream_id = await self._client_id(up_reader, up_writer)
            while True:
                if next_request is None:
                    request = await read_request(reader)
                else:
                    request, next_request = await next_request, None
                if request is None:
                    return
                args, raw = request
                self.commands += 1
                name = args[0].upper() if args else b""
                if self.quota:
                    writer.write(QUOTA_ERROR)
                elif name == b"INFO" and self.synthesize_info:
                    writer.write(_bulk(self.info_text()))
                elif name in _PIPE_COMMANDS:
                    up_writer.write(raw)
                    await self._pipe(reader, writer, up_reader, up_writer)
                    return
                else:
                    up_writer.write(raw)
                    # Read the client while the reply is awaited: a client that leaves during
                    # a blocking command (BZPOPMIN) must end it upstream at once, as leaving
                    # redis-server does, or the orphaned pop takes the next message.
                    reply_task = asyncio.ensure_future(read_reply(up_reader))
                    next_request = asyncio.ensure_future(read_request(reader))
                    done, _ = await asyncio.wait({reply_task, next_request},
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if reply_task not in done and (next_request.exception() is not None
                                                   or next_request.result() is None):
                        await self._unblock(upstream_id)
                        reply_task.cancel()
                        await asyncio.gather(reply_task, return_exceptions=True)
                        return
                    reply = await reply_task
                    if name == b"INFO":
                        reply = self._patch_info(reply)
                    writer.write(reply)
                await writer.drain()
        finally:
            if next_request is not None and not next_request.done():
                next_request.cancel()
                await asyncio.gather(next_request, return_exceptions=True)
            self._upstreams.discard(up_writer)
            with contextlib.suppress(Exception):
                up_writer.transport.abort()

    async def _client_id(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> int | None:
        # The embedded Redis does not notice a client that leaves while blocked: the front
        # unblocks it by id (CLIENT UNBLOCK), as redis-server would by itself.
        if not self.synthesize_info:
            return None
        writer.write(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
        reply = await read_reply(reader)
        return _int(reply[1:]) if reply[:1] == b":" else None

    async def _unblock(self, client_id: int | None) -> None:
        if client_id is None:
            return
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            return
        try:
            arg = str(client_id).encode()
            writer.write(b"*3\r\n$6\r\nCLIENT\r\n$7\r\nUNBLOCK\r\n$%d\r\n%s\r\n"
                         % (len(arg), arg))
            await asyncio.wait_for(read_reply(reader), 2)
        except (OSError, TimeoutError, ConnectionError, ProtocolError,
                asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()

        tasks = [asyncio.ensure_future(copy(reader, up_writer)),
                 asyncio.ensure_future(copy(up_reader, writer))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- INFO -------------------------------------------------------------------------------

    def info_text(self) -> str:
        """INFO for a backend that has none, from the front's own counts."""
        uptime = int(time.time() - self.started)
        lines = [
            "# Server", f"redis_version:{self.server_version}", "redis_mode:standalone",
            f"tcp_port:{self.port}", f"uptime_in_seconds:{uptime}", "",
            "# Clients", f"connected_clients:{self.clients}",
            f"maxclients:{self.cap if self.cap is not None else self.maxclients}",
            "blocked_clients:0", "",
            "# Stats", f"total_connections_received:{self.connections_received}",
            f"total_commands_processed:{self.commands}",
            f"rejected_connections:{self.rejected}", "",
        ]
        return "\r\n".join(lines)

    def _patch_info(self, reply: bytes) -> bytes:
        kind = reply[:1]
        if kind not in (b"$", b"="):
            return reply
        head, _, body = reply.partition(b"\r\n")
        text = body[:-2].decode("utf-8", "replace")
        prefix = ""
        if kind == b"=":
            prefix, text = text[:4], text[4:]
        out = []
        for line in text.split("\r\n"):
            key, sep, value = line.partition(":")
            if sep and key == "rejected_connections" and value.strip().isdigit():
                line = f"{key}:{int(value) + self.rejected}"
            elif sep and key == "maxclients" and self.cap is not None:
                line = f"{key}:{self.cap}"
            elif sep and key == "connected_clients" and self.cap is not None:
                line = f"{key}:{self.clients}"
            out.append(line)
        data = (prefix + "\r\n".join(out)).encode()
        return kind + b"%d\r\n" % len(data) + data + b"\r\n"
