"""One verdict above the checks: the layer most likely broken, and what to do first.

Pure: check results, the newest handshake samples and a few `Signals` drawn from the history
in, a `Diagnosis` out. It reads the evidence the way the runbook's expert would, and says
``unknown`` — with what would decide — when the evidence conflicts or is missing.

How the layers are told apart (FACTS.md has the measurements behind each rule):

- ``plan-limit``: Redis answers but refuses at its connection cap or command quota. It comes
  first: at the cap every layer above fails too, and the fix is the plan.
- ``platform`` / ``proxy``: the upgrade never reaches a WebSocket server. Told apart by what
  answered: a cut before any status line is the platform (App Runner cannot upgrade at all);
  plain HTTP, a 502 or a 504 is a proxy in front.
- ``redis``: Redis itself is seen failing — from here, or by the service's own
  ``/api/redis-health/`` — and the handshake fails the way a lost Redis makes it fail (500,
  a stall, the runbook's 4500 close before accept that Daphne turns into a 403, 1011 on open
  sockets).
- ``channel-layer``: the consumer's channel-layer calls fail or hang while Redis itself is not
  seen failing: ``connect()`` hanging until Daphne's 5 s timeout (a 403 or a drop 4–6 s after
  the request, never an auth answer), 1011 on open sockets, a failing channel-layer round trip,
  channels_redis timeouts in the logs.
- ``origin`` / ``auth``: a fast 403 is Origin or auth; the variants and what is known of the
  token tell which — and a service that reports Redis failing, or a 403 streak that began with
  1011 closes, means neither.
- ``consumer``: handshakes work but the consumer raises (logs) or notifications do not arrive;
  or it closes open sockets with its own codes; or connect() hangs while the service's own
  channel-layer round trip works.
- ``unknown``: the evidence conflicts (Redis unreachable from here only; the service's two
  views disagree) or is missing (a 500 with Redis out of view; a 403 where the same Origin
  got 101 before and nothing else is in view) — with what would decide it.

A verdict must also be trusted only once the evidence repeats: `VerdictTracker` says when a
new layer is confirmed, so one odd sample is shown as an unconfirmed candidate, never as a
settled layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from wsmonitor.rules.base import FAIL, PASS, REMEDIES, SKIPPED, UNKNOWN, WARN, CheckContext, \
    CheckResult, Diagnosis
from wsmonitor.rules.platform import Platform, front_verdict, idle_verdict
from wsmonitor.rules.websocket import APP_RUNNER_FACT, HANDSHAKE_REMEDY, PLATFORM_CUT, \
    UNREACHABLE, UPGRADED, _fresh, diagnosis_variants, held_samples, last_hold, service_origin, \
    settled
from wsmonitor.samples import RedisSample, Sample
from wsmonitor.samples_http import HttpSample
from wsmonitor.samples_ws import HOLD_PROBE, PRIMARY_VARIANT, STALL_MIN_S, HandshakeSample

LAYERS = ("none", "platform", "proxy", "origin", "auth", "consumer", "channel-layer", "redis",
          "plan-limit", "unknown")
"""SPEC's layers."""

PLAN_LIMIT_ERRORS = ("max number of clients reached", "max concurrent connections exceeded",
                     "max daily request limit exceeded", "max requests limit exceeded")
"""Redis and Upstash answers that mean a cap or quota, not an outage (FACTS.md)."""

HARD_LIMIT_KINDS = frozenset({"max-clients", "plan-connections", "plan-quota"})
"""Redis probe error kinds that are a limit being hit now."""

STALL_CLASSES = frozenset({"connect-stalled", "no-status-line", "server-error"})
"""What the first handshake after Redis returns may look like (FACTS.md: it hangs 4–5 s and
is dropped, or fails once more)."""

REDIS_SYMPTOMS = frozenset({"server-error", "connect-stalled", "forbidden", "no-status-line",
                            "gateway-timeout", "closed-after-accept"})
"""Handshake outcomes a lost Redis produces (with the runbook's consumer, or without)."""

NOT_A_VIEW = frozenset({401, 403, 404, 429, 502, 504})
"""Diagnostic endpoint answers that are not the service's view of Redis: refused, not
deployed, rate limited, or a proxy answering for it."""

LOG_CONSUMER = ("connect-error", "exception-in-app", "app-killed", "traceback",
                "disconnect-error")
"""Log categories that put the fault in the consumer's own code."""

HOLD_CHECKS = ("stays-open", "ping-pong", "notification-delivery")
"""The checks that judge the held socket: they answer when its hold ends."""

RECOVERY_WINDOW = 60.0
"""Seconds after Redis was last seen failing during which the service's lagging diagnostics
still count as the recovery transient."""

RECOVERY_REMEDY = ("Nothing yet: the first handshake after Redis returns hangs 4–5 s and is "
                   "dropped (FACTS.md). If the next one fails too, it is not the transient.")


@dataclass(frozen=True, slots=True)
class Signals:
    """What the diagnosis needs from the history beyond the newest sample of each check.

    Built by `signals`; every field has a default meaning "not known".
    """

    service_redis: bool | None = None
    """The service's own view (``/api/redis-health/``, ``/api/ws-diagnostic/``), fresh: True
    when it reports Redis and the channel layer working, False when failing, None without
    one."""
    service_conflict: bool = False
    """The two diagnostic endpoints disagree (one healthy, one failing): a transient of the
    service's own view (channels_redis can time out one smoke test while the next passes),
    so neither counts."""
    service_pending: bool = False
    """A diagnostic endpoint is probed but has not answered yet (cold start)."""
    service_message: str = ""
    """The service's Redis error text, redacted (for cap and quota messages)."""
    redis_failed_at: float | None = None
    """The newest time Redis was seen failing, from here or by the service."""
    redis_ok_now: bool = False
    """The newest observation of Redis (from here and by the service) is healthy."""
    since_redis_failed: float | None = None
    """Seconds from `redis_failed_at` to the judgement."""
    since_failed_here: float | None = None
    """Seconds since Redis was last seen failing from here, when it answers from here now
    (None otherwise): Redis itself came back."""
    previous: HandshakeSample | None = None
    """The ``token+origin`` sample before the newest one."""
    onset: HandshakeSample | None = None
    """The last ``token+origin`` sample before the current streak of the newest
    classification: how the present failure began (None on a cold start)."""
    origin_allowed: bool | None = None
    """The service's own Origin validator (wsmonitor.django's ws-diagnostic) lets the probe's
    Origin through (True) or not (False); None when nothing says."""
    holding: bool = False
    """A socket is being held and no finished hold stands for it (the first one, or the
    first since the handshake failed): the hold's checks answer when its hold ends."""
    first_hold: bool = False
    """`holding`, and no hold has ever ended."""


