"""Shared fixtures: real redis-server processes, TLS material, secret hygiene."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import RedisServer, RedisServerError, free_port, write_tls_material  # noqa: E402

from wsmonitor.secrets import forget_secrets  # noqa: E402

PASSWORD = "p@ss:w/rd#1"
"""The requirepass of `redis_password`: every character that breaks an unencoded URL."""


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def _start(directory: Path, **kwargs: object) -> RedisServer:
    try:
        return RedisServer(directory, **kwargs).start()  # type: ignore[arg-type]
    except RedisServerError as exc:
        # No redis-server, or one that cannot start, fails the test: never a skip.
        pytest.fail(f"cannot start redis-server: {exc}", pytrace=False)


@pytest.fixture
def make_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Factory: start more redis-server processes; every one is stopped by PID at teardown."""
    started: list[RedisServer] = []

    def make(*, name: str | None = None, **kwargs: object) -> RedisServer:
        server = _start(tmp_path / (name or f"redis{len(started)}"), **kwargs)
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def redis_server(make_redis: Callable[..., RedisServer]) -> RedisServer:
    """A plain redis-server, no password."""
    return make_redis(name="plain")


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str, str]:
    """``(cert, key, ca, other_ca)``: a trustme CA, a server cert for 127.0.0.1, an unrelated CA."""
    return write_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def redis_tls(make_redis: Callable[..., RedisServer],
              tls_material: tuple[str, str, str, str]) -> RedisServer:
    """A TLS-only redis-server; ``.ca_path`` trusts it, ``.other_ca_path`` does not."""
    cert, key, ca, other = tls_material
    server = make_redis(name="tls", tls=(cert, key, ca))
    server.other_ca_path = other
    return server


@pytest.fixture
def redis_password(make_redis: Callable[..., RedisServer]) -> RedisServer:
    """A redis-server whose requirepass is `PASSWORD` (``@ : / #`` in it)."""
    return make_redis(name="password", password=PASSWORD)


@pytest.fixture
def redis_maxclients(make_redis: Callable[..., RedisServer]) -> RedisServer:
    """A redis-server that accepts at most 3 clients."""
    return make_redis(name="maxclients", extra_args=("--maxclients", "3"))


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


ACL_RULES = {
    # The least-privilege monitoring user (FACTS.md), plus CLIENT SETNAME to be named.
    "monitor": "+ping +info +client|list +client|setname +hello +auth +config|get",
    # No INFO: the probe must degrade to latency only.
    "noinfo": "+ping +client|list +client|setname +hello +auth +config|get",
    # No CLIENT SETNAME: the probe must connect unnamed.
    "noname": "+ping +info +client|list +hello +auth +config|get",
}


@pytest.fixture
def acl_user() -> Callable[[RedisServer, str, str], str]:
    """Create an ACL user on a server: ``acl_user(server, name, password) -> redis:// URL``.

    ``name`` is a key of `ACL_RULES`.
    """
    from urllib.parse import quote

    def create(server: RedisServer, name: str, password: str) -> str:
        rules = ACL_RULES[name].split()
        assert server.cli("ACL", "SETUSER", name, "reset", "on", f">{password}", *rules) == "OK"
        scheme = "rediss" if server.tls else "redis"
        return f"{scheme}://{name}:{quote(password, safe='')}@{server.host}:{server.port}/0"

    return create
