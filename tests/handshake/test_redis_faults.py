"""Redis paused, stopped and restarted under a real target: what each probe sees.

Both consumers share one Redis of their own: the one FACTS.md measured (connect() exceptions
escape, Daphne answers 500) and the runbook's Fix 3 consumer (exceptions close 4500 before
accept, which Daphne turns into the same 403 as an auth rejection).
"""

from __future__ import annotations

import asyncio

from wsmonitor.probes.handshake import HandshakeSample, probe_handshake
from wsmonitor.probes.http import HttpProbe
from wsmonitor.tokens import TokenSource

from .processes import Target


async def attempt(target: Target, hold: float = 0.2, **kwargs: object) -> HandshakeSample:
    return await probe_handshake(target.url, origin=target.origin, token=target.token(),
                                 hold=hold, **kwargs)  # type: ignore[arg-type]


async def until_ok(target: Target, tries: int = 4) -> list[str]:
    """Classifications of attempts until the first ok (asserted to come)."""
    seen = []
    for _ in range(tries):
        s = await attempt(target)
        seen.append(s.classification)
        if s.ok:
            return seen
    raise AssertionError(f"no recovery: {seen}")


async def test_paused_redis_stalls_the_handshake(fragile) -> None:
    target = fragile.raising
    assert (await attempt(target)).ok
    health = HttpProbe("redis-health", target.api_base)
    fragile.redis.pause()
    try:
        stalled, health_sample = await asyncio.gather(attempt(target), health.run())
    finally:
        fragile.redis.resume()
        await health.close()
    # Autobahn's opening-handshake timeout drops the TCP connection at 4-5 s: no status line.
    assert stalled.classification == "connect-stalled", stalled.error
    assert 4.0 <= stalled.elapsed_s <= 6.5 and stalled.status is None
    assert health_sample.status == 500 and health_sample.error_kind == "server-error"
    assert health_sample.healthy is False and health_sample.value("status") == "error"
    assert (await until_ok(target))[-1] == "ok"


async def test_stopped_redis_then_restarted(fragile) -> None:
    target = fragile.raising
    assert (await attempt(target)).ok
    held = asyncio.create_task(attempt(target, hold=4.0))
    await asyncio.sleep(1.0)
    fragile.redis.stop()
    try:
        s = await held
        assert s.classification == "closed-after-accept", s.error
        assert (s.close_code, s.closed_by) == (1011, "server") and s.ack_received
        assert 1.0 <= s.closed_at_s < 3.0

        down = await attempt(target)
        assert down.classification == "server-error" and down.status == 500, down.error
        # The runbook's Fix 3 consumer turns the same failure into a 403 at once: on the wire
        # it looks like auth; the diagnostic endpoints and the held socket's 1011 tell.
        fix3 = await attempt(fragile.fix3)
        assert fix3.classification == "forbidden" and fix3.status == 403

        tokens = TokenSource(target.token())
        probes = [HttpProbe("redis-health", target.api_base),
                  HttpProbe("ws-diagnostic", target.api_base, tokens=tokens)]
        health, diag = await asyncio.gather(*(p.run() for p in probes))
        for p in probes:
            await p.close()
        assert health.status == 500 and health.healthy is False
        assert "connecting" in health.error
        assert diag.status == 200 and diag.error_kind == "unhealthy" and not diag.ok
        assert diag.value("redis_connected") is False and diag.value("redis_error")
    finally:
        fragile.redis.start(port=fragile.redis.port)
    # Right after Redis returns the first handshake may stall (FACTS), then it recovers.
    seen = await until_ok(target)
    assert set(seen[:-1]) <= {"connect-stalled", "server-error"}, seen
    assert (await attempt(fragile.fix3)).ok