def signals(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
            now: float) -> Signals:
    """Draw the `Signals` from the engine's history (pure)."""

    views: list[bool] = []
    pending = False
    message = ""
    for endpoint in ("redis-health", "ws-diagnostic"):
        name = f"http:{endpoint}"
        if name not in history:
            continue
        if not history.get(name):
            pending = True
            continue
        s = _fresh(history[name], ctx, now)
        if not isinstance(s, HttpSample) or s.status is None:
            continue
        if s.status in NOT_A_VIEW:
            continue
        failing = s.healthy is False or (s.status >= 500 and s.healthy is not True)
        if failing:
            views.append(False)
            message = message or (s.error or "") + " " + " ".join(
                str(v) for _k, v in s.summary)
        elif s.healthy is True:
            views.append(True)
    conflict = len(set(views)) > 1
    service = None if conflict or not views else views[0]

    # Redis over time, from here and as the service sees it: (when, healthy)
    here = [(s.at, s.ok) for s in history.get("redis", ()) if isinstance(s, RedisSample)]
    seen = [(s.at, s.healthy is not False and (s.status or 0) < 500)
            for s in history.get("http:redis-health", ())
            if isinstance(s, HttpSample) and s.status is not None
            and s.status not in NOT_A_VIEW]
    failed_here = [at for at, ok in here if not ok]
    since_here = now - max(failed_here) if failed_here and here[-1][1] else None
    failed = [at for at, ok in here + seen if not ok]
    failed_at = max(failed) if failed else None
    newest = [views_[-1][1] for views_ in (here, seen) if views_]
    ok_now = bool(newest) and all(newest)

    primary = settled(history.get(f"handshake:{PRIMARY_VARIANT}", ()))
    if HOLD_PROBE in history:
        # The held socket is a token+origin attempt too: how a failure began (closed 1011,
        # then 403s) may show on it first.
        primary = sorted(primary + [s for s in history[HOLD_PROBE]
                                    if isinstance(s, HandshakeSample) and not s.interim],
                         key=lambda s: s.at)
    previous = primary[-2] if len(primary) >= 2 else None
    onset = None
    if primary:
        for s in reversed(primary[:-1]):
            if s.classification != primary[-1].classification:
                onset = s
                break

    diag = _fresh(history.get("http:ws-diagnostic", ()), ctx, now)
    origin_allowed, _ = service_origin(
        diagnosis_variants(ctx, history, now).get(PRIMARY_VARIANT),
        diag if isinstance(diag, HttpSample) else None)
    held = [s for s in held_samples(history) if isinstance(s, HandshakeSample)]
    standing = last_hold(ctx, history, now)
    holding = standing is not None and standing.interim
    return Signals(origin_allowed=origin_allowed,
                   service_redis=service, service_conflict=conflict, service_pending=pending,
                   holding=holding, first_hold=holding and all(s.interim for s in held),
                   service_message=message.strip(), redis_failed_at=failed_at,
                   redis_ok_now=ok_now, previous=previous, onset=onset,
                   since_redis_failed=None if failed_at is None else now - failed_at,
                   since_failed_here=since_here)


CHECK_PROBES: dict[str, tuple[str, ...]] = {
    "platform-websocket": ("handshake:",),
    "allowed-hosts": ("handshake:", "http:ws-diagnostic"),
    "jwt-valid": (f"handshake:{PRIMARY_VARIANT}", "http:ws-diagnostic", "http:polling"),
    "handshake-101": (f"handshake:{PRIMARY_VARIANT}",),
    "stays-open": (HOLD_PROBE,),
    "ping-pong": (HOLD_PROBE,),
    "notification-delivery": (HOLD_PROBE, "channel-layer"),
    "polling-fallback": ("http:polling",),
    "redis-reachable": ("redis", "http:redis-health"),
    "redis-connections": ("redis",),
    "redis-commands": ("redis",),
    "channel-layer": ("channel-layer", "http:ws-diagnostic"),
    "consumer-errors": ("logs",),
    "diagnostic-endpoints": ("http:redis-health", "http:ws-diagnostic"),
    "browser-websocket": ("browser",),
}
"""The probes each check rests on (a name ending in ``:`` stands for all that start so)."""


STREAK_CAP = 10
"""Streaks are counted up to this many samples (the tracker needs a few at most), so judging
stays cheap however long the history."""


def _outcome(sample: Sample) -> tuple[object, ...]:
    return (sample.ok, sample.error_kind, getattr(sample, "classification", None),
            getattr(sample, "close_code", None), getattr(sample, "status", None),
            getattr(sample, "healthy", None))


def streaks(history: Mapping[str, Sequence[Sample]]) -> dict[str, tuple[int, float, float]]:
    """Per probe: how many of its newest samples in a row say the same thing (up to
    `STREAK_CAP`), when the newest came, and when the first of them came. One odd sample makes
    a streak of 1; a stable fault grows it.

    It lets `VerdictTracker` judge from the history itself, so a verdict does not depend on
    how often it is evaluated (a replay at full speed judges a whole fault in one go).
    """
    out: dict[str, tuple[int, float, float]] = {}
    for name, samples in history.items():
        if name.startswith("handshake:") or name == HOLD_PROBE:
            samples = settled(samples[-2 * STREAK_CAP - 1:])  # one per attempt
        if not samples:
            continue
        newest = _outcome(samples[-1])
        n, start = 0, samples[-1].at
        for sample in reversed(samples[-STREAK_CAP:]):
            if _outcome(sample) != newest:
                break
            n, start = n + 1, sample.at
        out[name] = (n, samples[-1].at, start)
    return out


def _feeds(probe: str, checks: Sequence[str]) -> bool:
    """Whether `probe`'s samples are evidence of any of `checks`."""
    for cid in checks:
        for p in CHECK_PROBES.get(cid, ()):
            if probe == p or (p.endswith(":") and probe.startswith(p)):
                return True
    return False


