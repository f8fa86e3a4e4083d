"""Pure rules: samples in, check results out. No I/O, no Textual, no clock of its own."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wsmonitor.log_samples import LogEvent, LogsSample
from wsmonitor.plans import DAYS_PER_MONTH, Plan
from wsmonitor.samples import SECONDS_PER_DAY
from wsmonitor.redis_url import Finding
from wsmonitor.samples import RedisSample, Sample

PASS, FAIL, WARN, UNKNOWN, SKIPPED = "pass", "fail", "warn", "unknown", "skipped"
STATUSES = (PASS, FAIL, WARN, UNKNOWN, SKIPPED)

CHECKS: tuple[tuple[str, str], ...] = (
    ("platform-websocket", "Does the platform pass the WebSocket upgrade at all?"),
    ("redis-reachable", "Is Redis reachable, from here and from the service?"),
    ("redis-url", "Is REDIS_URL well formed?"),
    ("allowed-hosts", "Does the right Origin get through AllowedHostsOriginValidator?"),
    ("jwt-valid", "Is the token well formed, an access token, unexpired?"),
    ("handshake-101", "Does the handshake return 101 Switching Protocols?"),
    ("stays-open", "Does the connection stay open for the hold period?"),
    ("ping-pong", "Do ping/pong work?"),
    ("notification-delivery", "Does a notification sent through the channel layer arrive?"),
    ("polling-fallback", "Does the HTTP polling fallback answer?"),
    ("redis-connections", "Are Redis connections below the plan's cap, none rejected?"),
    ("redis-commands", "Is the projected command rate within the plan's quota?"),
    ("channel-layer", "Does a channel-layer send/receive round trip work?"),
    ("consumer-errors", "Are the service logs free of consumer errors?"),
    ("diagnostic-endpoints", "Do /api/redis-health/ and /api/ws-diagnostic/ report healthy?"),
    ("browser-websocket", "Does a real browser, loading the frontend page, open the WebSocket?"),
)
"""Every check id of SPEC, in the runbook's order, with the runbook's question."""

CHECK_IDS = tuple(cid for cid, _ in CHECKS)

WRITING_CHECKS = frozenset({"notification-delivery", "channel-layer"})
"""Checks that write to Redis: skipped in kiosk mode."""

WARN_RATIO = 0.8
"""Usage at or above this share of a limit is a warning."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict on one runbook question."""

    id: str
    status: str
    summary: str
    evidence: tuple[str, ...] = ()
    remedy: str = ""
    at: float | None = None
    """When the newest evidence was observed."""

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "status": self.status, "summary": self.summary,
                "evidence": list(self.evidence), "remedy": self.remedy, "at": self.at}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The one verdict above the checks."""

    layer: str
    summary: str
    remedy: str
    checks: tuple[str, ...] = ()
    confidence: str = "confirmed"
    """``confirmed`` (the evidence names the layer) or ``likely`` (it points there without
    proof; the summary says what would confirm it)."""

    def to_dict(self) -> dict[str, object]:
        return {"layer": self.layer, "confidence": self.confidence, "summary": self.summary,
                "remedy": self.remedy, "checks": list(self.checks)}


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What is known of the probe token — never the token itself."""

    source: str
    """``given`` (--token) or ``minted`` (--jwt-secret)."""
    token_type: str | None = None
    user_id: str | None = None
    exp: float | None = None
    has_jti: bool = False
    verified: bool | None = None
    """True: signature checked with the key; False: the key does not match; None: no key."""
    error: str | None = None
    error_kind: str | None = None


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What the rules need to know besides samples (no secrets in here)."""

    plan: Plan
    redis_configured: bool = False
    redis_findings: tuple[Finding, ...] = ()
    kiosk: bool = False
    url_configured: bool = False
    http_configured: bool = False
    logs_configured: bool = False
    stale_after: float = 60.0
    """Evidence older than this (seconds) no longer counts as a pass, unless the probe has its
    own figure in `stale_by_probe`."""
    stale_by_probe: Mapping[str, float] = field(default_factory=dict)
    redis_budget_per_day: float | None = None
    own_commands_per_day: float | None = None
    token: TokenFacts | None = None
    url_host: str | None = None
    hold: float = 30.0
    extra: Mapping[str, object] = field(default_factory=dict)


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
    from wsmonitor.checks_ws import websocket_checks

    results.update(websocket_checks(ctx, history, now))
    from wsmonitor.checks_delivery import delivery_checks

    results.update(delivery_checks(ctx, history, now))
    from wsmonitor.checks_browser import browser_websocket

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
            out.append(_not_probed(cid, ctx))
    return out


def _not_probed(cid: str, ctx: CheckContext) -> CheckResult:
    needs = {
        "consumer-errors": (ctx.logs_configured, "--log-group, --apprunner-service or --log-file"),
    }.get(cid, (ctx.url_configured, "--url"))
    configured, flag = needs
    if not configured:
        return CheckResult(cid, SKIPPED, f"not configured: give {flag}")
    return CheckResult(cid, SKIPPED, "no probe for this in this version of wsmonitor yet")


def stale_limit(ctx: CheckContext, probe: str) -> float:
    """Seconds after which a probe's evidence no longer counts."""
    return ctx.stale_by_probe.get(probe, ctx.stale_after)


