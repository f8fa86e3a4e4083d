"""Pure rules for the WebSocket side: handshake variants, hold-open, token, HTTP endpoints.

Daphne answers an Origin rejection and an auth rejection before ``accept()`` with the same
403, so no single probe can tell them apart; these rules compare the variants and what is
known of the token, and say ``unknown`` rather than guess.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from wsmonitor.rules.base import FAIL, PASS, SKIPPED, UNKNOWN, WARN, CheckContext, CheckResult, \
    sample_age, stale_limit
from wsmonitor.rules.platform import app_runner_fix, front_refuses, idle_cut, idle_remedy, \
    platform_of
from wsmonitor.samples import Sample
from wsmonitor.samples_http import HttpSample
from wsmonitor.samples_ws import HOLD_PROBE, MEANING, PRIMARY_VARIANT, VARIANTS, HandshakeSample

UPGRADED = frozenset({"ok", "closed-after-accept"})
"""The handshake returned 101."""

APP_ANSWERED = frozenset({"forbidden", "connect-stalled", "server-error", "unauthorized"})
"""Answers that come from the application behind the platform (Daphne and its consumer)."""

PLATFORM_CUT = frozenset({"no-status-line", "not-upgraded"})
"""The upgrade never reached a WebSocket server."""

UNREACHABLE = frozenset({"refused", "dns-error", "tls-error", "timeout"})

ORIGIN_NOT_ALLOWED = "the service's Origin validator rejects the Origin"
"""How allowed-hosts begins when wsmonitor.django's ws-diagnostic proves the Origin is not
allowed."""

APP_RUNNER_SUFFIX = ".awsapprunner.com"
APP_RUNNER_FACT = ("AWS App Runner has no WebSocket support (aws/apprunner-roadmap#13, closed); "
                   "it takes no new customers since 2026-04-30 and AWS points to ECS Express "
                   "Mode (Fargate + ALB)")

CLOSE_MEANING = {
    1000: "normal close by the server",
    1001: "the server is going away (deploy or scale-in)",
    1006: "dropped without a close frame: a proxy or the platform cut the connection",
    1011: "server error: the consumer failed, usually the channel layer (Redis)",
    1012: "the service is restarting",
    4401: "the consumer rejected the token after accept() (auth)",
    4500: "the consumer failed in connect() (the runbook's error close)",
}

HANDSHAKE_REMEDY = {
    "forbidden": "Tell Origin from auth: see allowed-hosts and jwt-valid.",
    "connect-stalled": "connect() hung for Daphne's 5 s timeout: the consumer waits on the "
                       "channel layer; check Redis from the service (/api/redis-health/).",
    "unauthorized": "A gateway or auth layer in front of Daphne rejected the request: check "
                    "its authoriser, not Django.",
    "server-error": "An exception in the handshake: check the service logs for the traceback "
                    "(often Redis down: see redis-reachable).",
    "bad-gateway": "The proxy cannot reach the app: is Daphne running and listening on the "
                   "port the proxy targets?",
    "gateway-timeout": "The proxy timed out waiting for the app: Daphne is overloaded or "
                       "connect() hangs.",
    "not-upgraded": "Something answered plain HTTP: the proxy drops Upgrade/Connection headers "
                    "(nginx: proxy_set_header Upgrade $http_upgrade; Connection \"upgrade\"), "
                    "or the path is wrong.",
    "no-status-line": "The platform or load balancer cut the upgrade: App Runner and some "
                      "gateways cannot pass WebSockets; put an ALB (or ECS Express Mode) in front.",
    "timeout": "Nothing answered: a firewall or security group drops the traffic.",
    "refused": "Nothing listens there: check the host and port of --url.",
    "dns-error": "The host does not resolve: check --url.",
    "tls-error": "TLS failed: check the certificate chain (--ca-file for a private CA).",
}




def _fresh(samples: Sequence[Sample], ctx: CheckContext, now: float) -> Sample | None:
    if not samples:
        return None
    last = samples[-1]
    return None if now - last.at > stale_limit(ctx, last.probe) else last


def attempts(samples: Sequence[Sample]) -> list[HandshakeSample]:
    """One sample per handshake attempt: an interim sample is dropped once its attempt's own
    sample follows, whatever it is (a trailing one, of the socket held now, stays)."""
    last = len(samples) - 1
    return [s for i, s in enumerate(samples)
            if isinstance(s, HandshakeSample) and not (s.interim and i < last)]


def settled(samples: Sequence[Sample]) -> list[HandshakeSample]:
    """`attempts`, but a held socket's interim does not replace a hold that failed
    (``closed-after-accept``): that verdict stands until this hold ends."""
    out = attempts(samples)
    if len(out) >= 2 and out[-1].interim and out[-2].classification == "closed-after-accept":
        out.pop()
    return out


def held_samples(history: Mapping[str, Sequence[Sample]]) -> Sequence[Sample]:
    """The held socket's samples: the ``hold`` probe's, or, in a recording made before the
    held socket was a probe of its own, the ``token+origin`` probe's."""
    if HOLD_PROBE in history:
        return history[HOLD_PROBE]
    return history.get(f"handshake:{PRIMARY_VARIANT}", ())