class _Evidence:
    """The inputs of one diagnosis, with the questions the rules ask of them."""

    def __init__(self, results: Sequence[CheckResult],
                 variants: Mapping[str, HandshakeSample], app_runner: bool,
                 service_down: bool, log_categories: Mapping[str, int],
                 sig: Signals, signals_given: bool = True,
                 platform: Platform | None = None) -> None:
        self.platform = platform or Platform()
        app_runner = app_runner or self.platform.front == "app-runner"
        self.by_id = {r.id: r for r in results}
        self.results = results
        self.variants = variants
        self.p = variants.get(PRIMARY_VARIANT)
        self.classes = {s.classification for s in variants.values()}
        self.app_runner = app_runner
        self.logs = {k: v for k, v in log_categories.items() if v}
        self.sig = sig
        # With signals, the service's view is theirs (a proxy's 502 for an endpoint is no
        # view); the flag alone is what callers without history can say.
        self.service_down = sig.service_redis is False if signals_given else service_down

    def st(self, cid: str) -> str:
        return self.by_id[cid].status if cid in self.by_id else UNKNOWN

    def rem(self, *cids: str) -> str:
        for cid in cids:
            if cid in self.by_id and self.by_id[cid].remedy:
                return self.by_id[cid].remedy
        return ""

    def summary(self, cid: str) -> str:
        return self.by_id[cid].summary if cid in self.by_id else ""

    @property
    def redis_here_kind(self) -> str | None:
        """The failure kind when Redis is unreachable from here (None: it is not)."""
        s = self.summary("redis-reachable")
        if self.st("redis-reachable") == FAIL and s.startswith("unreachable from here"):
            return s.partition(": ")[2] or "error"
        return None

    @property
    def redis_here_ok(self) -> bool:
        r = self.by_id.get("redis-reachable")
        return r is not None and r.status in (PASS, WARN) and "from here" in r.summary

    @property
    def redis_service_fail(self) -> bool:
        """The service reports it cannot talk to Redis (its health view, or ws-diagnostic)."""
        said = self.st("redis-reachable") == FAIL \
            and "the service cannot reach Redis" in self.summary("redis-reachable")
        return (said and not self.sig.service_conflict) or self.service_down

    @property
    def redis_failing(self) -> bool:
        """Redis is seen failing — from here (unless the service says it works) or by the
        service."""
        here = self.redis_here_kind is not None and self.sig.service_redis is not True
        return here or self.redis_service_fail

    @property
    def redis_verified(self) -> bool:
        """Redis is seen working: by the service, or from here with no contrary view."""
        return self.sig.service_redis is True or (self.redis_here_ok and not self.service_down)

    @property
    def logs_failing(self) -> bool:
        return self.st("consumer-errors") == FAIL

    def log_layer(self) -> str | None:
        """The layer the log categories point at (only when the logs check fails)."""
        if not self.logs_failing:
            return None
        cats = self.logs
        if cats.get("plan-quota") or cats.get("max-clients"):
            return "plan-limit"
        if cats.get("channels-timeout"):
            return "channel-layer"
        if cats.get("redis-error"):
            return "redis"
        if any(cats.get(c) for c in LOG_CONSUMER):
            return "consumer"
        return None


def diagnose(results: Sequence[CheckResult],
             variants: Mapping[str, HandshakeSample] | None = None,
             *, app_runner: bool = False, service_down: bool = False,
             log_categories: Mapping[str, int] | None = None,
             signals: Signals | None = None, platform: Platform | None = None) -> Diagnosis:
    """Name the broken layer.

    Args:
        results: Every check's result.
        variants: The newest fresh sample of each handshake variant.
        app_runner: The endpoint is on App Runner.
        service_down: The service's own diagnostics (/api/redis-health/, /api/ws-diagnostic/)
            report Redis or the channel layer failing.
        log_categories: Non-zero counts per log category over the logs window.
        signals: What the history adds (how the failure began, the service's view, Redis
            recovering); see `signals`.
        platform: What answers in front of the app (`wsmonitor.rules.platform`): read first.
    """
    e = _Evidence(results, variants or {}, app_runner, service_down, log_categories or {},
                  signals or Signals(), signals is not None, platform)
    for rule in (_front, _plan_limit, _unreachable, _upgrade_blocked, _bad_gateway,
                 _recovering, _redis, _handshake, _after_handshake, _browser_only):
        verdict = rule(e)
        if verdict is not None:
            return verdict
    return _settle(e)


# --- the rules, in the order an expert reads the evidence ------------------------------------


def _front(e: _Evidence) -> Diagnosis | None:
    """The front first: App Runner cannot upgrade whatever the status; an error the proxy made
    itself is the proxy's, never the app's (`wsmonitor.rules.platform.front_verdict`)."""
    return front_verdict(e.platform, e.p, bool(e.classes & UPGRADED), e.redis_failing)


def _plan_limit(e: _Evidence) -> Diagnosis | None:
    """A cap or quota hit now explains every failure above it."""
    checks: list[str] = []
    what = ""
    kind = e.redis_here_kind if e.redis_here_kind in HARD_LIMIT_KINDS else None
    if kind:
        checks.append("redis-reachable")
        what = e.summary("redis-reachable")
    for cid in ("redis-connections", "redis-commands"):
        if e.st(cid) == FAIL and (cid == "redis-connections"
                                  or "exhausted" in e.summary(cid)):
            checks.append(cid)
            what = what or e.summary(cid)
            kind = kind or ("plan-quota" if cid == "redis-commands" else None)
    message = e.sig.service_message.lower()
    said = [m for m in PLAN_LIMIT_ERRORS if m in message]
    if said:
        checks.append("diagnostic-endpoints")
        what = what or f"the service's /api/redis-health/ says \"{said[0]}\""
        kind = kind or ("max-clients" if "clients" in said[0] else "plan-connections"
                        if "connections" in said[0] else "plan-quota")
    if e.log_layer() == "plan-limit":
        checks.append("consumer-errors")
        what = what or e.summary("consumer-errors")
        kind = kind or ("plan-quota" if e.logs.get("plan-quota") else "max-clients")
    if not checks:
        return None
    remedy = REMEDIES[kind] if kind else e.rem(*checks)
    return Diagnosis("plan-limit", f"Redis answers but refuses at a limit: {what}.", remedy,
                     tuple(dict.fromkeys(checks)))