def _stale(sample: Sample, ctx: CheckContext, now: float) -> bool:
    return now - sample.at > stale_limit(ctx, sample.probe)


def failing_streak(samples: Sequence[Sample]) -> int:
    """How many of the newest samples in a row failed."""
    streak = 0
    for s in reversed(samples):
        if s.ok:
            break
        streak += 1
    return streak


def sample_age(sample: Sample, now: float) -> str:
    """``12 s ago``: how old a sample is, for evidence lines."""
    return f"{max(0.0, now - sample.at):.0f} s ago"




def stale_result(cid: str, sample: Sample, now: float, what: str | None = None) -> CheckResult:
    """UNKNOWN: the newest evidence is too old (`what` names it: ``round trip`` …)."""
    age = sample_age(sample, now)
    return CheckResult(cid, UNKNOWN, f"evidence is stale: last {what or sample.probe + ' sample'} "
                       f"{age}", (f"{sample.probe} probe: last {what or 'sample'} {age}",),
                       "check that wsmonitor is not paused and its probes still run", sample.at)


REMEDIES = {
    "refused": "Nothing listens there: check the host and port in REDIS_URL, that Redis is "
               "running, and (ElastiCache) the security group and VPC connector.",
    "dns": "The host name does not resolve: copy the endpoint again from the provider's "
           "console; ElastiCache names resolve only inside the VPC.",
    "timeout": "No answer: a firewall or security group drops the traffic, or rediss:// points at "
               "a plain port (or redis:// at a TLS port).",
    "tls-verify": "The certificate is not trusted: give the CA bundle with --redis-ca "
                  "(ssl_ca_certs= for the service) — do not turn verification off.",
    "tls": "TLS failed: check rediss:// against the port's TLS setting.",
    "reset": "The server reset the connection: Upstash and TLS-only ports need rediss://.",
    "auth-wrong-password": "Wrong password: copy it again from the provider's console and "
                           "URL-encode it (urllib.parse.quote(password, safe='')).",
    "auth-no-password": "The server needs a password: add it to REDIS_URL "
                        "(rediss://default:PASSWORD@host:6379/0).",
    "auth-unexpected": "A password was given to a server without one: is REDIS_URL pointing at "
                       "the right server?",
    "max-clients": "The server is at maxclients: find who holds connections (CLIENT LIST), "
                   "restart leaking workers, or raise maxclients / the plan.",
    "plan-connections": "The plan's connection limit is reached: reduce connections per worker "
                        "or upgrade the plan.",
    "plan-quota": "The plan's command quota is exhausted: every idle channels_redis worker "
                  "spends ~1M commands a month; upgrade the plan or move to pay-as-you-go.",
    "acl-denied": "The ACL user lacks a command the probe needs: grant +ping +info "
                  "+client|list +hello +auth +config|get.",
    "probe-timeout": "Redis did not answer within the probe's timeout: see latency and the "
                     "server's load.",
}


def _service_view(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                  now: float) -> tuple[bool | None, str]:
    """Redis as the service sees it, from its /api/redis-health/: (healthy?, evidence)."""
    samples = history.get("http:redis-health", ())
    if not samples:
        return None, "from the service: /api/redis-health/ " + (
            "not probed yet" if ctx.http_configured else "not configured (give --url)")
    last = samples[-1]
    if _stale(last, ctx, now):
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
        if redis and redis[-1].ok and not _stale(redis[-1], ctx, now):
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
    if _stale(last, ctx, now):
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
    if _stale(last, ctx, now):
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
    if _stale(last, ctx, now):
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