def last_hold(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
              now: float) -> HandshakeSample | None:
    """The held socket as the hold's checks judge it: the newest fresh sample, but while a
    socket is being held, the last finished hold (when still fresh) stands for it."""
    samples = [s for s in held_samples(history) if isinstance(s, HandshakeSample)]
    if not samples or now - samples[-1].at > stale_limit(ctx, samples[-1].probe):
        return None
    if samples[-1].interim:
        finished = [s for s in samples if not s.interim]
        # A finished hold stands while the next socket is held; one that never got its 101
        # (the handshake failed) held nothing, and the socket open now says more.
        if finished and finished[-1].classification in UPGRADED \
                and now - finished[-1].at <= stale_limit(ctx, finished[-1].probe):
            return finished[-1]
    return samples[-1]


def diagnosis_variants(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                       now: float) -> dict[str, HandshakeSample]:
    """`latest_variants` as the diagnosis reads them: ``token+origin`` from `settled`, and
    a held socket that the server closed stands for it while the fresh handshakes pass (the
    close code is the evidence: 1011, 1006, 4401 …)."""
    v = latest_variants(ctx, history, now)
    if PRIMARY_VARIANT in v and v[PRIMARY_VARIANT].interim:
        s = settled(history.get(f"handshake:{PRIMARY_VARIANT}", ()))
        if s and now - s[-1].at <= stale_limit(ctx, s[-1].probe):
            v[PRIMARY_VARIANT] = s[-1]
    p = v.get(PRIMARY_VARIANT)
    if HOLD_PROBE in history and (p is None or p.classification == "ok"):
        held = last_hold(ctx, history, now)
        if held is not None and held.classification == "closed-after-accept":
            v[PRIMARY_VARIANT] = held
    return v


def held_variants(ctx: CheckContext, history: Mapping[str, Sequence[Sample]], now: float,
                  v: Mapping[str, HandshakeSample]) -> dict[str, HandshakeSample]:
    """`latest_variants` for the checks that judge a hold: ``token+origin`` is the held
    socket (`last_hold`)."""
    out = dict(v)
    held = last_hold(ctx, history, now)
    if held is None:
        out.pop(PRIMARY_VARIANT, None)
    else:
        out[PRIMARY_VARIANT] = held
    return out


def latest_variants(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                    now: float) -> dict[str, HandshakeSample]:
    """The newest fresh sample of each handshake variant.

    A variant whose newest sample is older than the change the ``token+origin`` handshake
    just went through (the first attempt of its current outcome) is left out until it runs
    again: it answered the service as it was before (the variants run half as often), and
    would hold back or contradict the verdict on the change.
    """
    primary = settled(history.get(f"handshake:{PRIMARY_VARIANT}", ()))
    changed_at = None
    if primary:
        newest = primary[-1].classification
        for before, after in zip(reversed(primary[:-1]), reversed(primary[1:])):
            if before.classification != newest:
                changed_at = after.at
                break
    out: dict[str, HandshakeSample] = {}
    for variant in VARIANTS:
        sample = _fresh(history.get(f"handshake:{variant}", ()), ctx, now)
        if not isinstance(sample, HandshakeSample):
            continue
        if variant != PRIMARY_VARIANT and changed_at is not None and sample.at < changed_at:
            continue
        out[variant] = sample
    return out