def _unreachable(e: _Evidence) -> Diagnosis | None:
    p = e.p
    if p is None or p.classification not in UNREACHABLE:
        return None
    c = p.classification
    if c == "timeout" and _rejected_at_once(e):
        return None  # the app answers the others at once: connect() hangs (see _handshake)
    if e.redis_here_kind in ("refused", "dns", "timeout", "probe-timeout"):
        return Diagnosis("unknown", f"Neither the endpoint ({c}) nor Redis "
                         f"({e.redis_here_kind}) can be reached from here: the fault may be "
                         "wsmonitor's own network, not the service.",
                         "Check that this machine reaches the service at all (VPN, security "
                         "group, DNS); run wsmonitor where the service's clients are.",
                         ("handshake-101", "redis-reachable"))
    return Diagnosis("unknown", f"The endpoint cannot be reached ({c}): no layer behind it can "
                     "be judged.", e.rem("handshake-101") or HANDSHAKE_REMEDY.get(c, ""),
                     ("handshake-101",))


def _upgrade_blocked(e: _Evidence) -> Diagnosis | None:
    """Every variant answered without reaching a WebSocket server: platform or proxy."""
    if e.p is None or not e.classes or not e.classes <= PLATFORM_CUT:
        return None
    also = " Redis is failing too: see redis-reachable once upgrades pass." \
        if e.redis_failing else ""
    checks = ("platform-websocket", "handshake-101")
    if e.app_runner:
        return Diagnosis("platform", f"The platform cannot upgrade: {APP_RUNNER_FACT}." + also,
                         e.rem("platform-websocket"), checks)
    info = e.platform.info
    if "no-status-line" not in e.classes:
        server = e.p.server or "something"
        status = e.p.status_line or str(e.p.status)
        # A known front says what to configure (CloudFront's Sec-WebSocket-* forwarding, nginx's
        # Upgrade headers); API Gateway's REST and HTTP APIs cannot upgrade at all: platform.
        layer = "platform" if e.platform.front == "api-gateway" else "proxy"
        return Diagnosis(layer, f"Plain HTTP answers the upgrade ({server}: {status}): a "
                         "proxy drops the Upgrade headers (or the path is wrong)." + also,
                         info.fix if info is not None and info.fix else
                         e.rem("platform-websocket", "handshake-101"), checks)
    return Diagnosis("platform", "The platform or load balancer cuts the WebSocket upgrade "
                     "before any status line." + also, e.rem("platform-websocket"), checks)


def _bad_gateway(e: _Evidence) -> Diagnosis | None:
    p = e.p
    if p is None or p.classification not in ("bad-gateway", "gateway-timeout"):
        return None
    if p.classification == "gateway-timeout" and e.redis_failing:
        return None  # a proxy that waits on connect() hung on Redis: Redis decides
    also = " Redis is failing too (see redis-reachable)." if e.redis_failing else ""
    what = "cannot reach the app" if p.classification == "bad-gateway" else \
        "timed out waiting for the app"
    return Diagnosis("proxy", f"The proxy answers {p.status}: it {what}." + also,
                     e.rem("handshake-101") or HANDSHAKE_REMEDY[p.classification],
                     ("handshake-101",))


def _recovering(e: _Evidence) -> Diagnosis | None:
    """Just after Redis returns: the first handshake stalls and drops, and the service's own
    diagnostics fail for a few seconds while its channel layer reconnects — known transients,
    not a new layer."""
    p, sig = e.p, e.sig
    failing = {r.id for r in e.results if r.status == FAIL}
    lagging = failing == {"diagnostic-endpoints"} and sig.redis_ok_now \
        and not e.redis_failing and sig.since_redis_failed is not None \
        and sig.since_redis_failed <= RECOVERY_WINDOW
    # Redis answers here again after failing here, and only the service's view still fails.
    service_lagging = bool(failing) and failing <= {"diagnostic-endpoints", "redis-reachable"} \
        and sig.since_failed_here is not None and sig.since_failed_here <= RECOVERY_WINDOW \
        and ("redis-reachable" not in failing or "service" in e.summary("redis-reachable"))
    if lagging or service_lagging:
        since = sig.since_failed_here if service_lagging else sig.since_redis_failed
        return Diagnosis("redis", f"Redis is back ({since:.0f} s ago); the service's view of "
                         "it still fails while its channel layer reconnects.",
                         "Nothing yet: if they still fail a minute after Redis returned, read "
                         "their message and the service logs.", ("redis-reachable",
                                                                 "diagnostic-endpoints"))
    if p is None or p.classification not in STALL_CLASSES or not sig.redis_ok_now \
            or sig.redis_failed_at is None or e.redis_failing:
        return None
    if sig.previous is not None and sig.previous.at > sig.redis_failed_at:
        return None  # a handshake already ran since Redis came back: not the transient
    return Diagnosis("redis", f"Redis is back; the first handshake since ({p.classification}"
                     f"{f' after {p.elapsed_s:.1f} s' if p.elapsed_s else ''}) is the known "
                     "transient of a channel layer reconnecting.", RECOVERY_REMEDY,
                     ("redis-reachable", "handshake-101"))