def diagnose(results: Sequence[CheckResult], variants: Mapping[str, Sample] | None = None,
             *, app_runner: bool = False, service_down: bool = False,
             log_categories: Mapping[str, int] | None = None,
             signals: object = None, platform: object = None) -> Diagnosis:
    """The layer most likely broken (see `wsmonitor.diagnosis`)."""
    from wsmonitor.diagnosis import diagnose as _diagnose

    return _diagnose(results, variants, app_runner=app_runner,  # type: ignore[arg-type]
                     service_down=service_down, log_categories=log_categories,
                     signals=signals, platform=platform)  # type: ignore[arg-type]


LOG_REMEDY = {
    "plan-quota": "The service hits the Redis plan's quota: see redis-commands.",
    "max-clients": "The service cannot open Redis connections: see redis-connections.",
    "redis-error": "The service loses Redis: see redis-reachable.",
    "channels-timeout": "redis-py 8's 5 s socket_timeout races channels_redis's 5 s BZPOPMIN: set "
                        "socket_timeout above 5 s in REDIS_URL / CHANNEL_LAYERS.",
    "auth-rejected": "Sockets are rejected as anonymous: see jwt-valid.",
    "ws-reject": "Daphne rejects handshakes: see allowed-hosts and jwt-valid.",
    "exception-in-app": "A consumer raises: read the traceback (Enter on the logs pane's line).",
    "traceback": "A consumer raises: read the traceback.",
    "connect-error": "connect() fails: read the logged exception (often group_add on Redis).",
}
"""What to do per log category (the most frequent cause, an event's first category, decides
the remedy)."""