def describe(s: HandshakeSample, now: float) -> str:
    """One evidence line for a handshake sample."""
    status = s.status_line or (f"{s.status}" if s.status else "no status line")
    extra = ""
    if s.close_code is not None:
        extra = f", closed {s.close_code} after {s.closed_at_s or 0:.1f} s"
    elapsed = f" after {s.elapsed_s:.2f} s" if s.elapsed_s is not None else ""
    holding = ", holding it" if s.interim else ""
    return (f"{s.variant} {sample_age(s, now)}: {s.classification} — {status}{elapsed}{extra}"
            f"{holding}")


def token_state(ctx: CheckContext, now: float) -> str:
    """``valid``, ``invalid`` or ``unknown`` (well formed, but the key was not given)."""
    t = ctx.token
    if t is None:
        return "absent"
    if t.error_kind in ("malformed", "bad-input") or t.verified is False:
        return "invalid"
    if t.token_type not in (None, "access") or (t.exp is not None and t.exp <= now):
        return "invalid"
    if t.error_kind in ("expired", "wrong-type", "missing-claim"):
        return "invalid"
    return "valid" if t.verified else "unknown"


def websocket_checks(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                     now: float | None = None) -> dict[str, CheckResult]:
    """The checks that rest on the handshake and HTTP probes."""
    now = time.time() if now is None else now
    v = latest_variants(ctx, history, now)
    held = held_variants(ctx, history, now, v)
    return {
        "platform-websocket": platform_websocket(ctx, v, history, now),
        "allowed-hosts": allowed_hosts(ctx, v, now, service_failing(ctx, history, now),
                                       _http(ctx, history, "ws-diagnostic", now)),
        "jwt-valid": jwt_valid(ctx, v, now, http_auth_rejections(ctx, history, now)),
        "handshake-101": handshake_101(ctx, v, history, now),
        "stays-open": stays_open(ctx, held, now),
        "ping-pong": ping_pong(ctx, held, now),
        "polling-fallback": polling_fallback(ctx, history, now),
        "diagnostic-endpoints": diagnostic_endpoints(ctx, history, now),
    }


def _not_configured(cid: str) -> CheckResult:
    return CheckResult(cid, SKIPPED, "not configured: give --url")


def _waiting(cid: str, what: str = "the first handshake") -> CheckResult:
    return CheckResult(cid, UNKNOWN, f"waiting for {what}")


def is_app_runner(ctx: CheckContext) -> bool:
    return bool(ctx.url_host and ctx.url_host.lower().rstrip(".").endswith(APP_RUNNER_SUFFIX))


def platform_websocket(ctx: CheckContext, v: Mapping[str, HandshakeSample],
                       history: Mapping[str, Sequence[Sample]], now: float) -> CheckResult:
    cid = "platform-websocket"
    if not ctx.url_configured:
        return _not_configured(cid)
    apprunner = is_app_runner(ctx)
    facts = (f"fact: {APP_RUNNER_FACT}",) if apprunner else ()
    if not v:
        if apprunner:
            return CheckResult(cid, WARN, "App Runner: no WebSocket support is documented",
                               facts, app_runner_fix())
        return _waiting(cid)
    evidence = tuple(describe(s, now) for s in v.values()) + facts
    at = max(s.at for s in v.values())
    classes = {s.classification for s in v.values()}
    pf = platform_of(history, ctx.url_host, now)
    refused = front_refuses(pf, bool(classes & UPGRADED))
    if refused is not None:
        return CheckResult(cid, FAIL, refused[0], evidence + refused[1], refused[2], at)
    if pf.front_error is not None and not classes & UPGRADED:
        return CheckResult(cid, UNKNOWN, f"a proxy answers itself ({pf.front_error}): cannot "
                           "tell whether upgrades pass", evidence + pf.evidence,
                           "See handshake-101.", at)
    if classes & UPGRADED:
        return CheckResult(cid, PASS, "the platform passes the WebSocket upgrade (101 seen)",
                           evidence, "", at)
    if classes & APP_ANSWERED:
        return CheckResult(cid, PASS, "the upgrade request reaches the application "
                           f"(it answered {', '.join(sorted(classes & APP_ANSWERED))})",
                           evidence, "", at)
    if classes <= PLATFORM_CUT:
        cut = "closes the connection before any status line" if "no-status-line" in classes \
            else "answers plain HTTP without upgrading"
        remedy = (app_runner_fix() if apprunner else
                  HANDSHAKE_REMEDY["not-upgraded" if "not-upgraded" in classes
                                   else "no-status-line"])
        return CheckResult(cid, FAIL, f"the upgrade is blocked: the platform {cut}", evidence,
                           remedy, at)
    if classes & {"bad-gateway", "gateway-timeout"}:
        return CheckResult(cid, UNKNOWN, "a proxy answers, the app behind it does not: cannot "
                           "tell whether upgrades pass", evidence, "See handshake-101.", at)
    return CheckResult(cid, UNKNOWN, "the endpoint cannot be reached: "
                       f"{', '.join(sorted(classes))}", evidence, "See handshake-101.", at)


