"""Measure how Daphne, uvicorn and hypercorn answer the handshakes wsmonitor classifies: a 101,
a rejected connect() (wrong Origin), a connect() stalled on Redis (SIGSTOP), a crashing
connect() (Redis stopped, the consumer re-raising) and held sockets when Redis stops.

Run: ``PYTHONPATH=. python bench/asgi_servers.py`` (needs redis-server; takes ~2 minutes).
Prints one block per server; the figures go to FACTS.md "Other ASGI servers".
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.handshake.processes import RedisProcess, setup_target_db  # noqa: E402
from tests.fronts.servers import ASGI_SERVERS, AsgiProcess  # noqa: E402
from wsmonitor.probes.handshake import probe_handshake  # noqa: E402
from wsmonitor.tokens import mint_access_token  # noqa: E402
from tests.handshake.processes import SECRET_KEY  # noqa: E402


def raw_reject(port: int) -> str:
    """A wrong-Origin upgrade on a raw socket: the answer, and how long TCP stays open after."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(15)
    t0 = time.perf_counter()
    s.sendall(b"GET /ws/notifications/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\nOrigin: https://evil.invalid\r\n\r\n")
    data = b""
    first = None
    while True:
        try:
            chunk = s.recv(4096)
        except TimeoutError:
            break
        if first is None:
            first = time.perf_counter() - t0
        if not chunk:
            break
        data += chunk
    closed = time.perf_counter() - t0
    s.close()
    head = data.split(b"\r\n\r\n")[0].decode("latin-1").replace("\r\n", " | ")
    return f"{head!r} at {first * 1000 if first else -1:.0f} ms; TCP closed at {closed:.1f} s"


async def hs(url: str, origin: str, token: str, **kw: object) -> str:
    s = await probe_handshake(url, origin=origin, token=token, token_source="minted", **kw)
    extra = f" close {s.close_code} by {s.closed_by} at {s.closed_at_s}" \
        if s.close_code else ""
    return (f"{s.classification}: {s.status_line!r} server={s.server!r} "
            f"elapsed={s.elapsed_s}{extra} headers={dict(s.headers)}")


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="asgi-measure-"))
    db = work / "db.sqlite3"
    user = setup_target_db(db)
    for server in ASGI_SERVERS:
        print(f"== {server}")
        for timeout_q in ("", "?socket_timeout=30"):
            redis = RedisProcess(work)
            redis.start()
            app = AsgiProcess(server, work, db=db, redis_url=redis.url + timeout_q,
                              connect_errors="raise", name=f"{server}{bool(timeout_q)}")
            app.start()
            url = f"ws://127.0.0.1:{app.port}/ws/notifications/"
            origin = f"http://127.0.0.1:{app.port}"

            def tok() -> str:
                return mint_access_token(SECRET_KEY, user)

            try:
                tag = f"[redis url {timeout_q or 'without socket_timeout'}]"
                if not timeout_q:
                    print("101:", await hs(url, origin, tok()))
                    print("wrong Origin:", raw_reject(app.port))
                    print("held 10 s, healthy:", await hs(url, origin, tok(), hold=10.0,
                                                          ping_interval=30.0, app_ping=False))
                redis.pause()
                print(f"stalled {tag}:", await hs(url, origin, tok(), open_timeout=40.0))
                redis.resume()
                await asyncio.sleep(1.0)
                await hs(url, origin, tok())  # the recovery transient
                if timeout_q:
                    held = asyncio.create_task(hs(url, origin, tok(), hold=8.0,
                                                  ping_interval=30.0, app_ping=False))
                    await asyncio.sleep(2.0)
                    redis.stop()
                    print(f"held, Redis stopped at 2 s {tag}:", await held)
                    print(f"crashing connect (Redis down, raise) {tag}:",
                          await hs(url, origin, tok()))
            finally:
                app.stop()
                redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