def consumer_errors(ctx: CheckContext, logs: Sequence[Sample], now: float,
                    ended: Mapping[str, tuple[str, ...]] | None = None) -> CheckResult:
    """Are the service logs free of consumer errors (over the probe's window)?

    Errors of the `ended` categories (`ended_categories`: an outage the Redis checks have
    since seen end, or errors logged before wsmonitor started of a category whose end the
    checks see now) warn instead of failing, so the window does not keep a layer named after
    the fault is gone; any newer error fails again.
    """
    ended = ended or {}
    cid = "consumer-errors"
    samples = [s for s in logs if isinstance(s, LogsSample)]
    if not samples:
        return CheckResult(cid, UNKNOWN, "waiting for the first read of the logs")
    last = samples[-1]
    if _stale(last, ctx, now):
        return stale_result(cid, last, now)
    counts = {k: v for k, v in last.by_category.items() if v}
    window = _span(last.window_seconds) if last.window_seconds else "the window"
    where = f"{last.source} {last.target}".strip()
    if last.error_kind and not last.events_total:
        return CheckResult(cid, UNKNOWN, f"the logs cannot be read: {last.error_kind}",
                           (f"logs probe {sample_age(last, now)}: {last.error}",),
                           "Fix access to the logs (credentials, region, group name, path).",
                           last.at)
    evidence = [f"{where}: {last.events_in_window} event(s) in the last {window}"]
    if counts:
        evidence.append("by category: " + ", ".join(f"{k} {v}" for k, v in
                                                     sorted(counts.items(),
                                                            key=lambda kv: -kv[1])))
    recent = [e for s in samples[-20:] for e in s.events if e.severity in ("error", "warning")]
    for event in recent[-3:]:
        first = event.message.splitlines()[0] if event.message else ""
        last_line = event.message.splitlines()[-1] if "\n" in event.message else ""
        evidence.append(f"{event.label or event.category}: {first[:160]}"
                        + (f" … {last_line[:120]}" if last_line else ""))
    if last.error_kind:
        evidence.append(f"the tail has a fault now: {last.error_kind}")
    # Judge errors by how recent they are: a 15-minute window must not keep a wall display red
    # for 15 minutes after the incident ended.
    recent_window = recent_errors_window(last)
    # An event is judged at the time written in it; one read at start-up with no time in it is
    # history (`LogEvent.logged_since`).
    recent_all = [e for s in samples for e in s.events
                  if e.severity == "error" and e.logged_since(now - recent_window)]
    untimed = sum(1 for s in samples for e in s.events
                  if e.clock == "unknown" and e.severity == "error")
    if untimed:
        evidence.append(f"{untimed} error(s) read at start-up with no time written in them: "
                        "history, not judged")
    # A consumer without a handler for wsmonitor's notification type logs the exception its
    # group_send caused: wsmonitor's own doing, judged by notification-delivery alone.
    own_type = own_delivery_error(ctx)
    caused = [e for s in samples for e in s.events if e.severity == "error"
              and own_type is not None and own_type.search(e.message or "")
              and e.logged_since(now - (last.window_seconds or recent_window))]
    if caused:
        recent_all = [e for e in recent_all if e not in caused]
        evidence.append(f"{len(caused)} error(s) caused by wsmonitor's own group_send (the "
                        "consumer has no handler for its type): see notification-delivery")
    recent_errors = [e for e in recent_all if (e.category or "error") not in ended]
    # Ended categories whose errors were all logged before wsmonitor watched are history
    # (`ended_categories`); the others ended while it watched.
    since = watching_since(samples)
    newest: dict[str, float] = {}
    for e in recent_all:
        key = e.category or "error"
        if key in ended:
            newest[key] = max(newest.get(key, e.timestamp), e.timestamp)
    history_cats = {c for c, t in newest.items() if since and t < since}
    before = [e for e in recent_all if (e.category or "error") in history_cats]
    history_text = _history_text(before, now)
    if before:
        seeing = sorted({c for k in history_cats for c in ended[k]})
        evidence.append(
            f"{len(before)} error(s) logged before wsmonitor started watching "
            f"({time.strftime('%H:%M:%S', time.localtime(since))}): history, as "
            f"{', '.join(seeing)} {'passes' if len(seeing) == 1 else 'pass'} now")
    outage_cats = {k: v for k, v in ended.items() if k not in history_cats}
    past_outage = len(recent_all) - len(recent_errors) - len(before)
    if past_outage:
        names = sorted({c for checks in outage_cats.values() for c in checks})
        evidence.append(f"{past_outage} error(s) from an outage that has ended: "
                        f"{', '.join(sorted(outage_cats))}, logged before {', '.join(names)} "
                        "passed again")
    errors = max(0, last.by_severity.get("error", 0) - len(caused))
    warnings = last.by_severity.get("warning", 0)
    # The most frequent cause (an event's first category): a Redis traceback also counts as a
    # traceback, but Redis is what to fix. Severities count events by cause too.
    causes = _causes(samples, now - (last.window_seconds or RECENT_ERRORS)) or counts
    if ctx.url_configured:
        # wsmonitor's own no-token / no-origin / wrong-origin probes are rejected on purpose.
        own = sum(causes.get(c, 0) for c in SELF_INFLICTED)
        if own:
            evidence.append(f"{own} rejection(s) expected: wsmonitor's own no-token, no-origin "
                            "and wrong-origin probes are rejected on purpose")
        warnings = max(0, warnings - own)
    error_counts = {k: v for k, v in causes.items() if _log_severity(k) == "error"}
    top = max(error_counts, key=lambda k: error_counts[k]) if error_counts else (
        max(causes, key=lambda k: causes[k]) if causes else None)
    remedy = LOG_REMEDY.get(top or "", "Read the events in the logs pane.")
    if recent_errors:
        recent_top: dict[str, int] = {}
        for e in recent_errors:
            recent_top[e.category or "error"] = recent_top.get(e.category or "error", 0) + 1
        top = max(recent_top, key=lambda k: recent_top[k])
        remedy = LOG_REMEDY.get(top, "Read the events in the logs pane.")
        return CheckResult(cid, FAIL, f"{len(recent_errors)} consumer error(s) in the last "
                           f"{_span(recent_window)}, mostly {top}", tuple(evidence), remedy,
                           last.at)
    if past_outage or before:
        parts = [history_text] if before else []
        if past_outage:
            names = sorted({c for checks in outage_cats.values() for c in checks})
            parts.append(f"{past_outage} error(s) in the last {_span(recent_window)}, all "
                         f"from before {', '.join(names)} passed again")
        remedy = ("Errors from an outage that has ended" + (", logged before wsmonitor "
                  "started" if not past_outage else "") + ": watch that no new ones come.")
        return CheckResult(cid, WARN, "; also ".join(parts), tuple(evidence), remedy, last.at)
    if errors:
        return CheckResult(cid, WARN, f"{errors} consumer error(s) in the last {window}, none in "
                           f"the last {_span(recent_window)}"
                           + (f" (mostly {top})" if top else ""), tuple(evidence), remedy,
                           last.at)
    if warnings:
        return CheckResult(cid, WARN, f"{warnings} warning(s) in the last {window}"
                           + (f", mostly {top}" if top else ""), tuple(evidence), remedy,
                           last.at)
    return CheckResult(cid, PASS, f"no consumer errors in the last {window}", tuple(evidence),
                       "", last.at)