def handshake_101(ctx: CheckContext, v: Mapping[str, HandshakeSample],
                  history: Mapping[str, Sequence[Sample]], now: float) -> CheckResult:
    cid = "handshake-101"
    if not ctx.url_configured:
        return _not_configured(cid)
    p = v.get(PRIMARY_VARIANT)
    if p is None:
        return _waiting(cid)
    recent = attempts(history.get(f"handshake:{PRIMARY_VARIANT}", ())[-21:])[-10:]
    upgraded = sum(1 for s in recent if s.classification in UPGRADED)
    evidence = [describe(p, now)]
    t = p.timings_ms
    phases = ", ".join(f"{name} {value:.1f} ms" for name, value in
                       (("dns", t.dns), ("tcp", t.tcp), ("tls", t.tls), ("upgrade", t.upgrade))
                       if value is not None)
    if phases:
        evidence.append(f"timings: {phases}")
    evidence.append(f"{upgraded} of the last {len(recent)} handshakes returned 101")
    if p.classification in UPGRADED:
        status = PASS if upgraded == len(recent) else WARN
        return CheckResult(cid, status, "101 Switching Protocols" +
                           ("" if status == PASS else ", with recent failures"), tuple(evidence),
                           "" if status == PASS else "Intermittent: compare the failing "
                           "samples' classifications.", p.at)
    meaning = MEANING.get(p.classification, p.classification)
    return CheckResult(cid, FAIL, f"{p.classification}: {meaning}", tuple(evidence),
                       HANDSHAKE_REMEDY.get(p.classification, ""), p.at)


def service_failing(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                    now: float) -> bool:
    """The service's own diagnostics report a failure (Redis or the channel layer)."""
    for endpoint in ("redis-health", "ws-diagnostic"):
        s = _http(ctx, history, endpoint, now)
        if s is not None and s.status != 404 and (s.healthy is False or
                                                  s.error_kind in ("server-error", "unhealthy")):
            return True
    return False


def service_origin(p: HandshakeSample | None,
                   diag: HttpSample | None) -> tuple[bool | None, str]:
    """Whether the service's own Origin validator lets the probe's Origin through, from
    wsmonitor.django's ws-diagnostic answer: ``(allowed, evidence line)``; None when the answer
    does not say (the runbook's plain view, no validator, no Origin sent)."""
    if p is None or diag is None or not diag.origin_validator or diag.origin_patterns is None \
            or not p.origin:
        return None, ""
    from wsmonitor.origins import origin_allowed, origin_host

    allowed = origin_allowed(p.origin, diag.origin_patterns)
    shown = ", ".join(diag.origin_patterns[:8]) + (" …" if len(diag.origin_patterns) > 8
                                                    else "")
    return allowed, (f"ws-diagnostic: the service's Origin validator allows [{shown}]; "
                     f"{origin_host(p.origin)} is {'' if allowed else 'not '}among them")


