"""Fixtures of the companion tests: the migrated database, a password-protected redis-server,
and Daphne serving the companion project on it (a missing server fails the test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.servers import RedisServer, RedisServerError

from .harness import CompanionDaphne, Users, setup_db


def start_redis(directory: Path) -> RedisServer:
    """A redis-server whose requirepass has every character that breaks an unencoded URL."""
    try:
        return RedisServer(directory, password=PASSWORD).start()
    except RedisServerError as exc:
        pytest.fail(f"cannot start redis-server: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def users(tmp_path_factory: pytest.TempPathFactory) -> Users:
    db = tmp_path_factory.mktemp("companion-db") / "companion.sqlite3"
    return Users(db=db, **setup_db(db))


@pytest.fixture(scope="module")
def companion_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("companion-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def companion(tmp_path_factory: pytest.TempPathFactory, users: Users,
              companion_redis: RedisServer) -> Iterator[CompanionDaphne]:
    """The healthy companion: ALLOWED_HOSTS 127.0.0.1 and localhost, a generous rate limit."""
    daphne = CompanionDaphne(tmp_path_factory.mktemp("companion"), users.db,
                             companion_redis.url, rate_burst=1000, rate_per_second=100,
                             cache_seconds=0.2).start()
    yield daphne
    daphne.stop()