def _redis(e: _Evidence) -> Diagnosis | None:
    """Redis is seen failing, and the handshake fails the way a lost Redis makes it."""
    if not e.redis_failing:
        return None
    p = e.p
    if p is not None and p.classification == "forbidden" and e.sig.origin_allowed is False:
        return None  # the validator refuses the Origin before the consumer runs: see _forbidden
    if p is None and not e.redis_service_fail and e.st("handshake-101") == UNKNOWN \
            and e.sig.service_pending:
        # Only this machine's view so far: it may be wsmonitor's path to Redis, not Redis.
        return Diagnosis("unknown", f"Redis is unreachable from here ({e.redis_here_kind}); "
                         "waiting for the handshake and /api/redis-health/ to tell whether the "
                         "service sees it too.", e.rem("redis-reachable"),
                         ("redis-reachable", "handshake-101", "diagnostic-endpoints"))
    if p is not None and p.classification not in REDIS_SYMPTOMS:
        if p.classification == "ok" and e.redis_here_kind is not None \
                and not e.redis_service_fail:
            return _here_only(e)
        if p.classification != "ok":
            return None
    if p is not None and p.classification == "closed-after-accept" and \
            p.close_code not in (1011, 4500, 1006, None):
        return None
    r = e.by_id["redis-reachable"] if "redis-reachable" in e.by_id else None
    if e.redis_here_kind is not None and r is not None:
        where = "from here" + (" and from the service" if e.redis_service_fail else "")
        summary = f"Redis is unreachable {where} ({e.redis_here_kind}); the channel layer " \
            "cannot work."
        remedy = r.remedy
    else:
        detail = e.summary("redis-reachable") if r and r.status == FAIL else \
            "its diagnostic endpoints report Redis failing"
        if detail.startswith("the service"):
            detail = detail[len("the service "):]
        summary = f"The service {detail}; the channel layer cannot work."
        remedy = e.rem("redis-reachable", "diagnostic-endpoints")
    checks = ["redis-reachable"]
    if e.service_down:
        checks.append("diagnostic-endpoints")
    if p is not None and p.classification != "ok":
        summary += f" The handshake shows it: {p.classification}" + (
            f" {p.close_code}" if p.close_code else "") + "."
        checks.append("handshake-101" if p.classification != "closed-after-accept"
                      else "stays-open")
    return Diagnosis("redis", summary, remedy, tuple(checks))


def _handshake(e: _Evidence) -> Diagnosis | None:
    """Redis is not seen failing: read the primary variant's answer."""
    p = e.p
    if p is None:
        return None
    c = p.classification
    if c == "connect-stalled":
        return _stalled(e, p)
    if c == "server-error":
        return _server_error(e, p)
    if c == "unauthorized":
        return Diagnosis("auth", f"401 on the handshake: a gateway or authoriser in front of "
                         "Daphne rejects the request (Daphne itself never answers 401).",
                         HANDSHAKE_REMEDY["unauthorized"], ("handshake-101", "jwt-valid"))
    if c == "closed-after-accept":
        return _closed(e, p)
    if c == "forbidden":
        return _forbidden(e, p)
    if c in ("no-status-line", "timeout") and not e.redis_here_ok \
            and e.sig.service_redis is not True:
        likely = _likely_channel_layer(e, p)
        if likely is not None:
            return likely
    if c == "no-status-line":
        # Only the primary is cut (the other variants got answers from the app): connect()
        # ran and the connection died without an answer.
        return Diagnosis("unknown", f"The token+origin handshake is dropped without a status "
                         f"line{f' after {p.elapsed_s:.1f} s' if p.elapsed_s else ''} while the "
                         "other variants get answers: the consumer's connect() dies, but "
                         "outside Daphne's 4–6 s stall window.",
                         "Read the service logs around the drop; give --redis-url and "
                         "--log-file/--log-group to decide between Redis and the consumer.",
                         ("handshake-101",))
    if c not in UPGRADED and c != "ok":
        return Diagnosis("unknown", f"The handshake fails ({c}) in a way no layer explains "
                         "alone.", e.rem("handshake-101"), ("handshake-101",))
    return None


def _stalled(e: _Evidence, p: HandshakeSample) -> Diagnosis:
    when = f" {p.elapsed_s:.1f} s after the request" if p.elapsed_s else ""
    seen = f"{p.status} " if p.status else "a drop "
    layer = e.log_layer()
    if layer in ("consumer", "channel-layer", "redis"):
        return Diagnosis(layer, f"connect() hangs until Daphne's timeout ({seen.strip()}"
                         f"{when}), and the logs point at the {layer}: "
                         f"{e.summary('consumer-errors')}.", e.rem("consumer-errors"),
                         ("handshake-101", "consumer-errors"))
    if e.sig.service_redis is True:
        return Diagnosis("consumer", f"connect() hangs until Daphne's timeout ({seen.strip()}"
                         f"{when}), yet the service's own channel-layer round trip works: the "
                         "consumer's connect() waits on something else (a database query, an "
                         "external call).", "Find the slow call in the consumer's connect() "
                         "(the service logs: 'took too long to shut down' names a hung "
                         "consumer); move it out of connect() or give it a timeout.",
                         ("handshake-101", "diagnostic-endpoints"))
    return Diagnosis("channel-layer", f"connect() hangs until Daphne's 5 s timeout ({seen}"
                     f"{when.strip()}): not an auth or Origin answer — the consumer waits on "
                     "the channel layer.", HANDSHAKE_REMEDY["connect-stalled"],
                     ("handshake-101", "redis-reachable"),
                     # Redis out of view: the stall points there without proof.
                     confidence="confirmed" if e.redis_failing or e.redis_here_ok
                     else "likely")


def _server_error(e: _Evidence, p: HandshakeSample) -> Diagnosis:
    layer = e.log_layer()
    if layer in ("consumer", "channel-layer", "redis"):
        return Diagnosis(layer, f"The handshake fails with {p.status} and the logs point at "
                         f"the {layer}: {e.summary('consumer-errors')}.",
                         e.rem("consumer-errors"), ("handshake-101", "consumer-errors"))
    onset = e.sig.onset
    if onset is not None and onset.classification == "closed-after-accept" \
            and onset.close_code == 1011:
        return _unconfirmed(e, Diagnosis(
            "channel-layer", f"Open sockets were closed 1011 and new handshakes now fail with "
            f"{p.status}: the consumer lost its channel layer.",
            HANDSHAKE_REMEDY["server-error"], ("stays-open", "handshake-101")))
    if e.redis_verified:
        return Diagnosis("consumer", f"The handshake fails with {p.status} while Redis works: "
                         "an exception in the consumer's connect(), or no route for the path "
                         "(Channels answers an unknown WebSocket path with 500).",
                         "Read the traceback in the service logs; check that --url's path is "
                         "in the URLRouter.", ("handshake-101", "redis-reachable"))
    likely = _likely_channel_layer(e, p)
    if likely is not None:
        return likely
    return Diagnosis("unknown", f"The handshake fails with {p.status}: an exception in "
                     "connect() — Redis lost, the consumer's own bug, or an unknown path — and "
                     "nothing here tells which.", "Give --redis-url (or deploy "
                     "/api/redis-health/) to see Redis, and --log-file/--log-group for the "
                     "traceback.", ("handshake-101", "redis-reachable", "consumer-errors"))


