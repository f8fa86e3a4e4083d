"""One verdict above the checks: the layer most likely broken, and what to do first.

Pure: check results and the newest handshake samples in, a `Diagnosis` out. It reads the
evidence the way the runbook's expert would, and says ``unknown`` — with what would decide —
when the evidence conflicts or is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wsmonitor.checks import FAIL, PASS, SKIPPED, UNKNOWN, WARN, CheckResult, Diagnosis
from wsmonitor.checks_ws import APP_RUNNER_FACT, UPGRADED
from wsmonitor.probes.handshake import PRIMARY_VARIANT, HandshakeSample

LAYERS = ("none", "platform", "proxy", "origin", "auth", "consumer", "channel-layer", "redis",
          "plan-limit", "unknown")
"""SPEC's layers."""


def diagnose(results: Sequence[CheckResult],
             variants: Mapping[str, HandshakeSample] | None = None,
             *, app_runner: bool = False, service_down: bool = False,
             log_categories: Mapping[str, int] | None = None) -> Diagnosis:
    """Name the broken layer.

    Args:
        results: Every check's result.
        variants: The newest fresh sample of each handshake variant.
        app_runner: The endpoint is on App Runner.
        service_down: The service's own diagnostics (/api/redis-health/, /api/ws-diagnostic/)
            report Redis or the channel layer failing.
        log_categories: Non-zero counts per log category over the logs window.
    """
    by_id = {r.id: r for r in results}
    v = variants or {}

    def st(cid: str) -> str:
        return by_id[cid].status if cid in by_id else UNKNOWN

    def rem(cid: str) -> str:
        return by_id[cid].remedy if cid in by_id else ""

    p = v.get(PRIMARY_VARIANT)
    classes = {s.classification for s in v.values()}
    service_redis_down = st("redis-reachable") == FAIL and \
        "service" in by_id["redis-reachable"].summary

    # Redis first: when it is down every upper layer fails too, and the fix is there.
    if st("redis-reachable") == FAIL:
        r = by_id["redis-reachable"]
        where = "from the service" if service_redis_down else "from here"
        return Diagnosis("redis", f"Redis is unreachable {where} ({r.summary}); the channel "
                         "layer cannot work.", r.remedy, ("redis-reachable",))
    limit = [c for c in ("redis-connections", "redis-commands") if st(c) == FAIL]
    if limit:
        r = by_id[limit[0]]
        return Diagnosis("plan-limit", f"Redis answers but a plan limit is hit: {r.summary}.",
                         r.remedy, tuple(limit))

    if p is not None:
        c = p.classification
        if classes and classes <= {"no-status-line", "not-upgraded"}:
            if "not-upgraded" in classes and "no-status-line" not in classes and not app_runner:
                return Diagnosis("proxy", "Plain HTTP answers the upgrade: a proxy drops the "
                                 "Upgrade headers (or the path is wrong).",
                                 rem("platform-websocket") or rem("handshake-101"),
                                 ("platform-websocket", "handshake-101"))
            summary = "The platform cuts the WebSocket upgrade before any status line."
            if app_runner:
                summary = f"The platform cannot upgrade: {APP_RUNNER_FACT}."
            return Diagnosis("platform", summary, rem("platform-websocket"),
                             ("platform-websocket", "handshake-101"))
        if c in ("bad-gateway", "gateway-timeout"):
            return Diagnosis("proxy", f"The proxy answers {p.status}: it cannot reach the app "
                             "or times out waiting for it.", rem("handshake-101"),
                             ("handshake-101",))
        if c == "connect-stalled":
            return Diagnosis("channel-layer", "connect() hangs until Daphne's 5 s timeout: the "
                             "consumer waits on the channel layer (Redis).",
                             rem("handshake-101"), ("handshake-101", "redis-reachable"))
        if c == "server-error":
            layer = "channel-layer" if service_down else "consumer"
            return Diagnosis(layer, "The handshake fails with a server error"
                             + (" and the service's diagnostics report Redis failing."
                                if layer == "channel-layer" else
                                ": an exception in the consumer's connect()."),
                             rem("handshake-101"), ("handshake-101", "diagnostic-endpoints"))
        if c == "closed-after-accept":
            code = p.close_code
            if code == 4401:
                return Diagnosis("auth", "The socket opens, then the consumer rejects the "
                                 "token (4401).", rem("jwt-valid"), ("jwt-valid", "stays-open"))
            if code == 1011 or (code == 4500 and service_down):
                return Diagnosis("channel-layer", f"Open sockets are closed {code}: the "
                                 "consumer loses the channel layer.", rem("stays-open"),
                                 ("stays-open", "diagnostic-endpoints"))
            if code == 1006:
                return Diagnosis("proxy", "Open sockets are dropped without a close frame: "
                                 "something between cuts them.", rem("stays-open"),
                                 ("stays-open",))
            return Diagnosis("consumer", f"The consumer closes open sockets ({code}).",
                             rem("stays-open"), ("stays-open",))
        if c == "forbidden":
            if st("jwt-valid") == FAIL:
                return Diagnosis("auth", f"403 on the handshake and the token is bad: "
                                 f"{by_id['jwt-valid'].summary}.", rem("jwt-valid"),
                                 ("jwt-valid", "handshake-101"))
            if st("allowed-hosts") == FAIL:
                return Diagnosis("origin", "403 with a valid token: AllowedHostsOriginValidator "
                                 "rejects the Origin.", rem("allowed-hosts"),
                                 ("allowed-hosts", "handshake-101"))
            if service_down:
                return Diagnosis("channel-layer", "403 on the handshake while the service's "
                                 "diagnostics report Redis failing: the consumer's error close "
                                 "(4500) before accept() looks like an auth 403.",
                                 rem("diagnostic-endpoints"),
                                 ("handshake-101", "diagnostic-endpoints"))
            return Diagnosis("unknown", "403 on the handshake: Origin or auth cannot be told "
                             "apart with this evidence.", by_id["allowed-hosts"].remedy
                             if "allowed-hosts" in by_id else "",
                             ("allowed-hosts", "jwt-valid"))
        if c in ("refused", "dns-error", "tls-error", "timeout"):
            return Diagnosis("unknown", f"The endpoint cannot be reached ({c}): no layer "
                             "behind it can be judged.", rem("handshake-101"),
                             ("handshake-101",))
        if c in UPGRADED and st("stays-open") == FAIL:
            return Diagnosis("consumer", by_id["stays-open"].summary, rem("stays-open"),
                             ("stays-open",))

    if service_down:
        return Diagnosis("channel-layer", "The service's own diagnostics report a failure.",
                         rem("diagnostic-endpoints"), ("diagnostic-endpoints",))
    if st("consumer-errors") == FAIL:
        top = by_id["consumer-errors"].summary
        layer = "consumer"
        cats = log_categories or {}
        if cats.get("plan-quota"):
            layer = "plan-limit"
        elif cats.get("max-clients") or cats.get("redis-error"):
            layer = "redis"
        elif cats.get("channels-timeout"):
            layer = "channel-layer"
        return Diagnosis(layer, f"The service logs show it: {top}.", rem("consumer-errors"),
                         ("consumer-errors",))
    if st("notification-delivery") == FAIL:
        return Diagnosis("consumer", "Handshakes work but notifications do not arrive.",
                         rem("notification-delivery"), ("notification-delivery",))
    if st("redis-url") == FAIL:
        r = by_id["redis-url"]
        return Diagnosis("redis", f"REDIS_URL is wrong: {r.summary}.", r.remedy, ("redis-url",))
    failing = [r.id for r in results if r.status == FAIL]
    if failing:
        return Diagnosis("unknown", f"{', '.join(failing)} failed, but no layer explains it "
                         "alone.", by_id[failing[0]].remedy, tuple(failing))
    decided = [r for r in results if r.status != SKIPPED]
    unknown = [r.id for r in decided if r.status == UNKNOWN]
    if decided and not unknown and all(r.status in (PASS, WARN) for r in decided):
        return Diagnosis("none", "Every check that ran passed.", "Nothing to fix in the "
                         "layers checked; widen the checks (--url, --log-group) if the symptom "
                         "persists.", tuple(r.id for r in decided))
    return Diagnosis("unknown", "Not enough evidence yet to name a broken layer.",
                     "Waiting for: " + ", ".join(unknown) if unknown else
                     "Configure more probes (--url, --log-group).", tuple(unknown))
