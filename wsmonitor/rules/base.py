"""The rules' ground floor: statuses, the check list, `CheckResult`, `Diagnosis`,
`CheckContext` and the helpers every rule shares (freshness, streaks, remedies).

Pure rules: samples in, check results out. No I/O, no Textual, no clock of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wsmonitor.plans import Plan
from wsmonitor.redis_url import Finding
from wsmonitor.samples import Sample


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


def not_probed(cid: str, ctx: CheckContext) -> CheckResult:
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


def is_stale(sample: Sample, ctx: CheckContext, now: float) -> bool:
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