def _likely_channel_layer(e: _Evidence, p: HandshakeSample) -> Diagnosis | None:
    """A 5xx with Redis out of view, where the evidence still points at the channel layer
    (``likely``): the rejected variants are answered 403 at once — Origin and auth run and
    answer — so what fails is past them, where connect() calls ``group_add``; or the 5xx came
    after redis-py's 5 s socket timeout (uvicorn and hypercorn answer a hung ``group_add``
    so, FACTS.md)."""
    rejected = _rejected_at_once(e)
    hung = p.classification in ("no-status-line", "timeout")
    slow = p.elapsed_s is not None and p.elapsed_s >= STALL_MIN_S
    if not rejected and not (slow and not hung):
        return None
    if hung:
        when = f" {p.elapsed_s:.1f} s after the request" if p.elapsed_s else ""
        return Diagnosis("channel-layer", f"The authenticated handshake gets no answer ("
                         f"{p.classification}{when}) while the rejected variants get 403 at "
                         "once: connect() hangs past Origin and auth — uvicorn drops it at its "
                         "10 s handshake timeout, hypercorn waits for redis-py's socket "
                         "timeout — most likely on the channel layer's group_add. Confirm with "
                         "--redis-url.", "Check Redis as the service sees it (--redis-url, "
                         "/api/redis-health/); set a socket_timeout on the channel layer so "
                         "connect() fails instead of hanging.",
                         ("handshake-101", "redis-reachable"), confidence="likely")
    confirm = ("Confirm with --redis-url (Redis as the service uses it) or the service's "
               "/api/redis-health/; the traceback in the service logs (--log-file/--log-group) "
               "names the call.")
    if slow:
        why = (f"it came {p.elapsed_s:.1f} s after the request — redis-py's 5 s socket "
               "timeout on a channel-layer call that hung")
    else:
        why = (f"the rejected variants ({', '.join(sorted(s.variant for s in rejected))}) are "
               "answered 403 at once, so Origin and auth work and what fails comes after them: "
               "connect()'s group_add on the channel layer")
    return Diagnosis("channel-layer", f"The handshake fails with {p.status} and Redis is out of "
                     f"view, but {why}. Likely the channel layer (Redis); confirm with "
                     "--redis-url.", confirm, ("handshake-101", "redis-reachable"),
                     confidence="likely")


def _unconfirmed(e: _Evidence, d: Diagnosis) -> Diagnosis:
    """A channel-layer verdict read from the sockets alone is ``likely`` unless the logs or
    the service's own view back it; the summary then says what would confirm it."""
    if e.logs_failing or e.sig.service_redis is False or e.st("channel-layer") == FAIL:
        return d
    return replace(d, confidence="likely", summary=d.summary + " Confirm with --redis-url "
                   "(or the service's /api/redis-health/) and the service logs.")


def _rejected_at_once(e: _Evidence) -> list[HandshakeSample]:
    """The other variants the app answered 403 at once (Origin and auth run and answer)."""
    return [s for name, s in e.variants.items() if name != PRIMARY_VARIANT
            and s.classification == "forbidden"]


def _closed(e: _Evidence, p: HandshakeSample) -> Diagnosis:
    code = p.close_code
    if code == 4401:
        return Diagnosis("auth", "The socket opens, then the consumer rejects the token "
                         "(4401).", e.rem("jwt-valid", "stays-open"), ("jwt-valid", "stays-open"))
    if code == 1006:
        idle = idle_verdict(e.platform, p) if not e.app_runner else None
        if idle is not None:
            return idle
        if e.app_runner:
            return Diagnosis("platform", f"Open sockets are dropped without a close frame: "
                             f"{APP_RUNNER_FACT}.", e.rem("stays-open"), ("stays-open",))
        return Diagnosis("proxy", "Open sockets are dropped without a close frame: something "
                         "between cuts them (an idle or request timeout).", e.rem("stays-open"),
                         ("stays-open",))
    if code in (1001, 1012):
        return Diagnosis("unknown", f"The server closes sockets with {code} (going away / "
                         "restarting): a deploy or a scale-in; judge again once it is over.",
                         "Wait for the restart to finish; if it repeats, look for a crash "
                         "loop in the service's events.", ("stays-open",))
    layer = e.log_layer()
    if code == 1011:
        if layer == "consumer" and e.redis_verified:
            return Diagnosis("consumer", "Open sockets are closed 1011 while Redis works, and "
                             f"the logs show the consumer raising: "
                             f"{e.summary('consumer-errors')}.", e.rem("consumer-errors"),
                             ("stays-open", "consumer-errors"))
        return _unconfirmed(e, Diagnosis(
            "channel-layer", "Open sockets are closed 1011 (server error): the consumer loses "
            "its channel layer.", e.rem("stays-open"),
            ("stays-open",) + (("consumer-errors",) if layer else ())))
    return Diagnosis("consumer", f"The consumer closes open sockets ({code}).",
                     e.rem("stays-open"), ("stays-open",))