def allowed_hosts(ctx: CheckContext, v: Mapping[str, HandshakeSample],
                  now: float, service_down: bool = False,
                  diag: HttpSample | None = None) -> CheckResult:
    cid = "allowed-hosts"
    if not ctx.url_configured:
        return _not_configured(cid)
    p, nt, wo = v.get(PRIMARY_VARIANT), v.get("no-token"), v.get("wrong-origin")
    if p is None:
        return _waiting(cid)
    evidence = tuple(describe(s, now) for s in v.values())
    allowed, seen = service_origin(p, diag)
    if allowed is False:
        from wsmonitor.origins import origin_host

        host = origin_host(p.origin)
        return CheckResult(cid, FAIL, f"{ORIGIN_NOT_ALLOWED}: {host} is not in its "
                           "ALLOWED_HOSTS", (seen,) + evidence,
                           f"Add {host!r} to ALLOWED_HOSTS (or '.' and its domain for every "
                           "subdomain); the port is ignored. Check --origin is what the "
                           "browser sends.", max(p.at, diag.at) if diag else p.at)
    if allowed and p.classification == "forbidden":
        return CheckResult(cid, PASS, "the service's own ALLOWED_HOSTS allows the Origin: "
                           "the 403 is not Origin validation", (seen,) + evidence,
                           "The consumer refuses the connection before accept(): see jwt-valid "
                           "and the service logs.", p.at)
    if wo is not None and wo.classification in UPGRADED:
        return CheckResult(cid, WARN, "a foreign Origin is accepted: Origin validation is off",
                           evidence, "Wrap the router in AllowedHostsOriginValidator and list "
                           "only your hosts in ALLOWED_HOSTS: any site can open sockets as "
                           "your users.", wo.at)
    if p.classification in UPGRADED or (nt is not None and nt.classification in UPGRADED):
        return CheckResult(cid, PASS, "the right Origin gets through (the consumer ran)",
                           evidence, "", p.at)
    if p.classification == "forbidden":
        state = token_state(ctx, now)
        if service_down:
            return CheckResult(
                cid, UNKNOWN, "403 while the service reports Redis failing: the consumer's error "
                "close before accept() looks the same as an Origin rejection", evidence,
                "Fix Redis first (see redis-reachable and diagnostic-endpoints), then re-judge.",
                p.at)
        if state == "valid":
            return CheckResult(
                cid, FAIL, "403 with a valid token: the Origin is rejected", evidence,
                "Add the site's host (the one in the Origin header) to ALLOWED_HOSTS; the port "
                "is ignored by the validator. Check --origin is what the browser sends.", p.at)
        why = {"invalid": "the token is rejected anyway, so auth fails first",
               "unknown": "the token's signature is unchecked (give --jwt-secret)",
               "absent": "no token is sent (give --token or --jwt-secret)"}[state]
        return CheckResult(cid, UNKNOWN, f"403 on every variant: Origin or auth — {why}",
                           evidence, "Probe with a token known to be valid (--jwt-secret and "
                           "--jwt-user-id mint one) to tell Origin from auth.", p.at)
    return CheckResult(cid, UNKNOWN, f"the handshake does not reach Origin validation "
                       f"({p.classification})", evidence, "See handshake-101.", p.at)


def http_auth_rejections(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                         now: float) -> list[HttpSample]:
    """Authenticated HTTP endpoints that answered 401/403 to the probe's token."""
    out = []
    for endpoint in ("ws-diagnostic", "polling"):
        s = _http(ctx, history, endpoint, now)
        if s is not None and s.auth_sent and s.status in (401, 403):
            out.append(s)
    return out