HISTORY_NOUN = {
    "redis-error": "Redis error(s)",
    "channels-timeout": "channel-layer timeout(s)",
    "max-clients": "connection-cap error(s)",
    "plan-quota": "quota error(s)",
    "app-killed": "killed consumer(s)",
    "connect-error": "connect() error(s)",
}


def _history_text(events: Sequence[LogEvent], now: float) -> str:
    """``3 Redis error(s) logged before wsmonitor started, the last 2 min ago; Redis answers
    now``: per category, for errors `ended_categories` found to be history."""
    by_category: dict[str, list[float]] = {}
    for e in events:
        by_category.setdefault(e.category or "error", []).append(e.timestamp)
    parts = []
    for category, times in sorted(by_category.items(), key=lambda kv: -max(kv[1])):
        noun = HISTORY_NOUN.get(category, f"{category} error(s)")
        parts.append(f"{len(times)} {noun} logged before wsmonitor started, the last "
                     f"{_ago(now - max(times))} ago; "
                     f"{HISTORY_NOW.get(category, 'its checks pass now')}")
    return "; ".join(parts)


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _causes(samples: Sequence[LogsSample], since: float) -> dict[str, int]:
    """Classified events per cause (first category) logged since `since`, in the samples."""
    out: dict[str, int] = {}
    for s in samples:
        for e in s.events:
            if e.category and e.logged_since(since):
                out[e.category] = out.get(e.category, 0) + 1
    return out


def own_delivery_error(ctx: CheckContext) -> re.Pattern[str] | None:
    """Channels' error for a message type its consumer has no handler for, with the type of
    wsmonitor's own delivery (None: no delivery runs)."""
    facts = ctx.extra.get("channel_layer")
    if ctx.kiosk or facts is None or getattr(facts, "delivery", "none") is not None:
        return None
    notify_type = getattr(facts, "notify_type", "notify")
    return re.compile(rf"No handler for message type {re.escape(notify_type)}(?![\w.-])")


RECENT_ERRORS = 180.0
"""Seconds within which a logged error fails consumer-errors (older ones in the window warn)."""

def recent_errors_window(last: Sample) -> float:
    """Seconds within which logged errors fail consumer-errors: `RECENT_ERRORS`, or the logs
    probe's whole window when that is shorter."""
    window = getattr(last, "window_seconds", 0.0) or RECENT_ERRORS
    return min(RECENT_ERRORS, window)


def _span(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


SELF_INFLICTED = ("ws-reject", "auth-rejected")
"""Log categories that wsmonitor's own rejected variants produce."""


SUPERSEDED_BY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "redis-error": (("redis-reachable",), ("redis", "http:redis-health", "channel-layer")),
    "channels-timeout": (("redis-reachable", "channel-layer"),
                         ("redis", "http:redis-health", "channel-layer")),
    "max-clients": (("redis-reachable", "redis-connections"),
                    ("redis", "http:redis-health", "http:ws-diagnostic", "channel-layer")),
    "plan-quota": (("redis-reachable", "redis-connections", "redis-commands"),
                   ("redis", "http:redis-health", "http:ws-diagnostic", "channel-layer")),
    # Daphne killed a consumer stuck past its timeout: a hung connect() the handshakes saw.
    "app-killed": (("handshake-101",), ("handshake:token+origin",)),
}
"""Log categories whose outage wsmonitor's own probes can see begin and end: category →
(the checks that pass again once it is over, the probes that fail while it goes on). The
consumer's own exceptions have no such evidence: they fail for `RECENT_ERRORS`."""

HISTORY_ENDS: dict[str, tuple[str, ...]] = {
    **{category: checks for category, (checks, _probes) in SUPERSEDED_BY.items()},
    # connect() failing (often group_add on Redis): a handshake that completes shows it ended.
    "connect-error": ("handshake-101",),
}
"""Log categories whose end a check can see now, even for an outage wsmonitor never saw:
category → the checks that pass once it is over. Errors of these categories logged before
wsmonitor started watching are history when those checks pass now (`ended_categories`)."""