def _forbidden(e: _Evidence, p: HandshakeSample) -> Diagnosis:
    """A fast 403: Origin or auth — or the consumer's error close before accept()."""
    if e.sig.origin_allowed is False:
        # The service itself says its validator refuses this Origin: the 403 comes before any
        # token or consumer is looked at, whatever else is wrong.
        also = " Redis is failing too (see redis-reachable)." if e.redis_failing else ""
        return Diagnosis("origin", f"403 on the handshake: {e.summary('allowed-hosts')} "
                         "(the service's own answer)." + also, e.rem("allowed-hosts"),
                         ("allowed-hosts", "handshake-101"), confidence="confirmed")
    if e.st("jwt-valid") == FAIL:
        return Diagnosis("auth", f"403 on the handshake and the token is bad: "
                         f"{e.summary('jwt-valid')}.", e.rem("jwt-valid"),
                         ("jwt-valid", "handshake-101"))
    onset = e.sig.onset
    if onset is not None and onset.classification == "closed-after-accept" \
            and onset.close_code == 1011 and e.sig.service_redis is not True:
        return _unconfirmed(e, Diagnosis(
            "channel-layer", "Open sockets were closed 1011, and new handshakes are now "
            "refused 403 before accept(): the consumer's error close (the runbook's 4500) after "
            "losing its channel layer, not Origin or auth.", "Check Redis as the service sees "
            "it (/api/redis-health/, --redis-url) and the service logs for connect() errors.",
            ("stays-open", "handshake-101", "allowed-hosts")))
    if e.sig.origin_allowed is True and not e.redis_failing and e.log_layer() is None:
        # Known only from a ws-diagnostic that answered 200 to the same token: the service
        # accepts the token over HTTP and its validator allows the Origin.
        return Diagnosis("consumer", "403 although the service accepts this token (its "
                         "ws-diagnostic answered) and its own ALLOWED_HOSTS allows the Origin: "
                         "the consumer closes before accept() — its own check refuses the user, "
                         "the WebSocket auth middleware reads the token differently, or "
                         "connect() fails and closes (the runbook's 4500).",
                         "Read the service logs for the rejection (LoggedConsumerMixin logs "
                         "each one with its reason), and compare the WebSocket auth middleware "
                         "with the HTTP one.", ("allowed-hosts", "handshake-101"),
                         confidence="likely")
    if e.st("allowed-hosts") != FAIL:
        return Diagnosis("unknown", "403 on the handshake: Origin or auth cannot be told "
                         "apart with this evidence.", e.rem("allowed-hosts"),
                         ("allowed-hosts", "jwt-valid"))
    # A valid token and the right Origin get 403: Origin validation — unless connect() fails
    # and the runbook's consumer closes before accept(), which Daphne answers the same way.
    layer = e.log_layer()
    if layer in ("redis", "channel-layer", "consumer"):
        return Diagnosis(layer, "403 with a valid token, and the logs show connect() failing: "
                         f"{e.summary('consumer-errors')} — the consumer's error close before "
                         "accept(), not Origin.", e.rem("consumer-errors"),
                         ("handshake-101", "consumer-errors"))
    decided = e.sig.service_redis is True or (e.st("consumer-errors") in (PASS, WARN))
    if not decided and e.sig.service_pending:
        return Diagnosis("unknown", "403 with a valid token: Origin rejected, or connect() "
                         "failing before accept(); waiting for /api/redis-health/ to tell.",
                         "Wait for the service's diagnostic endpoints to answer.",
                         ("allowed-hosts", "diagnostic-endpoints"))
    if not decided and onset is not None and onset.classification in UPGRADED:
        return Diagnosis("unknown", "403 with a valid token where the same Origin got 101 "
                         "before: an Origin rejection needs a config change, while a consumer "
                         "whose connect() fails closes before accept() the same way.",
                         "Deploy /api/redis-health/ or give --redis-url and --log-file/"
                         "--log-group: a failing Redis means connect(), clean logs mean "
                         "ALLOWED_HOSTS.",
                         ("allowed-hosts", "handshake-101"))
    return Diagnosis("origin", "403 with a valid token: AllowedHostsOriginValidator rejects "
                     "the Origin.", e.rem("allowed-hosts"), ("allowed-hosts", "handshake-101"))


def _here_only(e: _Evidence) -> Diagnosis:
    works = "its /api/redis-health/ says Redis works" if e.sig.service_redis else \
        "its sockets open and its consumer joins its group"
    return Diagnosis("unknown", f"Redis is unreachable from here ({e.redis_here_kind}), but "
                     f"the service reaches it ({works}): wsmonitor's path to Redis, or its "
                     "--redis-url, differs from the service's.",
                     "Give wsmonitor the service's REDIS_URL, or run it where the service runs "
                     "(ElastiCache resolves only inside its VPC).",
                     ("redis-reachable", "handshake-101" if e.p else "diagnostic-endpoints"))


def _after_handshake(e: _Evidence) -> Diagnosis | None:
    """Handshakes work (or are not probed): the evidence beyond them."""
    if e.redis_here_kind is not None and (e.sig.service_redis is True or (
            e.p is not None and e.p.classification == "ok")):
        return _here_only(e)
    if e.st("channel-layer") == FAIL:
        return Diagnosis("channel-layer", f"The channel-layer round trip fails: "
                         f"{e.summary('channel-layer')}.", e.rem("channel-layer"),
                         ("channel-layer",))
    layer = e.log_layer()
    if layer is not None:
        return Diagnosis(layer, f"The service logs show it: {e.summary('consumer-errors')}.",
                         e.rem("consumer-errors"), ("consumer-errors",))
    if e.logs_failing:
        return Diagnosis("consumer", f"The service logs show consumer errors: "
                         f"{e.summary('consumer-errors')}.", e.rem("consumer-errors"),
                         ("consumer-errors",))
    if e.st("notification-delivery") == FAIL:
        return Diagnosis("consumer", "Handshakes work but notifications do not arrive: "
                         f"{e.summary('notification-delivery')}.",
                         e.rem("notification-delivery"), ("notification-delivery",))
    if e.st("redis-url") == FAIL:
        return Diagnosis("redis", f"REDIS_URL is wrong: {e.summary('redis-url')}.",
                         e.rem("redis-url"), ("redis-url",))
    if e.st("redis-commands") == FAIL:
        return Diagnosis("plan-limit", f"The projected command rate is over the plan's quota: "
                         f"{e.summary('redis-commands')}.", e.rem("redis-commands"),
                         ("redis-commands",))
    return None


def _browser_only(e: _Evidence) -> Diagnosis | None:
    """Only the browser fails (CSP, mixed content, the URL or token the page uses): the fault
    is in what the frontend page does, which no server-side layer names."""
    if [r.id for r in e.results if r.status == FAIL] != ["browser-websocket"]:
        return None
    if not any(r.status in (PASS, WARN) for r in e.results if r.id != "browser-websocket"):
        return Diagnosis("unknown", f"The browser fails: {e.summary('browser-websocket')}. "
                         "No server-side check ran to tell a layer behind it (give --url and "
                         "--redis-url).", e.rem("browser-websocket"), ("browser-websocket",))
    return Diagnosis("unknown", f"Only the browser fails: {e.summary('browser-websocket')}. "
                     "No server-side layer is seen failing: the fault is in what the frontend "
                     "page does (its CSP, the URL or token it uses).",
                     e.rem("browser-websocket"), ("browser-websocket",))