def jwt_valid(ctx: CheckContext, v: Mapping[str, HandshakeSample], now: float,
              http_rejections: Sequence[HttpSample] = ()) -> CheckResult:
    cid = "jwt-valid"
    t = ctx.token
    if t is None:
        return CheckResult(cid, SKIPPED, "no token: give --token, or --jwt-secret and "
                           "--jwt-user-id to mint one per probe")
    p = v.get(PRIMARY_VARIANT)
    evidence: list[str] = [_http_line(s, now) for s in http_rejections]
    if t.source == "minted":
        evidence.append(f"a fresh access token is minted per probe for user {t.user_id}")
    else:
        exp = "no exp" if t.exp is None else (
            f"expired {now - t.exp:.0f} s ago" if t.exp <= now else
            f"expires in {t.exp - now:.0f} s")
        evidence.append(f"--token: {t.token_type or 'no token_type'} token, user "
                        f"{t.user_id or '?'}, {exp}, "
                        f"signature {'verified' if t.verified else 'NOT matching the key' if t.verified is False else 'not checked (no --jwt-secret)'}")
    if p is not None:
        evidence.append(describe(p, now))
    at = p.at if p else None
    remedy_new = ("Mint a fresh access token (`wsmonitor token --jwt-secret … --jwt-user-id …`, "
                  "or AccessToken.for_user(user) in manage.py shell) and retry.")
    if t.error and t.error_kind in ("malformed", "bad-input"):
        return CheckResult(cid, FAIL, f"the token is malformed: {t.error}", tuple(evidence),
                           remedy_new, at)
    accepted = p is not None and p.classification in UPGRADED and p.close_code != 4401
    if t.verified is False and accepted:
        return CheckResult(cid, WARN, "the service accepts the token, but --jwt-secret is not "
                           "the key it was signed with", tuple(evidence), "Give the service's "
                           "SECRET_KEY (or SIMPLE_JWT SIGNING_KEY) as --jwt-secret.", at)
    if t.verified is False:
        return CheckResult(cid, FAIL, "the signature does not match --jwt-secret",
                           tuple(evidence), "The service signs with its SECRET_KEY (or "
                           "SIMPLE_JWT SIGNING_KEY): the token comes from another environment, "
                           "or --jwt-secret is not that key.", at)
    if t.token_type is not None and t.token_type != "access":
        return CheckResult(cid, FAIL, f"a {t.token_type} token, not an access token",
                           tuple(evidence), "The socket needs the access token, not the "
                           "refresh token: check what the frontend puts in ?token=.", at)
    if t.exp is not None and t.exp <= now:
        return CheckResult(cid, FAIL, "the token is expired", tuple(evidence), remedy_new, at)
    if t.source == "given" and not t.has_jti:
        return CheckResult(cid, FAIL, "the token has no jti claim: simplejwt rejects it",
                           tuple(evidence), remedy_new, at)
    if http_rejections:
        s = http_rejections[0]
        return CheckResult(cid, FAIL, f"the service rejects the token ({s.status} from "
                           f"{s.endpoint} with the same token)", tuple(evidence),
                           "The token is well formed but the service refuses it: signed with "
                           "another environment's key, unknown user, or revoked. "
                           + remedy_new, s.at)
    if p is not None and p.classification == "closed-after-accept" and p.close_code == 4401:
        return CheckResult(cid, FAIL, "the service rejected the token (closed 4401)",
                           tuple(evidence), "The token is well formed but the service refuses "
                           "it: unknown user, revoked, or signed with another key.", p.at)
    if p is not None and p.classification in UPGRADED and p.close_code != 4401:
        return CheckResult(cid, PASS, "the service accepts the token", tuple(evidence), "",
                           p.at)
    if t.exp is not None and t.exp - now < 60:
        return CheckResult(cid, WARN, f"the token expires in {t.exp - now:.0f} s",
                           tuple(evidence), remedy_new, at)
    if t.verified is None:
        return CheckResult(cid, WARN if p is None or p.classification == "forbidden" else PASS,
                           "well formed and unexpired; signature not checked", tuple(evidence),
                           "Give --jwt-secret to check the signature.", at)
    return CheckResult(cid, PASS, "well formed, an access token, unexpired, correctly signed",
                       tuple(evidence), "", at)


def _held_socket(ctx: CheckContext, v: Mapping[str, HandshakeSample], now: float, cid: str,
                 no_socket: str) -> HandshakeSample | CheckResult:
    """The held ``token+origin`` sample, or the verdict for when there is none to judge."""
    if not ctx.url_configured:
        return _not_configured(cid)
    p = v.get(PRIMARY_VARIANT)
    if p is None:
        return _waiting(cid, "the first held socket")
    if p.classification not in UPGRADED:
        return CheckResult(cid, UNKNOWN, no_socket, (describe(p, now),), "See handshake-101.",
                           p.at)
    if p.interim:
        held = (p.held_s or 0.0) + max(0.0, now - p.at)
        return CheckResult(cid, UNKNOWN, f"holding a socket: {min(held, p.hold_s):.0f} s "
                           f"of {p.hold_s:.0f} s so far", (describe(p, now),), "", p.at)
    return p


