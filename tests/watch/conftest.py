"""The watch tests reuse the handshake tests' real target (Daphne serving tests/target, its
redis-server) and add one of their own that they may break (its Redis stopped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.handshake.conftest import (  # noqa: F401 - fixtures shared with the handshake tests
    _forget_secrets, target, target_db, target_redis, target_workdir)
from tests.handshake.processes import DaphneProcess, RedisProcess, Target


@pytest.fixture
def own_target(tmp_path: Path, target_db: tuple[Path, str]) -> Iterator[Target]:
    """A healthy target on a redis-server of its own, for a test that stops that Redis.

    The layer's URL sets ``socket_timeout`` (FACTS.md: without it held sockets close 1011
    after ~6 s), so the only fault is the one the test makes.
    """
    redis = RedisProcess(tmp_path)
    redis.start()
    daphne = DaphneProcess(tmp_path, db=target_db[0],
                           redis_url=f"{redis.url}?socket_timeout=30", name="daphne-own")
    try:
        daphne.start()
        yield Target(daphne=daphne, redis=redis, user_id=target_db[1])
    finally:
        daphne.stop()
        redis.stop()


def watch_args(t: Target, *extra: str, hold: float = 2.0) -> list[str]:
    """Flags that point watch at a target, with a short hold and a 1 s interval."""
    return ["--url", t.url, "--jwt-secret", t.secret_key, "--jwt-user-id", t.user_id,
            "--redis-url", t.redis.url, "--hold", str(hold), "--interval", "1", *extra]