def _settle(e: _Evidence) -> Diagnosis:
    results = e.results
    failing = [r.id for r in results if r.status == FAIL]
    if failing:
        return Diagnosis("unknown", f"{', '.join(failing)} failed, but no layer explains it "
                         "alone.", e.rem(failing[0]), tuple(failing))
    decided = [r for r in results if r.status != SKIPPED]
    unknown = [r.id for r in decided if r.status == UNKNOWN]
    # The first socket is being held: its hold's checks answer when it ends (--hold), and
    # everything else already passed: nothing broken is found so far, and the banner says so.
    holding = [cid for cid in unknown if cid in HOLD_CHECKS] \
        if e.sig.holding or (e.p is not None and e.p.interim) else []
    unknown = [cid for cid in unknown if cid not in holding]
    if decided and not unknown and all(r.status in (PASS, WARN) or r.id in holding
                                       for r in decided):
        which = "the first hold" if e.sig.first_hold or not e.sig.holding else "this hold"
        pending = f" ({', '.join(holding)}: when {which} ends)" if holding else ""
        return Diagnosis("none", f"Every check that ran passed{pending}.", "Nothing to fix in "
                         "the layers checked; widen the checks (--url, --log-group) if the "
                         "symptom persists.", tuple(r.id for r in decided))
    return Diagnosis("unknown", "Not enough evidence yet to name a broken layer.",
                     "Waiting for: " + ", ".join(unknown) if unknown else
                     "Configure more probes (--url, --log-group).", tuple(unknown))


# --- hysteresis -------------------------------------------------------------------------------


class VerdictTracker:
    """Decides when a new verdict is confirmed, so one odd sample never passes for a layer.

    Every verdict is shown at once (`wsmonitor.verdict.VerdictPipeline` shows the rules' layer
    on the evidence now); this tracker says whether it is confirmed yet. A verdict of a new
    layer is confirmed once it has been seen on `confirm` evaluations in a row, each on renewed
    evidence — every check whose new sample brought the change has a newer sample again — or
    once the probes that brought it say it `confirm` times in a row (`streaks`: the fast
    probes confirm within two of their samples, however seldom it is evaluated), or after
    `patience` seconds of it alone (a probe that stopped). Leaving ``unknown`` (or the first
    verdict) needs no confirmation: it replaces no answer. ``since`` is when the confirmed
    verdict was first reached, not when it was confirmed.

    Pure: no clock of its own (``now`` is given), no I/O.

    Args:
        confirm: Evaluations on renewed evidence a new layer needs (1: no hysteresis).
        patience: Seconds after which a new layer seen on every evaluation is confirmed even
            when its evidence did not renew.
    """

    def __init__(self, confirm: int = 2, patience: float = 30.0) -> None:
        self.confirm = max(1, confirm)
        self.patience = patience
        self.current: Diagnosis | None = None
        """The confirmed verdict."""
        self.since: float | None = None
        """When the current verdict's layer was first reached."""
        self.pending: Diagnosis | None = None
        """A different layer the evidence points at, not confirmed yet."""
        self.pending_since: float | None = None
        self._seen = 0
        self._trigger: dict[str, float] = {}
        self._probes: list[str] | None = None
        self._last_eval: float | None = None

    def update(self, diagnosis: Diagnosis, now: float,
               results: Sequence[CheckResult] = (),
               streaks: Mapping[str, int] | None = None) -> Diagnosis:
        """Take a fresh diagnosis; returns the confirmed verdict (the fresh one when its
        layer is confirmed; else the one before, and `pending` is the candidate).

        Args:
            diagnosis: The raw verdict of this evaluation.
            now: The evaluation's time (the replay clock when replaying).
            results: The check results it came from (their ``at`` tell renewed evidence).
            streaks: Per probe, how many samples in a row say the same (`streaks`): a new
                layer whose new samples all come in streaks of `confirm` wins at once,
                however seldom it is evaluated.
        """
        previous_eval, self._last_eval = self._last_eval, now
        if self.current is None or diagnosis.layer == self.current.layer:
            if self.current is None:
                self.since = now
            self.current = diagnosis
            self._clear()
            return diagnosis
        if self.current.layer == "unknown" or self.confirm == 1:
            self._adopt(diagnosis, now)
            return diagnosis
        times = _evidence_times(diagnosis, results)
        if self.pending is None or self.pending.layer != diagnosis.layer:
            # What changed since the last evaluation is what brought this verdict: it must
            # renew before the verdict counts again.
            self.pending, self.pending_since, self._seen = diagnosis, now, 1
            self._probes = None
            self._trigger = {cid: at for cid, at in times.items()
                             if previous_eval is None or at > previous_eval}
        else:
            self.pending = diagnosis
            common = [cid for cid in self._trigger if cid in times]
            if all(times[cid] > self._trigger[cid] for cid in common):
                self._seen += 1
                self._trigger = {cid: times[cid] for cid in common}
        if self._probes is None:
            # The probes with samples since the last evaluation that the verdict rests on:
            # the change came with them, so they must say it twice.
            self._probes = _changed(diagnosis, streaks, previous_eval)
        steady = bool(streaks) and bool(self._probes) and all(
            streaks[name][0] >= self.confirm for name in self._probes  # type: ignore[index]
            if name in streaks)  # type: ignore[operator]
        if steady or self._seen >= self.confirm or (
                self.pending_since is not None and now - self.pending_since >= self.patience):
            self._adopt(diagnosis, self.pending_since if self.pending_since is not None
                        else now)
        return self.current

    def _adopt(self, diagnosis: Diagnosis, since: float) -> None:
        self.current, self.since = diagnosis, since
        self._clear()

    def _clear(self) -> None:
        self.pending = self.pending_since = None
        self._seen, self._trigger = 0, {}
        self._probes: list[str] | None = None


def _changed(diagnosis: Diagnosis, streaks: Mapping[str, tuple[int, float, float]] | None,
             previous_eval: float | None) -> list[str]:
    """The probes with samples since the previous evaluation that `diagnosis` rests on."""
    return [name for name, (_n, at, _start) in (streaks or {}).items()
            if (previous_eval is None or at > previous_eval)
            and _feeds(name, diagnosis.checks)]


def _evidence_times(diagnosis: Diagnosis, results: Sequence[CheckResult]) -> dict[str, float]:
    wanted = set(diagnosis.checks)
    return {r.id: r.at for r in results if r.id in wanted and r.at is not None}