def stays_open(ctx: CheckContext, v: Mapping[str, HandshakeSample], now: float) -> CheckResult:
    cid = "stays-open"
    p = _held_socket(ctx, v, now, cid, "no 101 to hold open")
    if isinstance(p, CheckResult):
        return p
    evidence = [describe(p, now)]
    if p.classification == "closed-after-accept":
        code = p.close_code
        meaning = CLOSE_MEANING.get(code or 0, "closed by the server") if code is not None \
            else "dropped"
        remedy = {
            1006: "Something between cut the socket: the platform's or load balancer's idle or "
                  "request timeout (App Runner: 120 s per request), or a proxy without "
                  "WebSocket support.",
            1011: "The consumer crashed: usually the channel layer lost Redis (see "
                  "redis-reachable); the logs show the traceback.",
            4401: "Auth rejected after accept(): see jwt-valid.",
            4500: "The consumer's connect() failed: the logs show why (often group_add on "
                  "Redis).",
        }.get(code or 1006, "See the close reason and the service logs.")
        quiet = idle_cut(p)
        front = platform_of({p.probe: [p]}, ctx.url_host, now, max_age=float("inf")).front
        if quiet is not None:
            meaning = f"cut after {quiet:.0f} s without traffic: an idle timeout on the path"
            remedy = idle_remedy(front, quiet)
        return CheckResult(cid, FAIL, f"closed {code} after {p.closed_at_s or 0:.1f} s: {meaning}",
                           tuple(evidence), remedy, p.at)
    held = p.held_s or 0.0
    if p.hold_s and held + 0.5 < p.hold_s:
        return CheckResult(cid, WARN, f"held {held:.1f} s of {p.hold_s:.0f} s",
                           tuple(evidence), "", p.at)
    ack = "; connection.ack received" if p.ack_received else "; no connection.ack"
    return CheckResult(cid, PASS, f"open for the whole hold ({held:.1f} s){ack}",
                       tuple(evidence), "", p.at)


def ping_pong(ctx: CheckContext, v: Mapping[str, HandshakeSample], now: float) -> CheckResult:
    cid = "ping-pong"
    p = _held_socket(ctx, v, now, cid, "no open socket to ping")
    if isinstance(p, CheckResult):
        return p
    evidence = [f"protocol ping: {p.pongs_received}/{p.pings_sent} answered" +
                (f", rtt {p.ping_rtt_ms:.1f} ms" if p.ping_rtt_ms is not None else "")]
    if p.app_ping_sent:
        evidence.append("app {\"type\":\"ping\"}: " + (
            f"pong in {p.app_pong_ms:.1f} ms" if p.app_pong_ms is not None else "no pong"))
    if p.pings_sent and not p.pongs_received:
        return CheckResult(cid, FAIL, "protocol pings unanswered", tuple(evidence),
                           "A proxy swallows control frames, or the server is stuck.", p.at)
    if not p.pings_sent and not p.app_ping_sent:
        return CheckResult(cid, UNKNOWN, "no ping sent during the hold", tuple(evidence),
                           "Raise --hold above the ping interval (10 s).", p.at)
    if p.app_ping_sent and p.app_pong_ms is None:
        return CheckResult(cid, WARN, "protocol ping works; the app does not answer "
                           "{\"type\":\"ping\"}", tuple(evidence), "Fine if the consumer has no "
                           "ping handler; the runbook's consumer answers with pong.", p.at)
    return CheckResult(cid, PASS, "ping/pong work", tuple(evidence), "", p.at)


def _http(ctx: CheckContext, history: Mapping[str, Sequence[Sample]], endpoint: str,
          now: float) -> HttpSample | None:
    sample = _fresh(history.get(f"http:{endpoint}", ()), ctx, now)
    return sample if isinstance(sample, HttpSample) else None


def _http_line(s: HttpSample, now: float) -> str:
    status = f"{s.status} {s.reason or ''}".strip() if s.status else (s.error or "no answer")
    detail = "; ".join(f"{k}={val}" for k, val in s.summary[:4])
    return f"{s.endpoint} {sample_age(s, now)}: {status}" + (f" ({detail})" if detail else "")


def _bad_host_remedy(s: HttpSample) -> str:
    from urllib.parse import urlsplit

    host = urlsplit(s.url).hostname or "the API's host"
    return (f"Add {host!r} to ALLOWED_HOSTS: Django answers 400 to every HTTP request whose "
            "Host is not in it (the polling fallback and the diagnostics fail, while the "
            "WebSocket Origin check is separate).")


