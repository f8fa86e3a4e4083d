"""Print what each real front answers before the tests' target (Daphne): the status line,
headers and body of an upgrade, and how long a quiet held socket lives.

Run: ``PYTHONPATH=. python bench/fronts_measure.py`` (needs redis-server, nginx, haproxy,
caddy). The figures go to FACTS.md "Other ASGI servers and proxies".
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fronts.servers import AsgiProcess, EnvoyLike, FrontProcess  # noqa: E402
from tests.handshake.processes import SECRET_KEY, RedisProcess, free_port, \
    setup_target_db  # noqa: E402
from wsmonitor.rules.platform import idle_cut, quiet_hold_options
from wsmonitor.probes.handshake import probe_handshake  # noqa: E402
from wsmonitor.tokens import mint_access_token  # noqa: E402


async def show(label: str, url: str, origin: str, user: str, **kw: object) -> None:
    s = await probe_handshake(url, origin=origin, token=mint_access_token(SECRET_KEY, user),
                              token_source="minted", **kw)  # type: ignore[arg-type]
    quiet = idle_cut(s)
    print(f"{label}: {s.classification} {s.status_line!r} after {s.elapsed_s} s; "
          f"headers={dict(s.headers)}; body={s.body_excerpt!r}"
          + (f"; closed {s.close_code} by {s.closed_by} at {s.closed_at_s} s, quiet {quiet}"
             if s.close_code else ""))


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="fronts-measure-"))
    user = setup_target_db(work / "db.sqlite3")
    redis = RedisProcess(work)
    redis.start()
    app = AsgiProcess("daphne", work, db=work / "db.sqlite3",
                      redis_url=redis.url + "?socket_timeout=30")
    app.start()
    down = free_port()
    started: list = []
    try:
        for label, kind, upstream, kw, hold in (
                ("nginx, upgrades passed", "nginx", app.port, {}, 0.0),
                ("nginx, no Upgrade headers", "nginx", app.port, {"upgrade_headers": False}, 0),
                ("nginx, app down", "nginx", down, {}, 0.0),
                ("nginx, proxy_read_timeout 4s, quiet hold", "nginx", app.port,
                 {"read_timeout": 4}, 10.0),
                ("haproxy, backend down", "haproxy", down, {}, 0.0),
                ("haproxy, passing", "haproxy", app.port, {}, 0.0),
                ("haproxy, timeout tunnel 3s, quiet hold", "haproxy", app.port,
                 {"tunnel_timeout": 3}, 10.0),
                ("caddy, upstream refused", "caddy", down, {}, 0.0),
                ("caddy, passing", "caddy", app.port, {}, 0.0)):
            f = FrontProcess(kind, work, upstream, **kw)  # type: ignore[arg-type]
            started.append(f)
            f.start()
            opts = quiet_hold_options(hold) if hold else {}
            await show(label, f.url, f.base, user, **opts)
        for label, upstream in (("envoy-like, app up", app.port), ("envoy-like, app down", down)):
            e = EnvoyLike(upstream)
            started.append(e)
            await show(label, e.url, e.base, user)
        print("daphne direct, quiet hold 25 s:")
        await show("  daphne", f"ws://127.0.0.1:{app.port}/ws/notifications/",
                   f"http://127.0.0.1:{app.port}", user, **quiet_hold_options(25.0))
    finally:
        for f in started:
            f.stop()
        app.stop()
        redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
