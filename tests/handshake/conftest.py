"""Fixtures of the handshake tests: the real Django Channels target (Daphne + its own Redis) in
both rejection styles, and the misbehaving loopback servers. A missing server fails the test."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from wsmonitor import secrets

from .misbehaving import LoopThread, close_on_accept, misbehave
from .processes import DaphneProcess, RedisProcess, Target, free_port, setup_target_db


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    secrets.forget_secrets()
    yield
    secrets.forget_secrets()


@pytest.fixture(scope="session")
def target_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("target")


@pytest.fixture(scope="session")
def target_db(target_workdir: Path) -> tuple[Path, str]:
    """The migrated SQLite database and the test user's id (made once per session)."""
    db = target_workdir / "target.sqlite3"
    return db, setup_target_db(db)


def _start_target(workdir: Path, db: tuple[Path, str], redis: RedisProcess, *, style: str,
                  name: str) -> Target:
    daphne = DaphneProcess(workdir, db=db[0], redis_url=redis.url, reject_style=style,
                           name=name)
    daphne.start()
    return Target(daphne=daphne, redis=redis, user_id=db[1])


@pytest.fixture(scope="session")
def target_redis(target_workdir: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(target_workdir)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture(scope="session")
def target(target_workdir: Path, target_db: tuple[Path, str],
           target_redis: RedisProcess) -> Iterator[Target]:
    """The healthy target; its consumer closes before accept (Daphne answers 403)."""
    t = _start_target(target_workdir, target_db, target_redis, style="close-before-accept",
                      name="daphne-close-before-accept")
    yield t
    t.daphne.stop()


@pytest.fixture(scope="session")
def target_4401(target_workdir: Path, target_db: tuple[Path, str],
                target_redis: RedisProcess) -> Iterator[Target]:
    """The same app, its consumer accepting then closing 4401 on a rejected user."""
    t = _start_target(target_workdir, target_db, target_redis, style="accept-then-close",
                      name="daphne-accept-then-close")
    yield t
    t.daphne.stop()


@dataclass
class FragilePair:
    """Two targets on one Redis of their own, for tests that pause, stop and restart it."""

    raising: Target
    """Its consumer lets connect() exceptions escape: Daphne answers 500 (FACTS.md)."""
    fix3: Target
    """The runbook's Fix 3 consumer: exceptions close 4500 before accept, so Daphne says 403."""

    @property
    def redis(self) -> RedisProcess:
        return self.raising.redis


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory,
            target_db: tuple[Path, str]) -> Iterator[FragilePair]:
    workdir = tmp_path_factory.mktemp("fragile")
    redis = RedisProcess(workdir)
    redis.start()
    started: list[Target] = []
    try:
        for errors in ("raise", "close-4500"):
            daphne = DaphneProcess(workdir, db=target_db[0], redis_url=redis.url,
                                   connect_errors=errors, name=f"daphne-fragile-{errors}")
            daphne.start()
            started.append(Target(daphne=daphne, redis=redis, user_id=target_db[1]))
        yield FragilePair(*started)
    finally:
        for t in started:
            t.daphne.stop()
        redis.stop()


@dataclass
class Misbehaving:
    """The misbehaving listeners: plain, close-on-accept, and TLS with a test CA."""

    port: int
    close_port: int
    tls_port: int
    ca: trustme.CA
    ca_file: Path

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def http(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wss(self, path: str) -> str:
        return f"wss://127.0.0.1:{self.tls_port}{path}"


@pytest.fixture(scope="session")
def misbehaving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Misbehaving]:
    loop = LoopThread()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        yield Misbehaving(port=loop.listen(misbehave), close_port=loop.listen(close_on_accept),
                          tls_port=loop.listen(misbehave, server_ctx), ca=ca, ca_file=ca_file)
    finally:
        loop.stop()


@pytest.fixture
def refused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()