def _companion_lines(s: HttpSample | None) -> tuple[str, ...]:
    """What wsmonitor.django's ws-diagnostic adds, as evidence lines (none for the plain view)."""
    if s is None:
        return ()
    out = []
    if s.allowed_hosts is not None:
        validator = {True: "on", False: "none on the WebSocket branch"}.get(
            s.origin_validator, "not reported")  # type: ignore[arg-type]
        out.append(f"ws-diagnostic: ALLOWED_HOSTS [{', '.join(s.allowed_hosts[:8])}]; Origin "
                   f"validator {validator}")
    if s.layer_round_trip_ms is not None or s.layer_error_kind:
        out.append("ws-diagnostic: the service's channel-layer round trip " + (
            f"failed ({s.layer_error_kind})" if s.layer_error_kind else
            f"took {s.layer_round_trip_ms:.1f} ms"))
    return tuple(out)


def polling_fallback(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                     now: float) -> CheckResult:
    cid = "polling-fallback"
    if not ctx.http_configured:
        return CheckResult(cid, SKIPPED, "not configured: give --url or --api-base")
    s = _http(ctx, history, "polling", now)
    if s is None:
        return _waiting(cid, "the polling endpoint")
    if s.ok:
        return CheckResult(cid, PASS, f"answers {s.status}", (_http_line(s, now),), "", s.at)
    remedy = {"auth": "The polling endpoint rejects the token: see jwt-valid.",
              "not-found": "Give the real path with --polling-path.",
              "bad-host": _bad_host_remedy(s)}.get(
        s.error_kind or "", "The fallback itself is broken: users get no notifications at all.")
    return CheckResult(cid, FAIL, f"fails: {s.error_kind or s.status}", (_http_line(s, now),),
                       remedy, s.at)


def diagnostic_endpoints(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
                         now: float) -> CheckResult:
    cid = "diagnostic-endpoints"
    if not ctx.http_configured:
        return CheckResult(cid, SKIPPED, "not configured: give --url or --api-base")
    samples = {e: _http(ctx, history, e, now) for e in ("redis-health", "ws-diagnostic")}
    got = {e: s for e, s in samples.items() if s is not None}
    if not got:
        return _waiting(cid, "the diagnostic endpoints")
    evidence = tuple(_http_line(s, now) for s in got.values()) + _companion_lines(
        got.get("ws-diagnostic"))
    at = max(s.at for s in got.values())
    missing = [e for e, s in got.items() if s.status == 404]
    refused = [e for e, s in got.items() if s.status in (401, 403)]
    limited = [e for e, s in got.items() if s.status == 429]
    failing = [e for e, s in got.items() if not s.ok and s.status not in (401, 403, 404, 429)]
    if failing and all(got[e].error_kind == "bad-host" for e in failing):
        return CheckResult(cid, FAIL, f"Django answers 400 to {' and '.join(failing)}: the "
                           "API's host is not in ALLOWED_HOSTS", evidence,
                           _bad_host_remedy(got[failing[0]]), at)
    if failing:
        return CheckResult(cid, FAIL, f"{' and '.join(failing)} report a failure", evidence,
                           "The service itself sees the failure: read the endpoint's message "
                           "(redis_error) and the service logs.", at)
    if refused:
        return CheckResult(cid, UNKNOWN, f"{' and '.join(refused)} rejected the token: the "
                           "service's view is hidden", evidence, "See jwt-valid.", at)
    if limited:
        return CheckResult(cid, UNKNOWN, f"{' and '.join(limited)} answered 429 (rate "
                           "limited): the service's view is hidden for now", evidence,
                           "Another monitor or a scanner polls it too: wait, or raise "
                           "WSMONITOR['RATE_BURST'] in the service's settings.", at)
    if len(missing) == len(got):
        return CheckResult(cid, WARN, "the runbook's diagnostic views are not deployed (404)",
                           evidence, "Add /api/redis-health/ and /api/ws-diagnostic/: pip "
                           "install 'wsmonitor[django]', INSTALLED_APPS += "
                           "['wsmonitor.django'], path('api/', include('wsmonitor.django.urls'))"
                           " — they show Redis as the service sees it.", at)
    if len(got) < 2:
        return CheckResult(cid, UNKNOWN, "waiting for both endpoints", evidence, "", at)
    return CheckResult(cid, PASS if not missing else WARN,
                       "healthy" if not missing else f"{missing[0]} not deployed", evidence, "",
                       at)
