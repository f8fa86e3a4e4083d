"""The diagnosis against real servers: each scenario produces exactly its layer — the ones
`test_checks_ws.py` does not already cover (consumer, channel-layer from the logs, proxy 504,
the `unknown`s where evidence cannot decide) — and the tracked verdict agrees with the raw one.

`Watch` runs the same wiring as the dashboard: probes from the settings, `judge` after each
cycle, a `VerdictTracker` over the verdicts.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from wsmonitor.rules.base import CheckResult, Diagnosis
from wsmonitor.config import load_settings
from wsmonitor.rules.diagnosis import VerdictTracker, streaks
from wsmonitor.runtime import build_engine, check_context, judge

from .processes import DaphneProcess, Target

HOLD = 1.0


class Watch:
    """Probes built from wsmonitor flags, judged after every cycle (raw and tracked)."""

    def __init__(self, **flags: Any) -> None:
        flags.setdefault("hold", HOLD)
        self.settings = load_settings(flags, environ={})
        self.engine = build_engine(self.settings)
        self.engine.stagger = 0.0  # the cycles of a test need no spreading
        self.tracker = VerdictTracker()
        self.raw: list[str] = []
        self.verdicts: list[Diagnosis] = []
        self.shown: list[str] = []

    async def cycle(self, names: list[str] | None = None) -> tuple[Diagnosis,
                                                                   dict[str, CheckResult]]:
        """One run of the probes, then a verdict; returns the raw one and the checks."""
        await self.engine.run_once(names)
        return self.judge()

    def judge(self) -> tuple[Diagnosis, dict[str, CheckResult]]:
        history = {n: self.engine.history(n) for n in self.engine.probes}
        now = time.time()
        diagnosis, results = judge(check_context(self.settings, self.engine), history, now)
        shown = self.tracker.update(diagnosis, now, results, streaks(history))
        self.raw.append(diagnosis.layer)
        self.verdicts.append(diagnosis)
        self.shown.append(shown.layer)
        return diagnosis, {r.id: r for r in results}

    async def close(self) -> None:
        await self.engine.close_probes()


async def once(**flags: Any) -> tuple[Diagnosis, dict[str, CheckResult]]:
    watch = Watch(**flags)
    try:
        diagnosis, results = await watch.cycle()
        if "redis" in watch.engine.probes:  # a command rate needs a second INFO
            diagnosis, results = await watch.cycle(["redis"])
    finally:
        await watch.close()
    assert watch.shown[-1] == diagnosis.layer, (watch.raw, watch.shown)
    return diagnosis, results


def minted(target: Target) -> dict[str, Any]:
    return {"url": target.url, "jwt_secret": target.secret_key, "jwt_user_id": target.user_id}


# --- consumer ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def consumer_target(tmp_path_factory: pytest.TempPathFactory, target_db: tuple[Path, str],
                    target_redis: Any) -> Any:
    """A target of its own, so its log holds only what this module makes it write."""
    workdir = tmp_path_factory.mktemp("diagnosis-consumer")
    daphne = DaphneProcess(workdir, db=target_db[0], redis_url=target_redis.url,
                           name="daphne-diagnosis-consumer")
    daphne.start()
    try:
        yield Target(daphne=daphne, redis=target_redis, user_id=target_db[1])
    finally:
        daphne.stop()


async def make_consumer_raise(target: Target) -> None:
    """A client sends text that is not JSON: the runbook's JSON consumer raises in receive,
    Daphne logs 'Exception inside application' with the traceback and closes 1011."""
    url = f"{target.url}?token={target.token()}"
    async with websockets.connect(url, origin=target.origin) as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv())["type"] == "connection.ack"
        await ws.send("this is not json")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


async def until_healthy(target: Target, timeout: float = 15.0) -> None:
    """Until the service's own health view passes: after a consumer crashed, channels_redis
    can time out the view's smoke test for a few seconds (the receive loop the crashed
    consumer left behind), and this scenario is about a service that is otherwise healthy."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while (await client.get(f"{target.api_base}/api/redis-health/")).status_code != 200:
            assert time.monotonic() < deadline, "the target's /api/redis-health/ stays failing"
            await asyncio.sleep(0.2)


async def until_logged(path: Path, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} never reached {path}"
        await asyncio.sleep(0.05)


async def test_consumer_tracebacks_in_the_logs_while_handshakes_pass_is_consumer(
        consumer_target) -> None:  # noqa: ANN001
    await make_consumer_raise(consumer_target)
    await until_logged(consumer_target.daphne.log_path, "Exception inside application")
    await until_healthy(consumer_target)
    diagnosis, r = await once(**minted(consumer_target),
                              log_file=str(consumer_target.daphne.log_path))
    assert r["handshake-101"].status == "pass"
    assert r["stays-open"].status == "pass"
    assert r["consumer-errors"].status == "fail", r["consumer-errors"]
    assert diagnosis.layer == "consumer", (diagnosis, r["diagnostic-endpoints"].evidence)
    assert diagnosis.checks == ("consumer-errors",)
    assert "traceback" in diagnosis.remedy.lower()