HISTORY_NOW = {
    "redis-error": "Redis answers now",
    "channels-timeout": "the channel layer answers now",
    "max-clients": "Redis takes connections below its cap now",
    "plan-quota": "Redis runs commands within the quota now",
    "app-killed": "handshakes complete now",
    "connect-error": "handshakes complete now",
}
"""What the passing checks say, per `HISTORY_ENDS` category, for a person."""

OUTAGE_SLACK = 30.0
"""Seconds around a category's logged errors within which a probe's failure counts as
having seen that outage (log lines and probes do not tick together)."""


def ended_categories(results: Mapping[str, CheckResult],
                     errors: Mapping[str, tuple[float, float]],
                     history: Mapping[str, Sequence[Sample]]) -> dict[str, tuple[str, ...]]:
    """The log categories whose errors come from an outage that has ended. Category → the
    checks that show it.

    Two ways, by when the errors were logged:

    - All of the category's errors were logged **before wsmonitor started watching**
      (`LogsSample.watching_since`): a `check` started after an outage never saw it, so only
      the present can speak. A category whose end a check can see (`HISTORY_ENDS`: Redis, its
      cap, its quota, connect()) has ended when those checks pass, or warn of past trouble
      only, now. The consumer's own exceptions have no such check: they are never history
      this way.
    - Some were logged **while watching**: wsmonitor's own probes must have failed while the
      outage went on (so it is the outage they can see, not a fault only the service meets),
      and every check that can see it end passes, or warns of past trouble only, on a sample
      newer than the category's newest error (`SUPERSEDED_BY`).

    Args:
        errors: Category → (first, newest) error time, as `recent_error_times` gives.
    """
    since = watching_since(history.get("logs", ()))

    def passes_after(cid: str, last: float) -> bool:
        r = results.get(cid)
        return r is not None and r.status in (PASS, WARN) and r.at is not None and r.at > last

    out: dict[str, tuple[str, ...]] = {}
    for category, (first, last) in errors.items():
        if since and last < since:
            checks = HISTORY_ENDS.get(category)
            if checks and all(passes_after(cid, last) for cid in checks):
                out[category] = checks
            continue
        if category not in SUPERSEDED_BY:
            continue
        checks, probes = SUPERSEDED_BY[category]
        seen = any(not s.ok and first - OUTAGE_SLACK <= s.at <= last + OUTAGE_SLACK
                   for p in probes for s in history.get(p, ()))
        if seen and all(passes_after(cid, last) for cid in checks):
            out[category] = checks
    return out


def watching_since(logs: Sequence[Sample]) -> float:
    """When the logs probe started watching (0 when unknown): see `LogsSample.watching_since`."""
    last = next((s for s in reversed(logs) if isinstance(s, LogsSample)), None)
    return last.watching_since if last is not None else 0.0


def recent_error_times(logs: Sequence[Sample], now: float) -> dict[str, tuple[float, float]]:
    """The first and newest error per category within `recent_errors_window` (what fails the
    check)."""
    samples = [s for s in logs if isinstance(s, LogsSample)]
    if not samples:
        return {}
    recent = recent_errors_window(samples[-1])
    out: dict[str, tuple[float, float]] = {}
    for s in samples:
        for e in s.events:
            if e.severity == "error" and e.logged_since(now - recent):
                key = e.category or "error"
                first, last = out.get(key, (e.timestamp, e.timestamp))
                out[key] = (min(first, e.timestamp), max(last, e.timestamp))
    return out


def _log_severity(category: str) -> str:
    from wsmonitor.log_rules import default_rules

    return default_rules().severity(category)


def log_categories(logs: Sequence[Sample], now: float | None = None,
                   ended: Mapping[str, object] | None = None) -> dict[str, int]:
    """Counts per category of the error events logged within `recent_errors_window`, but the
    `ended` categories (see `ended_categories`).

    An event counts under each of its categories (a traceback caused by Redis under
    ``redis-error`` and ``traceback``), unless its cause (first category) has ended: the
    traceback of an ended Redis outage is history too, not a consumer fault.
    """
    now = time.time() if now is None else now
    out: dict[str, int] = {}
    last = next((s for s in reversed(logs) if isinstance(s, LogsSample)), None)
    recent = recent_errors_window(last) if last is not None else RECENT_ERRORS
    for s in logs:
        if isinstance(s, LogsSample):
            for e in s.events:
                if e.severity == "error" and e.category and e.logged_since(now - recent) \
                        and e.category not in (ended or {}):
                    for category in e.categories:
                        out[category] = out.get(category, 0) + 1
    return out
