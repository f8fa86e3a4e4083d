"""Fixtures of the platform tests: the tests' Django target (under Daphne unless a test picks
another ASGI server) on its own Redis, and a factory of fronts before it, each stopped by PID.
A missing binary (nginx, haproxy, caddy, uvicorn, hypercorn) fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.handshake.judging import HOLD
from wsmonitor.config import load_settings
from wsmonitor.rules.platform import platform_of
from wsmonitor.runtime import build_engine, check_context, judge

from tests.handshake.conftest import target_db, target_workdir  # noqa: F401
from tests.handshake.processes import RedisProcess, free_port

from .servers import AsgiProcess, EnvoyLike, FrontProcess

SOCKET_TIMEOUT = "?socket_timeout=30"
"""The target's channel layer outlives a held socket only with an explicit socket timeout
(FACTS.md: channels_redis#422)."""


class App:
    """A running target: its ASGI server, its Redis, and what a probe needs."""

    def __init__(self, asgi: AsgiProcess, redis: RedisProcess, user_id: str,
                 secret_key: str) -> None:
        self.asgi, self.redis, self.user_id, self.secret_key = asgi, redis, user_id, secret_key

    @property
    def port(self) -> int:
        return self.asgi.port

    def flags(self, base: str | None = None, **more: object) -> dict[str, object]:
        """wsmonitor flags that reach the app (or a front at `base`) with a minted token."""
        base = base or f"http://127.0.0.1:{self.port}"
        url = base.replace("http://", "ws://") + "/ws/notifications/"
        return {"url": url, "jwt_secret": self.secret_key, "jwt_user_id": self.user_id,
                **more}


def start_app(workdir: Path, db: tuple[Path, str], server: str = "daphne",
              connect_errors: str = "close-4500") -> App:
    from tests.handshake.processes import SECRET_KEY

    redis = RedisProcess(workdir)
    redis.start()
    asgi = AsgiProcess(server, workdir, db=db[0], redis_url=redis.url + SOCKET_TIMEOUT,
                       connect_errors=connect_errors, name=f"{server}-{redis.port}")
    try:
        asgi.start()
    except Exception:
        redis.stop()
        raise
    return App(asgi, redis, db[1], SECRET_KEY)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory,
        target_db: tuple[Path, str]) -> Iterator[App]:  # noqa: F811
    """The healthy target under Daphne, on a Redis of its own."""
    a = start_app(tmp_path_factory.mktemp("app"), target_db)
    yield a
    a.asgi.stop()
    a.redis.stop()


@pytest.fixture
def fronts(tmp_path: Path) -> Iterator[list]:
    """Start fronts with ``fronts.append(FrontProcess(...))`` then ``.start()``; all stopped
    at the end."""
    started: list = []
    yield started
    for f in started:
        f.stop()


def front(started: list, kind: str, tmp: Path, upstream: int, **kw: object) -> FrontProcess:
    f = FrontProcess(kind, tmp, upstream, **kw)  # type: ignore[arg-type]
    started.append(f)
    f.start()
    return f


def envoy(started: list, upstream: int) -> EnvoyLike:
    e = EnvoyLike(upstream)
    started.append(e)
    return e


async def judged(only: str | None = None, **flags: Any) -> tuple[Any, dict[str, Any], Any]:
    """Run every probe the flags ask for once (as ``wsmonitor check``, ``--only`` included)
    and judge: the diagnosis, the checks by id, and ``probes.platform``."""
    flags.setdefault("hold", HOLD)
    settings = load_settings(flags, environ={})
    sections = {only} if only else None
    engine = build_engine(settings, sections)
    try:
        await engine.run_once()
        if "redis" in engine.probes:  # a command rate needs a second INFO
            await engine.run_once(["redis"])
    finally:
        await engine.close_probes()
    history = {n: engine.history(n) for n in engine.probes}
    ctx = check_context(settings, engine, sections)
    diagnosis, results = judge(ctx, history)
    return diagnosis, {r.id: r for r in results}, platform_of(history, ctx.url_host)


__all__ = ["App", "free_port", "front", "envoy", "judged", "start_app"]
