"""Fixtures of the logs tests: moto's CloudWatch Logs server on loopback (reset between tests),
a scriptable CloudWatch stub that answers JSON-protocol errors, dummy AWS credentials.
A server that cannot start fails the test; nothing here skips."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Dummy credentials and a region in the environment; no profile files, no IMDS."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_REGION",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


# --- moto ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server on a free loopback port, for the whole session; yields its URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # a missing server fails, never skips
        pytest.fail(f"moto[server] is not installed: {exc}", pytrace=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                server.stop()
                pytest.fail(f"moto server did not answer at {url}: {exc}", pytrace=False)
            time.sleep(0.05)
    yield url
    server.stop()


@pytest.fixture
def moto(moto_server: str, aws_env: dict[str, str]) -> str:
    """moto's URL, with its state reset for this test."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=5).close()
    return moto_server


@dataclass
class LogWriter:
    """Creates log groups and streams in moto and puts events, with realistic timestamps."""

    client: Any

    def group(self, name: str, *streams: str) -> None:
        self.client.create_log_group(logGroupName=name)
        for stream in streams or ("web",):
            self.client.create_log_stream(logGroupName=name, logStreamName=stream)

    def put(self, group: str, stream: str, *messages: str, at_ms: int | None = None) -> int:
        """Put messages one millisecond apart; returns the first timestamp."""
        start = at_ms if at_ms is not None else int(time.time() * 1000)
        self.client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": start + i, "message": m} for i, m in enumerate(messages)])
        return start


@pytest.fixture
def logs(moto: str) -> LogWriter:
    import boto3

    return LogWriter(boto3.client("logs", endpoint_url=moto, region_name=REGION))


# --- a scriptable CloudWatch stub -------------------------------------------------------------------


@dataclass
class Call:
    op: str
    at: float
    body: dict[str, Any]


@dataclass
class CloudWatchStub:
    """Answers CloudWatch Logs' JSON protocol from a script: ``stub.on(op, *responses)``.

    A response is ``(status, body)``, or an error code string (answered as HTTP 400 with
    ``{"__type": code}``). The last response of an operation repeats. Unscripted operations
    answer ``AccessDeniedException``.
    """

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    script: dict[str, list[Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, op: str, *responses: Any) -> None:
        with self.lock:
            self.script[op] = list(responses)

    def next_response(self, op: str) -> Any:
        with self.lock:
            queue = self.script.get(op)
            if not queue:
                return "AccessDeniedException"
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def ops(self, op: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if op is None or c.op == op]


def group_description(name: str, created_ms: int = 1_700_000_000_000) -> dict[str, Any]:
    arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{name}"
    return {"logGroupName": name, "creationTime": created_ms, "arn": f"{arn}:*",
            "logGroupArn": arn, "storedBytes": 0, "metricFilterCount": 0}


@pytest.fixture
def cw_stub(aws_env: dict[str, str]) -> Iterator[CloudWatchStub]:
    """The stub on a free loopback port, stopped at teardown."""
    stub = CloudWatchStub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            op = str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2]
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            with stub.lock:
                stub.calls.append(Call(op, time.monotonic(), body))
            response = stub.next_response(op)
            if callable(response):
                response = response(body)
            if isinstance(response, str):
                status, payload = 400, {"__type": response, "message": f"stubbed {response}"}
            else:
                status, payload = response
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            if status >= 300 and "__type" in payload:
                self.send_header("x-amzn-ErrorType", payload["__type"])
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True,
                              name="cw-stub")
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield stub
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """``await wait_for(async_fn, predicate, timeout)``: call until the predicate holds."""
    import asyncio

    async def wait(fn: Callable[[], Any], predicate: Callable[[Any], bool],
                   timeout: float = 10.0, pause: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout
        seen: list[Any] = []
        while True:
            value = await fn()
            seen.append(value)
            if predicate(value):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s; last: {value!r}")
            await asyncio.sleep(pause)

    return wait
