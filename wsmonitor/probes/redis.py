"""The Redis probe: one dedicated connection, PING bursts for latency, INFO for load.

I/O only: no Textual here. Failures come back as samples with a named ``error_kind``.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from wsmonitor.probes._errors import exception_chain
from wsmonitor.plans import Plan
from wsmonitor.redis_url import parse_redis_url
# SECONDS_PER_DAY and ERROR_TEXT live beside RedisSample (the rules read them); re-exported.
from wsmonitor.samples import REDIS_ERROR_TEXT as ERROR_TEXT
from wsmonitor.samples import SECONDS_PER_DAY, LatencyStats, RedisSample
from wsmonitor.secrets import redact

CLIENT_NAME = "wsmonitor"
"""The name the probe's connection carries in CLIENT LIST."""

MIN_INTERVAL = 2.0
"""Without a quota the probe runs every 2 s (or the base interval, if longer)."""

WARMUP_INTERVAL = 10.0
"""Under a budget, the second run comes this soon so a command rate is known early."""

WARMUP_PINGS = 1
"""Untimed PINGs on each fresh connection: the first round trips on a new connection run
cold code (connection set-up, the parser's first use) and are not Redis's latency."""

QUIET_STEP = 0.002
"""Seconds of each event-loop probe sleep while waiting for a quiet loop before a burst."""
QUIET_LATE = 0.001
"""A probe sleep that returns later than this is a busy loop (another probe's set-up, an
import): a PING timed then would time the loop, not Redis."""
QUIET_ROUNDS = 3
"""Punctual probe sleeps in a row that make the loop quiet."""
QUIET_MAX_WAIT = 0.5
"""Most seconds a burst waits for a quiet loop (then it is taken anyway)."""

UPSTASH_ERRORS = {
    "max concurrent connections exceeded": "plan-connections",
    "max daily request limit exceeded": "plan-quota",
    "max requests limit exceeded": "plan-quota",
}
"""Upstash's plan-limit error strings (FACTS.md) and the kind each one is."""

@dataclass(frozen=True, slots=True)
class RedisError:
    """A Redis failure, named."""

    kind: str
    message: str


def classify_redis_error(exc: BaseException) -> RedisError:
    """Name a redis-py / socket / TLS failure for a person.

    Args:
        exc: The exception a Redis call raised.

    Returns:
        The kind (one of `ERROR_TEXT`'s keys) and a redacted message.
    """
    chain = exception_chain(exc)
    text = " | ".join(str(e) for e in chain)
    low = text.lower()
    for needle, kind in UPSTASH_ERRORS.items():
        if needle in low:
            return RedisError(kind, _msg(kind, exc))
    if "max number of clients reached" in low:
        return RedisError("max-clients", _msg("max-clients", exc))
    if any(isinstance(e, rexc.NoPermissionError) for e in chain) or "noperm" in low:
        return RedisError("acl-denied", _msg("acl-denied", exc))
    if any(isinstance(e, rexc.AuthenticationError) for e in chain) or "wrongpass" in low \
            or "noauth" in low or "authentication required" in low or "invalid password" in low:
        if "without any password configured" in low:
            return RedisError("auth-unexpected", _msg("auth-unexpected", exc))
        if "noauth" in low or "authentication required" in low:
            return RedisError("auth-no-password", _msg("auth-no-password", exc))
        return RedisError("auth-wrong-password", _msg("auth-wrong-password", exc))
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) \
            or "certificate verify failed" in low:
        return RedisError("tls-verify", _msg("tls-verify", exc))
    if any(isinstance(e, ssl.SSLError) for e in chain) or "ssl" in low and "error" in low:
        return RedisError("tls", _msg("tls", exc))
    if any(isinstance(e, socket.gaierror) for e in chain) or "name or service not known" in low \
            or "temporary failure in name resolution" in low or "nodename nor servname" in low \
            or "no address associated" in low:
        return RedisError("dns", _msg("dns", exc))
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in low \
            or any(getattr(e, "errno", None) == errno.ECONNREFUSED for e in chain):
        return RedisError("refused", _msg("refused", exc))
    if any(isinstance(e, ConnectionResetError) for e in chain) or "reset by peer" in low:
        return RedisError("reset", _msg("reset", exc))
    if any(isinstance(e, (TimeoutError, rexc.TimeoutError)) for e in chain) or "timeout" in low \
            or "timed out" in low:
        return RedisError("timeout", _msg("timeout", exc))
    if "connection closed" in low or "closed by server" in low:
        return RedisError("closed", _msg("closed", exc))
    return RedisError("error", _msg("error", exc))


def _msg(kind: str, exc: BaseException) -> str:
    detail = redact(str(exc)).strip() or type(exc).__name__
    return f"{ERROR_TEXT[kind]} ({detail})"


class RedisProbe:
    """Measures Redis from here, on one named connection, within a command budget.

    Args:
        url: The REDIS_URL (its password never leaves this object).
        plan: The plan whose quota the budget is a share of.
        budget_percent: Share of the plan's daily quota the probe may spend.
        ca_file: CA bundle for ``rediss://``.
        burst: PINGs per run.
        window: Round trips kept for the percentiles.
        timeout: Connect and read timeout for each command, seconds.
    """

    name = "redis"

    def __init__(self, url: str, *, plan: Plan, budget_percent: float = 5.0,
                 ca_file: str | None = None, burst: int = 5, window: int = 200,
                 timeout: float = 3.0) -> None:
        self._url = url
        self.plan = plan
        self.budget_percent = budget_percent
        self.ca_file = ca_file
        self.burst = burst
        self.min_interval = MIN_INTERVAL
        """Least seconds between runs (a time-compressed soak lowers it)."""
        self.command_timeout = timeout
        self.timeout = timeout * (burst + 3) + 2
        parsed = parse_redis_url(url)
        self.server = parsed.path if parsed.scheme == "unix" else \
            f"{parsed.host}:{parsed.port or 6379}"
        self.tls = parsed.tls
        self._db = int(parsed.db) if parsed.db.isdigit() else 0
        self._has_password = bool(parsed.password or parsed.username)
        self._window: deque[float] = deque(maxlen=window)
        self.quiet_max_wait = QUIET_MAX_WAIT
        """Most seconds a burst waits for a quiet event loop (0: never waits)."""
        self._client: aioredis.Redis | None = None
        self._name_denied = False
        self.own_commands = 0
        """Commands this probe has sent, connection set-up included."""
        self._other_own: list[Callable[[], int]] = []
        self.reconnects = 0
        self._connects = 0
        self._info_samples = 0
        """INFO answers received so far."""
        self._last_info: tuple[float, int, int] | None = None
        """(monotonic time, total_commands_processed, own commands before that INFO)."""

    def add_own_commands_source(self, count: Callable[[], int]) -> None:
        """Count another probe's commands to this Redis as the monitor's own."""
        self._other_own.append(count)

    @property
    def monitor_commands(self) -> int:
        """Every command wsmonitor has sent to this Redis (this probe's and the others')."""
        return self.own_commands + sum(count() for count in self._other_own)

    # --- budget ------------------------------------------------------------------------------

    @property
    def commands_per_run(self) -> int:
        """Commands one run sends: the PING burst and one INFO."""
        return self.burst + 1

    @property
    def budget_per_day(self) -> float | None:
        """Commands per day the monitor may spend (None without a quota)."""
        quota = self.plan.daily_quota
        return None if quota is None else quota * self.budget_percent / 100

    def steady_interval(self, base: float) -> float:
        """Seconds between runs: the base, stretched so the budget is never exceeded."""
        interval = max(base, self.min_interval)
        budget = self.budget_per_day
        if budget:
            interval = max(interval, self.commands_per_run * SECONDS_PER_DAY / budget)
        return interval

    @property
    def warming_up(self) -> bool:
        """One INFO so far: the next run comes early so a command rate is known."""
        return self._info_samples == 1

    def interval(self, base: float) -> float:
        """The wait before the next run (the steady interval, or the warm-up gap once)."""
        steady = self.steady_interval(base)
        if self.warming_up and self.budget_per_day:
            # A rate needs two INFOs: take the second soon, once, instead of after the
            # budgeted wait (costs one extra run per start).
            return min(steady, max(base, self.min_interval, WARMUP_INTERVAL))
        return steady

    def own_commands_per_day(self, base: float) -> float:
        """The monitor's projected spend per day at its steady interval."""
        return self.commands_per_run * SECONDS_PER_DAY / self.steady_interval(base)

    def describe(self, base: float) -> dict[str, object]:
        """What a recording needs to show this probe again (no secret in it)."""
        return {"server": self.server, "tls": self.tls, "commands_per_run": self.commands_per_run,
                "budget_per_day": self.budget_per_day, "budget_percent": self.budget_percent,
                "steady_interval": self.steady_interval(base), "timeout": self.timeout}

    # --- connection --------------------------------------------------------------------------

    def _make_client(self) -> aioredis.Redis:
        kwargs: dict[str, object] = dict(
            single_connection_client=True,
            client_name=None if self._name_denied else CLIENT_NAME,
            socket_connect_timeout=self.command_timeout,
            socket_timeout=self.command_timeout,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
            driver_info=None,
        )
        if self.tls and self.ca_file:
            kwargs["ssl_ca_certs"] = self.ca_file
        return aioredis.Redis.from_url(self._url, **kwargs)

    def _connect_cost(self) -> int:
        return int(self._has_password) + int(not self._name_denied) + int(self._db != 0)

    async def _ensure_client(self) -> aioredis.Redis:
        if self._client is not None:
            return self._client
        client = self._make_client()
        try:
            # single_connection_client: the connection is made here, once.
            self.own_commands += self._connect_cost()
            await client.initialize()
            for _ in range(WARMUP_PINGS):
                # Warm-up, untimed: the new connection's first round trips run cold code.
                self.own_commands += 1
                await client.ping()
        except rexc.NoPermissionError:
            await _close_quietly(client)
            if self._name_denied:
                raise
            # An ACL user without client|setname: connect unnamed rather than not at all.
            self._name_denied = True
            return await self._ensure_client()
        except BaseException:
            await _close_quietly(client)
            raise
        self._connects += 1
        if self._connects > 1:
            self.reconnects += 1
        self._client = client
        return client

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await _close_quietly(client)

    async def close(self) -> None:
        """Close the connection."""
        await self._drop_client()

    # --- one run -----------------------------------------------------------------------------

    async def run(self) -> RedisSample:
        """PING burst, then INFO; any failure becomes a sample naming it."""
        started = time.perf_counter()
        latencies: list[float] = []
        windowed = False
        try:
            client = await self._ensure_client()
            await quiet_loop(self.quiet_max_wait)
            for _ in range(self.burst):
                self.own_commands += 1
                t0 = time.perf_counter_ns()
                await client.ping()
                latencies.append((time.perf_counter_ns() - t0) / 1e6)
            self._window.extend(latencies)
            windowed = True
            return await self._info(client, latencies, started)
        except asyncio.CancelledError:
            await self._drop_client()
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is data
            await self._drop_client()
            self._last_info = None
            err = classify_redis_error(exc)
            if not windowed:
                # PINGs that answered before the failure still count; never twice.
                self._window.extend(latencies)
            return self._sample(False, started, latencies, error=err.message,
                                error_kind=err.kind)

    async def _info(self, client: aioredis.Redis, latencies: list[float],
                    started: float) -> RedisSample:
        own_before = self.monitor_commands
        self.own_commands += 1
        try:
            info = await client.info()
        except rexc.NoPermissionError:
            return self._sample(True, started, latencies, info_denied=True)
        except rexc.ResponseError as exc:
            err = classify_redis_error(exc)
            if err.kind in ("plan-quota", "plan-connections", "max-clients"):
                raise
            # Some managed Redis variants reject INFO: latency only.
            return self._sample(True, started, latencies, info_denied=True,
                                error=err.message, error_kind=None)
        now = time.monotonic()
        total = _int(info.get("total_commands_processed"))
        rate = own_rate = None
        if total is not None and self._last_info is not None:
            t_prev, total_prev, own_prev = self._last_info
            dt = now - t_prev
            if dt > 0 and total >= total_prev:
                rate = (total - total_prev) / dt
                own_rate = (own_before - own_prev) / dt
        if total is not None:
            self._last_info = (now, total, own_before)
        self._info_samples += 1
        return self._sample(
            True, started, latencies, info_ok=True,
            connected_clients=_int(info.get("connected_clients")),
            maxclients=_int(info.get("maxclients")),
            rejected_connections=_int(info.get("rejected_connections")),
            total_commands_processed=total,
            redis_version=str(info.get("redis_version", "")) or None,
            commands_per_second=rate, own_commands_per_second=own_rate,
        )

    def _sample(self, ok: bool, started: float, latencies: list[float],
                **fields: object) -> RedisSample:
        return RedisSample(
            probe=self.name, at=time.time(), ok=ok,
            duration_ms=(time.perf_counter() - started) * 1000,
            latencies_ms=tuple(round(v, 4) for v in latencies),
            window=LatencyStats.of(list(self._window)),
            own_commands_total=self.monitor_commands, reconnects=self.reconnects,
            server=self.server, tls=self.tls,
            **fields,  # type: ignore[arg-type]
        )


async def quiet_loop(max_wait: float = QUIET_MAX_WAIT) -> float:
    """Wait (up to `max_wait` seconds) until the event loop is quiet: `QUIET_ROUNDS` short
    sleeps in a row each back within `QUIET_LATE` of their due time. A PING's round trip is
    timed from the coroutine, so it includes every callback the loop runs before resuming it:
    while other probes start (imports, TLS contexts, their first connections) that is the
    loop's latency, not Redis's. Returns the seconds waited."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    punctual = 0
    while punctual < QUIET_ROUNDS and loop.time() - start < max_wait:
        due = loop.time() + QUIET_STEP
        await asyncio.sleep(QUIET_STEP)
        punctual = punctual + 1 if loop.time() - due <= QUIET_LATE else 0
    return loop.time() - start


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


async def _close_quietly(client: aioredis.Redis) -> None:
    try:
        await asyncio.wait_for(client.aclose(), 2)
    except Exception:  # noqa: BLE001
        pass
