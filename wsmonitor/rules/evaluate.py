"""Every check of SPEC, in the runbook's order: the per-area rules put together.

Pure rules: samples in, check results out. No I/O, no Textual, no clock of its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from wsmonitor.rules.base import CHECKS, SKIPPED, WRITING_CHECKS, CheckContext, CheckResult, \
    not_probed
from wsmonitor.rules.browser import browser_websocket
from wsmonitor.rules.delivery import delivery_checks
from wsmonitor.rules.logs import consumer_errors, ended_categories, recent_error_times
from wsmonitor.rules.redis import redis_commands, redis_connections, redis_reachable, redis_url
from wsmonitor.rules.websocket import websocket_checks
from wsmonitor.samples import RedisSample, Sample


def evaluate(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
             now: float | None = None) -> list[CheckResult]:
    """Every check of SPEC, in the runbook's order.

    Args:
        ctx: Configuration facts.
        history: Samples per probe name, oldest first.
        now: The time to judge freshness against (``time.time()`` when None).
    """
    now = time.time() if now is None else now
    redis = [s for s in history.get("redis", ()) if isinstance(s, RedisSample)]
    results = {
        "redis-reachable": redis_reachable(ctx, redis, now, history),
        "redis-url": redis_url(ctx),
        "redis-connections": redis_connections(ctx, redis, now),
        "redis-commands": redis_commands(ctx, redis, now),
    }
    results.update(websocket_checks(ctx, history, now))
    results.update(delivery_checks(ctx, history, now))
    results["browser-websocket"] = browser_websocket(ctx, history, now)
    if ctx.logs_configured:
        logs = history.get("logs", ())
        ended = ended_categories(results, recent_error_times(logs, now), history)
        results["consumer-errors"] = consumer_errors(ctx, logs, now, ended)
    out = []
    for cid, _question in CHECKS:
        if cid in results:
            out.append(results[cid])
        elif ctx.kiosk and cid in WRITING_CHECKS:
            out.append(CheckResult(cid, SKIPPED, "writes to Redis: not run in kiosk mode"))
        else:
            out.append(not_probed(cid, ctx))
    return out
