"""The Redis checks: reachable, URL, connections and commands against the plan.

Pure rules: samples in, check results out. No I/O, no Textual, no clock of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wsmonitor.plans import DAYS_PER_MONTH, Plan
from wsmonitor.rules.base import FAIL, PASS, REMEDIES, SKIPPED, UNKNOWN, WARN, WARN_RATIO, \
    CheckContext, CheckResult, failing_streak, is_stale, sample_age, stale_result
from wsmonitor.samples import SECONDS_PER_DAY, RedisSample, Sample


def _service_view(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                  now: float) -> tuple[bool | None, str]:
    """Redis as the service sees it, from its /api/redis-health/: (healthy?, evidence)."""
    samples = history.get("http:redis-health", ())
    if not samples:
        return None, "from the service: /api/redis-health/ " + (
            "not probed yet" if ctx.http_configured else "not configured (give --url)")
    last = samples[-1]
    if is_stale(last, ctx, now):
        return None, f"from the service: /api/redis-health/ last answered {sample_age(last, now)}"
    status = getattr(last, "status", None)
    healthy = getattr(last, "healthy", None)
    if status is not None and status != 404 and healthy is not None:
        detail = "; ".join(f"{k}={v}" for k, v in getattr(last, "summary", ())[:3])
        return bool(healthy), (f"from the service: /api/redis-health/ {sample_age(last, now)}: "
                               f"{status} {detail}".rstrip())
    if status == 500:
        return False, f"from the service: /api/redis-health/ answered 500 {sample_age(last, now)}"
    return None, (f"from the service: /api/redis-health/ {sample_age(last, now)}: "
                  f"{last.error or status}")


def redis_reachable(ctx: CheckContext, redis: Sequence[RedisSample],
                    now: float, history: Mapping[str, Sequence[Sample]] | None = None,
                    ) -> CheckResult:
    cid = "redis-reachable"
    service_ok, service_ev = _service_view(ctx, history or {}, now)
    if service_ok is False:
        here = ""
        if redis and redis[-1].ok and not is_stale(redis[-1], ctx, now):
            here = " (reachable from here: the service's network path or REDIS_URL differs)"
        return CheckResult(
            cid, FAIL, f"the service cannot reach Redis{here}",
            (service_ev,) + ((f"redis probe {sample_age(redis[-1], now)}: "
                              f"{'PONG' if redis[-1].ok else redis[-1].error}",) if redis else ()),
            "Compare the service's REDIS_URL with the one that works from here; for "
            "ElastiCache check the VPC connector and security groups, for Upstash use rediss://.",
            (history or {}).get("http:redis-health", [None])[-1].at)  # type: ignore[union-attr]
    if not ctx.redis_configured:
        if service_ok:
            # `at`: when the service said so (an outage's logged errors older than that are
            # over, `ended_categories`).
            return CheckResult(cid, PASS, "the service reaches Redis", (service_ev,),
                               "give --redis-url to measure it from here too",
                               (history or {})["http:redis-health"][-1].at)
        return CheckResult(cid, SKIPPED, "not configured: give --redis-url (or REDIS_URL)")
    if not redis:
        return CheckResult(cid, UNKNOWN, "waiting for the first Redis sample")
    last = redis[-1]
    if is_stale(last, ctx, now):
        return stale_result(cid, last, now)
    failing = [s for s in redis[-10:] if not s.ok]
    if last.ok:
        w = last.window
        lat = (f"PONG, p50 {w.p50:.2f} ms, p95 {w.shown('p95')}, p99 {w.shown('p99')} over "
               f"{w.samples} pings") if w else "PONG"
        evidence = [f"redis probe {sample_age(last, now)}: {lat} from here ({last.server}"
                    f"{', TLS' if last.tls else ''})"]
        if failing:
            evidence.append(f"{len(failing)} of the last {min(10, len(redis))} runs failed "
                            f"(last: {failing[-1].error_kind})")
        evidence.append(service_ev)
        status = WARN if failing else PASS
        summary = "reachable from here" + (", with recent failures" if failing else "")
        return CheckResult(cid, status, summary, tuple(evidence), "" if status == PASS else
                           "Redis recovered from failures: watch for repeats.", last.at)
    kind = last.error_kind or "error"
    streak = failing_streak(redis)
    return CheckResult(
        cid, FAIL, f"unreachable from here: {kind}",
        (f"redis probe {sample_age(last, now)}: {last.error}",
         f"{streak} failed run(s) in a row"),
        REMEDIES.get(kind, "See the error: check REDIS_URL and that Redis is up."), last.at)


def redis_url(ctx: CheckContext) -> CheckResult:
    cid = "redis-url"
    if not ctx.redis_configured:
        return CheckResult(cid, SKIPPED, "not configured: give --redis-url (or REDIS_URL)")
    findings = ctx.redis_findings
    if not findings:
        return CheckResult(cid, PASS, "well formed", ("scheme, host, port, password encoding, "
                                                      "database and socket_timeout look right",))
    worst = findings[0].severity
    status = FAIL if worst in ("error", "fail") else WARN if worst == "warn" else PASS
    evidence = tuple(f"{f.severity}: {f.message}" for f in findings)
    remedy = " ".join(f"{f.fix}." if f.fix and not f.fix.endswith(".") else f.fix
                      for f in findings if f.fix)
    return CheckResult(cid, status, findings[0].message, evidence, remedy)


def _cap(ctx: CheckContext, last: RedisSample) -> tuple[int | None, str]:
    plan_cap = ctx.plan.max_connections.value
    if plan_cap is not None:
        src = ctx.plan.max_connections.source or ctx.plan.name
        return plan_cap, f"plan {ctx.plan.name} ({src})"
    if last.maxclients:
        return last.maxclients, "the server's maxclients"
    return None, ""


def redis_connections(ctx: CheckContext, redis: Sequence[RedisSample],
                      now: float) -> CheckResult:
    cid = "redis-connections"
    if not ctx.redis_configured:
        return CheckResult(cid, SKIPPED, "not configured: give --redis-url (or REDIS_URL)")
    if not redis:
        return CheckResult(cid, UNKNOWN, "waiting for the first Redis sample")
    last = redis[-1]
    if is_stale(last, ctx, now):
        return stale_result(cid, last, now)
    if last.error_kind in ("max-clients", "plan-connections"):
        return CheckResult(cid, FAIL, "connection cap reached: new connections are refused",
                           (f"redis probe {sample_age(last, now)}: {last.error}",),
                           REMEDIES[last.error_kind], last.at)
    with_info = [s for s in redis if s.info_ok]
    if not with_info:
        why = "the ACL user may not run INFO" if last.info_denied else \
            "no INFO answer yet" if last.ok else f"Redis unreachable ({last.error_kind})"
        return CheckResult(cid, UNKNOWN, f"no connection figures: {why}",
                           remedy=REMEDIES["acl-denied"] if last.info_denied else "")
    info = with_info[-1]
    cap, cap_src = _cap(ctx, info)
    clients = info.connected_clients or 0
    evidence = [f"INFO {sample_age(info, now)}: {clients} connected clients"
                + (f" of {cap} ({cap_src})" if cap else "")]
    rejected_new = _rejected_between(with_info[0], info)
    # Rejections are evidence while they go on: the last REJECTION_RUNS INFO intervals.
    # Older ones warn, so a cap hit once does not keep the check failed for the whole history.
    since = with_info[-1 - REJECTION_RUNS] if len(with_info) > REJECTION_RUNS else with_info[0]
    rejected_recent = _rejected_between(since, info)
    if info.rejected_connections:
        evidence.append(f"rejected_connections {info.rejected_connections} since the server "
                        f"started, {rejected_new} while watched, {rejected_recent} in the last "
                        f"{info.at - since.at:.0f} s")
    remedy = ("Find who holds connections (CLIENT LIST: each Daphne worker keeps a pool), "
              "restart leaking workers, or raise the cap / upgrade the plan.")
    if rejected_recent > 0:
        return CheckResult(cid, FAIL, f"{rejected_recent} connection(s) rejected in the last "
                           f"{max(1, round(info.at - since.at))} s", tuple(evidence), remedy,
                           info.at)
    if cap and clients >= cap:
        return CheckResult(cid, FAIL, f"{clients} connections: at the cap of {cap}",
                           tuple(evidence), remedy, info.at)
    if cap and clients >= WARN_RATIO * cap:
        return CheckResult(cid, WARN, f"{clients} of {cap} connections ({clients / cap:.0%})",
                           tuple(evidence), remedy, info.at)
    if rejected_new > 0:
        last_rise = next((b for a, b in zip(reversed(with_info[:-1]), reversed(with_info))
                          if _rejected_between(a, b) > 0), info)
        return CheckResult(cid, WARN, f"{clients} connections; {rejected_new} rejected while "
                           f"watched, the last {sample_age(last_rise, now)}", tuple(evidence),
                           "The cap was hit and is not now: watch whether it repeats. " + remedy,
                           info.at)
    if info.rejected_connections:
        return CheckResult(cid, WARN, f"{clients} connections; rejections in the past",
                           tuple(evidence), "Rejections happened before wsmonitor watched: "
                           "the cap was hit once; watch whether it repeats.", info.at)
    noun = "connection" if clients == 1 else "connections"
    summary = f"{clients} {noun}" + (f" of {cap} ({clients / cap:.0%})" if cap else "")
    return CheckResult(cid, PASS, summary, tuple(evidence), "", info.at)


REJECTION_RUNS = 2
"""INFO intervals over which rejected connections fail redis-connections (older ones warn)."""


def _rejected_between(a: RedisSample, b: RedisSample) -> int:
    if a.rejected_connections is None or b.rejected_connections is None:
        return 0
    return max(0, b.rejected_connections - a.rejected_connections)


def command_rate(redis: Sequence[RedisSample], window: int = 10) -> tuple[float, float] | None:
    """Mean total and own command rates over the recent samples that have one."""
    rated = [s for s in redis[-window:] if s.commands_per_second is not None]
    if not rated:
        return None
    total = sum(s.commands_per_second or 0.0 for s in rated) / len(rated)
    own = sum(s.own_commands_per_second or 0.0 for s in rated) / len(rated)
    return total, own


def redis_commands(ctx: CheckContext, redis: Sequence[RedisSample], now: float) -> CheckResult:
    cid = "redis-commands"
    if not ctx.redis_configured:
        return CheckResult(cid, SKIPPED, "not configured: give --redis-url (or REDIS_URL)")
    if not redis:
        return CheckResult(cid, UNKNOWN, "waiting for the first Redis sample")
    last = redis[-1]
    if is_stale(last, ctx, now):
        return stale_result(cid, last, now)
    plan = ctx.plan
    if last.error_kind == "plan-quota":
        return CheckResult(cid, FAIL, "the plan's command quota is exhausted",
                           (f"redis probe {sample_age(last, now)}: {last.error}",),
                           REMEDIES["plan-quota"], last.at)
    rates = command_rate(redis)
    if rates is None:
        why = "the ACL user may not run INFO" if last.info_denied else \
            "two INFO samples are needed for a rate"
        return CheckResult(cid, UNKNOWN, f"no command rate yet: {why}")
    total, own = rates
    service = max(0.0, total - own)
    # The monitor's steady spend at its interval, not the burst it made while being measured.
    own_day = ctx.own_commands_per_day if ctx.own_commands_per_day is not None \
        else own * SECONDS_PER_DAY
    per_day = service * SECONDS_PER_DAY + own_day
    evidence = [f"INFO: the service {service:.2f} commands/s → "
                f"{big(service * SECONDS_PER_DAY)}/day",
                f"wsmonitor itself: {big(own_day)}/day at its interval "
                f"({own:.2f}/s while measured)",
                f"projected in all: {big(per_day)}/day, {big(per_day * DAYS_PER_MONTH)}/month"]
    if ctx.redis_budget_per_day:
        evidence.append(f"wsmonitor's budget: {big(ctx.redis_budget_per_day)}/day")
    quota = plan.daily_quota
    if quota is None:
        return CheckResult(cid, PASS, f"{big(per_day)} commands/day projected; "
                           f"plan {plan.name} has no quota", tuple(evidence), "", last.at)
    ratio = per_day / quota
    evidence.append(f"plan {plan.name}: {plan.quota_text} "
                    f"({_source(plan)}) — projected {ratio:.0%} of it")
    remedy = ("Each idle channels_redis worker spends ~2 commands per 5 s (~1M/month): fewer "
              "workers, a pay-as-you-go or larger plan, or lower --redis-budget for wsmonitor.")
    if ratio >= 1:
        return CheckResult(cid, FAIL, f"projected {ratio:.0%} of the {plan.quota_text} quota",
                           tuple(evidence), remedy, last.at)
    if ratio >= WARN_RATIO:
        return CheckResult(cid, WARN, f"projected {ratio:.0%} of the {plan.quota_text} quota",
                           tuple(evidence), remedy, last.at)
    return CheckResult(cid, PASS, f"projected {ratio:.0%} of the {plan.quota_text} quota",
                       tuple(evidence), "", last.at)


def _source(plan: Plan) -> str:
    fig = plan.commands_per_day if plan.commands_per_day.value is not None \
        else plan.commands_per_month
    return f"as of {fig.as_of}, {fig.source}" if fig.as_of else fig.source or "given"


def big(n: float | None) -> str:
    """``1,234``, ``56.7k``, ``1.23M``: a count for a person."""
    if n is None:
        return "—"
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e4:
        return f"{n / 1e3:.1f}k"
    return f"{n:,.0f}"