async def test_consumer_closing_open_sockets_4500_is_consumer(misbehaving) -> None:  # noqa: ANN001
    diagnosis, r = await once(url=misbehaving.url("/101-close/4500"))
    assert r["handshake-101"].status == "pass"
    assert r["stays-open"].status == "fail" and "4500" in r["stays-open"].summary
    assert diagnosis.layer == "consumer", diagnosis
    assert "4500" in diagnosis.summary


# --- channel layer (from the logs), proxy -------------------------------------------------------


async def test_channels_redis_timeouts_in_the_logs_are_channel_layer(
        target, tmp_path: Path) -> None:  # noqa: ANN001
    # django/channels_redis#422: redis-py 8's 5 s socket_timeout races the 5 s BZPOPMIN.
    log = tmp_path / "service.log"
    # Logged just now (an event is judged at the time written in it: SPEC, JSON report).
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    log.write_text(
        f"{stamp},000 ERROR Exception inside application: Timeout reading from "
        "127.0.0.1:6379\nTraceback (most recent call last):\n"
        '  File "/app/venv/lib/python3.11/site-packages/channels_redis/core.py", line 389, in '
        "receive\n    message_channel, message = await self.receive_single(real_channel)\n"
        "redis.exceptions.TimeoutError: Timeout reading from 127.0.0.1:6379\n")
    diagnosis, r = await once(**minted(target), log_file=str(log))
    assert r["handshake-101"].status == "pass"
    assert r["consumer-errors"].status == "fail"
    assert diagnosis.layer == "channel-layer", diagnosis
    assert "socket_timeout" in diagnosis.remedy


async def test_504_is_proxy(misbehaving) -> None:  # noqa: ANN001
    diagnosis, r = await once(url=misbehaving.url("/status/504"))
    assert "gateway-timeout" in r["handshake-101"].summary
    assert diagnosis.layer == "proxy", diagnosis
    assert "504" in diagnosis.summary and "timed out" in diagnosis.summary


async def test_401_from_a_gateway_is_auth_at_the_gateway(misbehaving) -> None:  # noqa: ANN001
    diagnosis, r = await once(url=misbehaving.url("/status/401"))
    assert "unauthorized" in r["handshake-101"].summary
    assert diagnosis.layer == "auth", diagnosis
    assert "authoriser" in diagnosis.remedy or "authoriser" in diagnosis.summary


# --- unknown: the evidence cannot decide ---------------------------------------------------------


async def test_redis_unreachable_only_from_here_while_sockets_work_is_unknown(
        target, refused_port: int) -> None:  # noqa: ANN001
    # The ElastiCache case: wsmonitor cannot reach Redis, the service plainly can.
    diagnosis, r = await once(**minted(target),
                              redis_url=f"redis://127.0.0.1:{refused_port}/0")
    assert r["redis-reachable"].status == "fail"
    assert r["handshake-101"].status == "pass" and r["stays-open"].status == "pass"
    assert diagnosis.layer == "unknown", diagnosis
    assert "from here" in diagnosis.summary
    assert "REDIS_URL" in diagnosis.remedy


async def test_endpoint_and_redis_both_unreachable_is_unknown(refused_port: int,
                                                              unused_port: int) -> None:
    diagnosis, r = await once(url=f"ws://127.0.0.1:{refused_port}/ws/notifications/",
                              redis_url=f"redis://127.0.0.1:{unused_port}/0")
    assert "refused" in r["handshake-101"].summary
    assert r["redis-reachable"].status == "fail"
    assert diagnosis.layer == "unknown", diagnosis
    assert "wsmonitor's own network" in diagnosis.summary


# --- none, and it holds still --------------------------------------------------------------------


async def test_healthy_target_stays_none_over_cycles(target) -> None:  # noqa: ANN001
    watch = Watch(**minted(target), redis_url=target.redis.url + "?socket_timeout=10",
                  hold=0.3)
    try:
        for _ in range(3):
            diagnosis, r = await watch.cycle()
    finally:
        await watch.close()
    assert diagnosis.layer == "none", (diagnosis, {k: v.status for k, v in r.items()})
    # the first cycle has no command rate yet (unknown), then none every time after
    assert watch.raw[1:] == ["none", "none"], watch.raw
    assert watch.shown[1:] == ["none", "none"], watch.shown
