"""Real redis-server processes for tests: loopback ports chosen at run time, stopped by PID.

A missing ``redis-server`` is a test failure, never a skip: these tests exist to prove the
probe against the real thing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

REDIS_SERVER = os.environ.get("WSMONITOR_TEST_REDIS_SERVER") or shutil.which("redis-server") \
    or "/usr/bin/redis-server"
"""The redis-server binary (``WSMONITOR_TEST_REDIS_SERVER`` overrides)."""

START_TIMEOUT = 15.0
"""Seconds a server may take to answer PING after it is started (slow, shared CI machines)."""


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now.

    The socket is released before returning, so another process could take the port in
    between; `RedisServer.start` retries on a fresh port when its first choice is taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServerError(RuntimeError):
    """The server could not be started (its log tail is in the message)."""


class RedisServer:
    """One redis-server process on 127.0.0.1.

    Args:
        directory: Working directory (``--dir``), log file and TLS material live here.
        password: ``requirepass`` (None: no password).
        tls: ``(cert_file, key_file, ca_file)``: serve TLS only, on `port`.
        extra_args: More ``--option value`` arguments.
    """

    def __init__(self, directory: Path, *, password: str | None = None,
                 tls: tuple[str, str, str] | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        if not (os.path.isfile(REDIS_SERVER) and os.access(REDIS_SERVER, os.X_OK)):
            raise RedisServerError(
                f"redis-server not found (looked for {REDIS_SERVER!r}): install it "
                "(apt-get install redis-server) or set WSMONITOR_TEST_REDIS_SERVER"
            )
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.tls = tls
        self.extra_args = tuple(extra_args)
        self.port: int = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.directory / "redis.log"
        self.paused = False
        self.other_ca_path: str | None = None
        """A CA that did not sign this server's certificate (set by the TLS fixture)."""

    # --- addresses -----------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.process.pid if self.process is not None else None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """``redis://`` (or ``rediss://``) URL, with the password URL-encoded when there is one."""
        from urllib.parse import quote

        scheme = "rediss" if self.tls else "redis"
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"{scheme}://{auth}{self.host}:{self.port}/0"

    @property
    def ca_path(self) -> str | None:
        return self.tls[2] if self.tls else None

    # --- lifecycle -----------------------------------------------------------------------

    def _args(self) -> list[str]:
        args = [
            REDIS_SERVER,
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--daemonize", "no",
            "--logfile", str(self.log_path),
            "--protected-mode", "no",
        ]
        if self.tls:
            cert, key, ca = self.tls
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", cert,
                     "--tls-key-file", key, "--tls-ca-cert-file", ca,
                     "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password is not None:
            args += ["--requirepass", self.password]
        args += list(self.extra_args)
        return args

    def start(self) -> RedisServer:
        """Start the server (on the same port as before if it ran already) and wait for PING."""
        if self.process is not None:
            raise RuntimeError("already running")
        keep_port = self.port != 0
        attempts = 1 if keep_port else 3
        last: Exception | None = None
        for _ in range(attempts):
            if not keep_port:
                self.port = free_port()
            self.process = subprocess.Popen(
                self._args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT, cwd=self.directory,
            )
            try:
                self._wait_ready()
                return self
            except RedisServerError as exc:
                last = exc
                self._kill()
        raise RedisServerError(str(last))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RedisServerError(
                    f"redis-server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with self.client(socket_timeout=1, socket_connect_timeout=1) as c:
                    if c.ping():
                        return
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RedisServerError(f"redis-server did not answer PING in {START_TIMEOUT} s: "
                                       f"{self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server by PID: SIGTERM, then SIGKILL if it lingers."""
        if self.process is None:
            return
        if self.paused:
            self.resume()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self._kill()
        self.process = None

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        self._kill()

    def _kill(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.process = None
        self.paused = False

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """Thaw a paused server (SIGCONT)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False

    def log_tail(self, lines: int = 15) -> str:
        try:
            return " / ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- talking to it -------------------------------------------------------------------

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py sync client with admin rights (the server's own password, its CA)."""
        options: dict[str, Any] = dict(host=self.host, port=self.port,
                                       password=self.password, socket_timeout=5,
                                       socket_connect_timeout=5, decode_responses=True)
        if self.tls:
            options.update(ssl=True, ssl_ca_certs=self.tls[2], ssl_cert_reqs="required")
        options.update(kwargs)
        return redis.Redis(**options)

    def cli(self, *args: Any) -> Any:
        """Run one command on a fresh connection and return its reply."""
        with self.client() as c:
            return c.execute_command(*args)

    def info(self, section: str | None = None) -> dict[str, Any]:
        with self.client() as c:
            return c.info(section) if section else c.info()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RedisServer(port={self.port}, pid={self.pid}, tls={bool(self.tls)})"


def write_tls_material(directory: Path, *, hostnames: tuple[str, ...] = ("127.0.0.1",
                                                                         "localhost")
                       ) -> tuple[str, str, str, str]:
    """A trustme CA and a server certificate it signed, plus a second, unrelated CA.

    Returns:
        ``(cert_file, key_file, ca_file, other_ca_file)``.
    """
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert(*hostnames)
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file = directory / "ca.pem"
    other_ca_file = directory / "other-ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert_file))
    for pem in leaf.cert_chain_pems[1:]:
        pem.write_to_path(str(cert_file), append=True)
    leaf.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    trustme.CA().cert_pem.write_to_path(str(other_ca_file))
    return str(cert_file), str(key_file), str(ca_file), str(other_ca_file)


def hold_connections(server: RedisServer, count: int) -> list[socket.socket]:
    """Open raw connections the server counts as clients; each has had one PING answered.

    The caller closes them.
    """
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s: socket.socket = socket.create_connection((server.host, server.port), timeout=5)
            if server.tls:
                ctx = ssl.create_default_context(cafile=server.tls[2])
                s = ctx.wrap_socket(s, server_hostname=server.host)
            socks.append(s)
            s.sendall(b"PING\r\n")
            reply = s.recv(128)
            if not reply:
                raise ConnectionError("server closed a held connection at once")
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks
