"""RedisProbe against real redis-server processes: every failure kind, from the real thing."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import pytest
import redis

from conftest import PASSWORD
from servers import RedisServer, hold_connections
from wsmonitor.plans import load_plans
from wsmonitor.probes.redis import CLIENT_NAME, MIN_INTERVAL, WARMUP_PINGS, RedisProbe, quiet_loop
from wsmonitor.samples import MIN_SAMPLES, LatencyStats, RedisSample

PLAN = load_plans()["none"]

Factory = Callable[..., RedisProbe]


@pytest.fixture
async def probe() -> AsyncIterator[Factory]:
    """Make probes; every one is closed at teardown."""
    made: list[RedisProbe] = []

    def make(url: str, **kwargs: object) -> RedisProbe:
        kwargs.setdefault("plan", PLAN)
        p = RedisProbe(url, **kwargs)  # type: ignore[arg-type]
        made.append(p)
        return p

    yield make
    for p in made:
        await p.close()


def named_clients(server: RedisServer) -> list[dict[str, str]]:
    """CLIENT LIST entries other than the connection asking."""
    with server.client() as c:
        me = c.client_id()
        return [e for e in c.client_list() if int(e["id"]) != me]


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def assert_ok_with_latency(sample: RedisSample, burst: int = 5) -> None:
    assert sample.ok, sample.error
    assert sample.error is None and sample.error_kind is None
    assert len(sample.latencies_ms) == burst
    assert all(v > 0 for v in sample.latencies_ms)
    assert sample.window is not None


# --- plain server ------------------------------------------------------------------------------


async def test_plain_server_ok_with_info(redis_server: RedisServer, probe: Factory) -> None:
    p = probe(redis_server.url)
    samples = [await p.run() for _ in range(3)]
    for s in samples:
        assert isinstance(s, RedisSample)
        assert_ok_with_latency(s)
        assert s.info_ok and not s.info_denied
        assert s.server == f"127.0.0.1:{redis_server.port}"
        assert s.tls is False
        assert s.reconnects == 0
        # Only the probe is connected to this fresh server.
        assert s.connected_clients == 1
        assert s.rejected_connections == 0
        assert s.redis_version and s.redis_version.startswith("7.")
    maxclients = int(redis_server.cli("CONFIG", "GET", "maxclients")["maxclients"])
    assert samples[-1].maxclients == maxclients
    w = samples[-1].window
    assert w is not None
    assert w.samples == 15
    assert 0 < w.p50 <= w.max
    assert w.p95 is None and w.p99 is None  # 15 pings: too few for either
    every = [v for s in samples for v in s.latencies_ms]
    assert w.max == pytest.approx(max(every), abs=1e-3)
    # The first INFO has nothing to compare with; later ones give a rate.
    assert samples[0].commands_per_second is None
    assert samples[1].commands_per_second is not None


async def test_one_named_connection_reused(redis_server: RedisServer, probe: Factory) -> None:
    p = probe(redis_server.url)
    assert (await p.run()).ok
    first = [e for e in named_clients(redis_server) if e["name"] == CLIENT_NAME]
    assert len(first) == 1
    assert (await p.run()).ok
    second = [e for e in named_clients(redis_server) if e["name"] == CLIENT_NAME]
    assert [e["id"] for e in second] == [e["id"] for e in first]
    await p.close()
    await wait_for(lambda: not any(e["name"] == CLIENT_NAME
                                   for e in named_clients(redis_server)))


async def test_own_commands_account_for_whole_rate_on_idle_server(
        redis_server: RedisServer, probe: Factory) -> None:
    p = probe(redis_server.url)
    samples = [await p.run() for _ in range(4)]
    assert all(s.ok and s.info_ok for s in samples)
    for prev, cur in zip(samples, samples[1:]):
        processed = cur.total_commands_processed - prev.total_commands_processed
        own = cur.own_commands_total - prev.own_commands_total
        # Exact: every command the server processed in between was one of the probe's.
        assert processed == own == p.commands_per_run
        assert cur.commands_per_second is not None and cur.commands_per_second > 0
        assert cur.own_commands_per_second == pytest.approx(cur.commands_per_second)
        assert cur.service_commands_per_second == pytest.approx(0.0, abs=1e-9)


async def test_service_rate_counts_other_clients(redis_server: RedisServer,
                                                 probe: Factory) -> None:
    n = 25
    with redis_server.client(protocol=2) as other:
        other.ping()  # connection set-up happens now, before the baseline
        p = probe(redis_server.url)
        base = await p.run()
        assert base.ok
        for i in range(n):
            other.incr("counter")
        after = await p.run()
    assert after.ok and after.commands_per_second is not None
    processed = after.total_commands_processed - base.total_commands_processed
    own = after.own_commands_total - base.own_commands_total
    assert processed - own == n
    service = after.service_commands_per_second
    assert service is not None and service > 0
    assert service == pytest.approx(after.commands_per_second * n / processed, rel=1e-6)


async def test_connect_cost_is_counted(redis_password: RedisServer, probe: Factory) -> None:
    """AUTH and CLIENT SETNAME are the probe's own commands too (SELECT for db != 0)."""
    url = redis_password.url.rsplit("/", 1)[0] + "/3"
    before = redis_password.info("stats")["total_commands_processed"]
    p = probe(url)
    s = await p.run()
    assert s.ok, s.error
    # AUTH + CLIENT SETNAME + SELECT, the untimed warm-up PING, 5 PINGs, and the INFO this
    # sample came from.
    assert WARMUP_PINGS == 1 and len(s.latencies_ms) == 5
    assert s.own_commands_total == 3 + WARMUP_PINGS + 5 + 1
    # An INFO reports the count before itself: the fixture's INFO that read `before`,
    # then the probe's 3 + 1 + 5 commands.
    assert s.total_commands_processed - before == 1 + 3 + WARMUP_PINGS + 5


# --- TLS ---------------------------------------------------------------------------------------


async def test_tls_with_right_ca(redis_tls: RedisServer, probe: Factory) -> None:
    p = probe(redis_tls.url, ca_file=redis_tls.ca_path)
    s = await p.run()
    assert_ok_with_latency(s)
    assert s.info_ok and s.tls is True
    assert s.server == f"127.0.0.1:{redis_tls.port}"


async def test_tls_with_wrong_ca(redis_tls: RedisServer, probe: Factory) -> None:
    p = probe(redis_tls.url, ca_file=redis_tls.other_ca_path)
    s = await p.run()
    assert not s.ok
    assert s.error_kind == "tls-verify"
    assert "certificate verify failed" in s.error
    assert s.latencies_ms == ()


async def test_tls_without_ca_uses_system_store_and_fails(redis_tls: RedisServer,
                                                          probe: Factory) -> None:
    s = await probe(redis_tls.url).run()
    assert not s.ok and s.error_kind == "tls-verify"


async def test_rediss_to_plain_port_waits_for_the_timeout(redis_server: RedisServer,
                                                          probe: Factory) -> None:
    # The plain server never answers a ClientHello: the TLS handshake waits for the connect
    # timeout and redis-py raises TimeoutError("Timeout connecting to server").
    url = f"rediss://127.0.0.1:{redis_server.port}/0"
    timeout = 0.5
    s = await probe(url, timeout=timeout).run()
    assert not s.ok
    assert s.error_kind == "timeout"
    assert "Timeout connecting to server" in s.error
    assert s.duration_ms >= timeout * 1000 * 0.9
    assert s.tls is True


async def test_redis_to_tls_port_is_reset(redis_tls: RedisServer, probe: Factory) -> None:
    url = f"redis://127.0.0.1:{redis_tls.port}/0"
    s = await probe(url, timeout=2).run()
    assert not s.ok
    assert s.error_kind == "reset"


# --- passwords ---------------------------------------------------------------------------------


def _password_forms() -> list[str]:
    return [PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)]


def assert_no_password(sample: RedisSample) -> None:
    text = str(sample.to_dict()) + repr(sample)
    for form in _password_forms():
        assert form not in text


async def test_password_url_encoded_ok(redis_password: RedisServer, probe: Factory) -> None:
    assert quote(PASSWORD, safe="") in redis_password.url
    p = probe(redis_password.url)
    s = await p.run()
    assert_ok_with_latency(s)
    assert s.info_ok
    assert_no_password(s)


async def test_wrong_password(redis_password: RedisServer, probe: Factory) -> None:
    url = f"redis://:{quote('not-' + PASSWORD, safe='')}@127.0.0.1:{redis_password.port}/0"
    s = await probe(url).run()
    assert not s.ok
    assert s.error_kind == "auth-wrong-password"
    assert s.latencies_ms == ()
    assert_no_password(s)
    assert "not-" not in s.error


async def test_no_password(redis_password: RedisServer, probe: Factory) -> None:
    s = await probe(f"redis://127.0.0.1:{redis_password.port}/0").run()
    assert not s.ok
    assert s.error_kind == "auth-no-password"


async def test_password_to_server_without_one(redis_server: RedisServer,
                                              probe: Factory) -> None:
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{redis_server.port}/0"
    s = await probe(url).run()
    assert not s.ok
    assert s.error_kind == "auth-unexpected"
    assert_no_password(s)


async def test_password_never_in_samples_or_errors(redis_password: RedisServer,
                                                   unused_port: int, probe: Factory) -> None:
    """Nothing registered: the probe itself must keep the password out of what it returns."""
    enc = quote(PASSWORD, safe="")
    urls = [
        redis_password.url,
        f"redis://:{enc}@127.0.0.1:{unused_port}/0",
        f"redis://:{enc}@nosuchhost.invalid:6379/0",
        f"rediss://:{enc}@127.0.0.1:{redis_password.port}/0",
    ]
    for url in urls:
        p = probe(url, timeout=0.5)
        s = await p.run()
        assert_no_password(s)
        assert PASSWORD not in p.server and enc not in p.server


# --- unreachable -------------------------------------------------------------------------------


async def test_refused(unused_port: int, probe: Factory) -> None:
    s = await probe(f"redis://127.0.0.1:{unused_port}/0", timeout=2).run()
    assert not s.ok
    assert s.error_kind == "refused"
    assert s.window is None


async def test_dns(probe: Factory) -> None:
    s = await probe("redis://nosuchhost.invalid:6379/0", timeout=2).run()
    assert not s.ok
    assert s.error_kind == "dns"
    assert s.server == "nosuchhost.invalid:6379"


async def test_paused_server_times_out_then_recovers(redis_server: RedisServer,
                                                     probe: Factory) -> None:
    p = probe(redis_server.url, timeout=0.5)
    assert (await p.run()).ok
    redis_server.pause()
    try:
        s = await p.run()
    finally:
        redis_server.resume()
    assert not s.ok and s.error_kind == "timeout"
    s = await p.run()
    assert s.ok, s.error
    assert s.reconnects == 1


# --- limits ------------------------------------------------------------------------------------


async def test_maxclients_reached(redis_maxclients: RedisServer, probe: Factory) -> None:
    held = hold_connections(redis_maxclients, 3)
    try:
        p = probe(redis_maxclients.url, timeout=2)
        s = await p.run()
        assert not s.ok
        assert s.error_kind == "max-clients"
        assert "max number of clients reached" in s.error
        held.pop().close()
        # The server notices the closed socket on its own time: read once it has.
        await wait_for(lambda: _rejected(redis_maxclients) is not None)
        assert _rejected(redis_maxclients) >= 1
        # With a slot free the probe gets in and reports the rejection itself.
        s = await p.run()
        assert s.ok, s.error
        assert s.maxclients == 3
        assert s.rejected_connections >= 1
        assert s.connected_clients == 3
    finally:
        for sock in held:
            sock.close()


def _rejected(server: RedisServer) -> int | None:
    try:
        return int(server.info("stats")["rejected_connections"])
    except redis.ConnectionError:
        return None


async def test_info_rejected_after_pings_counts_pings_once(make_redis: Callable[..., RedisServer],
                                                           probe: Factory) -> None:
    """INFO failing after the PING burst: the burst enters the window once, not twice.

    A keyspace section of 700 databases makes INFO's reply bigger than the 16 KB reply buffer,
    and a 1 KB output-buffer hard limit makes the server close the connection on it.
    """
    server = make_redis(extra_args=("--databases", "2000",
                                    "--client-output-buffer-limit", "normal 1024 0 0"))
    with server.client() as c:
        pipe = c.pipeline(transaction=False)
        for db in range(700):
            pipe.execute_command("SELECT", db)
            pipe.execute_command("SET", "k", "v")
        pipe.execute()
    s = await probe(server.url).run()
    assert not s.ok
    assert s.error_kind == "closed"
    assert len(s.latencies_ms) == 5
    assert s.window is not None and s.window.samples == 5


# --- ACL users ---------------------------------------------------------------------------------


async def test_acl_monitor_user(redis_server: RedisServer, acl_user: Callable[..., str],
                                probe: Factory) -> None:
    url = acl_user(redis_server, "monitor", "m0n:i/t@r")
    s = await probe(url).run()
    assert_ok_with_latency(s)
    assert s.info_ok and not s.info_denied
    mine = [e for e in named_clients(redis_server) if e["user"] == "monitor"]
    assert [e["name"] for e in mine] == [CLIENT_NAME]


async def test_acl_user_without_info(redis_server: RedisServer, acl_user: Callable[..., str],
                                     probe: Factory) -> None:
    url = acl_user(redis_server, "noinfo", "pw-noinfo")
    p = probe(url)
    for _ in range(2):
        s = await p.run()
        assert_ok_with_latency(s)
        assert s.info_denied and not s.info_ok
        assert s.connected_clients is None and s.commands_per_second is None
    assert s.window is not None and s.window.samples == 10
    assert s.reconnects == 0


async def test_acl_user_without_setname_connects_unnamed(
        redis_server: RedisServer, acl_user: Callable[..., str], probe: Factory) -> None:
    url = acl_user(redis_server, "noname", "pw-noname")
    p = probe(url)
    for _ in range(2):
        s = await p.run()
        assert_ok_with_latency(s)
        assert s.info_ok
    mine = [e for e in named_clients(redis_server) if e["user"] == "noname"]
    assert len(mine) == 1 and mine[0]["name"] == ""
    assert s.reconnects == 0


# --- restarts ----------------------------------------------------------------------------------


async def test_recovers_after_server_restart(redis_server: RedisServer, probe: Factory) -> None:
    p = probe(redis_server.url, timeout=1)
    assert (await p.run()).ok
    port = redis_server.port
    redis_server.kill()
    down = await p.run()
    assert not down.ok
    # The open connection sees EOF first; new connections are then refused.
    assert down.error_kind == "closed"
    down = await p.run()
    assert not down.ok and down.error_kind == "refused"
    redis_server.start()
    assert redis_server.port == port
    up = await p.run()
    assert up.ok, up.error
    assert up.reconnects == 1
    # The restarted server's counters start over: no rate until two INFOs on it.
    assert up.commands_per_second is None
    again = await p.run()
    assert again.ok and again.reconnects == 1 and again.commands_per_second is not None


# --- unix socket -------------------------------------------------------------------------------


async def test_unix_socket_with_password(make_redis: Callable[..., RedisServer],
                                         probe: Factory) -> None:
    # A socket path must fit in sun_path (108 bytes): pytest's tmp paths can be longer.
    directory = tempfile.mkdtemp(prefix="wsm-")
    sock = os.path.join(directory, "r.sock")
    try:
        make_redis(password=PASSWORD, extra_args=("--unixsocket", sock,
                                                  "--unixsocketperm", "700"))
        p = probe(f"unix://:{quote(PASSWORD, safe='')}@{sock}")
        s = await p.run()
        assert_ok_with_latency(s)
        assert s.server == sock
        assert_no_password(s)
    finally:
        if os.path.exists(sock):
            os.unlink(sock)
        os.rmdir(directory)


# --- budget (no server needed) -----------------------------------------------------------------


def test_interval_stretched_by_budget() -> None:
    plans = load_plans()
    free = RedisProbe("redis://127.0.0.1:6379/0", plan=plans["upstash-free-2024"],
                      budget_percent=5)
    # 10,000/day × 5 % = 500 commands a day; 6 commands a run.
    assert free.commands_per_run == 6
    assert free.budget_per_day == pytest.approx(500)
    assert free.interval(2) == pytest.approx(6 * 86_400 / 500)
    assert free.own_commands_per_day(2) == pytest.approx(500)
    none = RedisProbe("redis://127.0.0.1:6379/0", plan=plans["none"])
    assert none.budget_per_day is None
    assert none.interval(0.1) == MIN_INTERVAL
    assert none.interval(7) == 7
    monthly = RedisProbe("redis://127.0.0.1:6379/0", plan=plans["upstash-free"],
                         budget_percent=10)
    assert monthly.budget_per_day == pytest.approx(500_000 / 30 * 0.10)
    assert monthly.own_commands_per_day(2) <= monthly.budget_per_day + 1e-6


def test_probe_keeps_no_password_in_its_server_field() -> None:
    p = RedisProbe(f"redis://user:{quote(PASSWORD, safe='')}@10.0.0.1:6380/0", plan=PLAN)
    assert p.server == "10.0.0.1:6380"
    u = RedisProbe(f"unix://:{quote(PASSWORD, safe='')}@/run/redis.sock", plan=PLAN)
    assert u.server == "/run/redis.sock"


# --- latency fidelity ----------------------------------------------------------------------------

def test_percentiles_only_from_enough_samples() -> None:
    assert MIN_SAMPLES == {"p95": 20, "p99": 100}
    few = LatencyStats.of([float(i) for i in range(1, 16)])  # check's 3 runs of 5
    assert few is not None and few.samples == 15 and few.p50 == 8.0 and few.max == 15.0
    assert few.p95 is None and few.p99 is None
    assert few.shown("p95") == "n too small (n < 20)"
    assert few.shown("p99") == "n too small (n < 100)" and few.shown("p50") == "8.00"
    twenty = LatencyStats.of([float(i) for i in range(1, 21)])
    assert twenty is not None and twenty.p95 == 19.0 and twenty.p99 is None
    hundred = LatencyStats.of([float(i) for i in range(1, 101)])
    assert hundred is not None and (hundred.p95, hundred.p99) == (95.0, 99.0)
    nineteen = LatencyStats.of([float(i) for i in range(1, 20)])
    assert nineteen is not None and nineteen.p95 is None


async def test_quiet_loop_waits_while_the_loop_is_busy() -> None:
    done = asyncio.Event()

    async def starting_other_probes() -> None:
        # Set-up work that holds the loop (imports, TLS contexts), yielding between steps.
        for _ in range(6):
            time.sleep(0.03)
            await asyncio.sleep(0)
        done.set()

    task = asyncio.create_task(starting_other_probes())
    await asyncio.sleep(0)
    await quiet_loop(30.0)
    assert done.is_set()
    await task


async def test_burst_is_not_taken_while_other_probes_start(redis_server: RedisServer,
                                                           probe: Factory) -> None:
    """A PING timed while the loop runs another probe's set-up times the loop, not Redis."""
    p = probe(redis_server.url)
    p.quiet_max_wait = 30.0
    assert (await p.run()).ok  # connected and warm
    block = 0.05
    ended: list[float] = []

    async def starting_other_probes() -> None:
        for _ in range(6):
            time.sleep(block)
            await asyncio.sleep(0)
        ended.append(time.time())

    other = asyncio.create_task(starting_other_probes())
    s = await p.run()
    await other
    assert s.ok, s.error
    # The burst began after the set-up ended: its end less its round trips is no earlier.
    assert s.at - sum(s.latencies_ms) / 1000 >= ended[0]
    # And no round trip spans one of the set-up's blocks.
    assert max(s.latencies_ms) < block * 1000, s.latencies_ms
