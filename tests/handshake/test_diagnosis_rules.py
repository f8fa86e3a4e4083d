"""The verdict rules and the tracker's hysteresis, on samples shaped like the real ones (the
scenarios against real servers are in test_diagnosis_scenarios.py and
test_diagnosis_redis_faults.py; these pin the decisions the servers cannot be made to show on
demand: a transient of the service's own view, the first handshake after Redis returns,
one odd sample in a stable fault)."""

from __future__ import annotations

from wsmonitor.rules.base import CheckContext, CheckResult, Diagnosis, TokenFacts
from wsmonitor.rules.diagnosis import LAYERS, VerdictTracker, diagnose, signals, streaks
from wsmonitor.plans import load_plans
from wsmonitor.probes.handshake import HandshakeSample
from wsmonitor.probes.http import HttpSample
from wsmonitor.runtime import judge
from wsmonitor.samples import LatencyStats, RedisSample

NOW = 1_800_000_000.0


def ctx(**kw: object) -> CheckContext:
    base: dict[str, object] = dict(plan=load_plans()["none"], url_configured=True,
                                   http_configured=True, stale_after=60.0)
    base.update(kw)
    return CheckContext(**base)  # type: ignore[arg-type]


def shake(at: float, classification: str = "ok", variant: str = "token+origin",
          **kw: object) -> HandshakeSample:
    status = {"ok": 101, "forbidden": 403, "server-error": 500,
              "closed-after-accept": 101}.get(classification)
    base: dict[str, object] = dict(probe=f"handshake:{variant}", at=at,
                                   ok=classification == "ok", variant=variant,
                                   classification=classification, status=status,
                                   error_kind=None if classification == "ok" else classification,
                                   ack_received=classification == "ok", hold_s=1.0,
                                   held_s=1.0 if classification == "ok" else None,
                                   pings_sent=1, pongs_received=1, elapsed_s=0.01)
    base.update(kw)
    return HandshakeSample(**base)  # type: ignore[arg-type]


def health(at: float, ok: bool, endpoint: str = "redis-health") -> HttpSample:
    if endpoint == "redis-health":
        summary = (("status", "ok"), ("redis", "connected")) if ok else \
            (("status", "error"), ("message", "TimeoutError"))
        status = 200 if ok else 500
    else:
        summary = (("redis_connected", ok), ("channel_layer_available", True))
        status = 200
    return HttpSample(probe=f"http:{endpoint}", at=at, ok=ok, endpoint=endpoint,
                      status=status, json_ok=True, summary=summary, healthy=ok,
                      error=None if ok else "HTTP 500: the endpoint failed (TimeoutError)",
                      error_kind=None if ok else "server-error")


def redis(at: float, ok: bool = True) -> RedisSample:
    return RedisSample(probe="redis", at=at, ok=ok, latencies_ms=(0.1,) if ok else (),
                       window=LatencyStats.of([0.1]) if ok else None, info_ok=ok,
                       connected_clients=3 if ok else None, maxclients=10000,
                       rejected_connections=0, total_commands_processed=100,
                       error=None if ok else "connection refused",
                       error_kind=None if ok else "refused")


def test_layers_are_specs() -> None:
    assert LAYERS == ("none", "platform", "proxy", "origin", "auth", "consumer",
                      "channel-layer", "redis", "plan-limit", "unknown")


def test_two_service_views_that_disagree_do_not_outweigh_a_working_socket() -> None:
    # channels_redis can time out one smoke test while the next passes: the health view's 500
    # alone, against ws-diagnostic's "connected" and a socket that joined its group, is no
    # Redis outage
    history = {"handshake:token+origin": [shake(NOW - 1)],
               "http:redis-health": [health(NOW, ok=False)],
               "http:ws-diagnostic": [health(NOW - 2, ok=True, endpoint="ws-diagnostic")]}
    sig = signals(ctx(), history, NOW)
    assert sig.service_conflict and sig.service_redis is None
    d, results = judge(ctx(), history, NOW)
    assert {r.id: r.status for r in results}["redis-reachable"] == "fail"  # the check says so
    assert d.layer != "redis", d
    # both views failing is the service's word: Redis
    history["http:ws-diagnostic"] = [health(NOW - 2, ok=False, endpoint="ws-diagnostic")]
    assert judge(ctx(), history, NOW)[0].layer == "redis"


def test_first_handshake_after_redis_returns_is_the_known_transient() -> None:
    c = ctx(redis_configured=True)
    # Redis refused until NOW-6, back at NOW-4; the handshake that started after it stalled
    history = {"redis": [redis(NOW - 8, ok=False), redis(NOW - 6, ok=False), redis(NOW - 4),
                         redis(NOW - 2)],
               "handshake:token+origin": [shake(NOW - 7, "server-error"),
                                          shake(NOW, "connect-stalled", status=None,
                                                elapsed_s=4.6)]}
    d, _ = judge(c, history, NOW)
    assert d.layer == "redis" and "transient" in d.summary, d
    # the next handshake stalls too: no longer the transient; connect() hangs (channel layer)
    history["handshake:token+origin"].append(shake(NOW + 6, "connect-stalled", status=None,
                                                   elapsed_s=4.7))
    history["redis"].append(redis(NOW + 5))
    d, _ = judge(c, history, NOW + 6)
    assert d.layer == "channel-layer", d


def test_nothing_broken_is_said_while_the_first_socket_is_held() -> None:
    # The handshake is in (an interim sample at the 101), Redis and the service answer: the
    # verdict does not wait out the hold; the hold's checks are named as still to come.
    c = ctx()
    early = shake(NOW - 1, interim=True, held_s=0.1, hold_s=30.0, pings_sent=0,
                  pongs_received=0)
    history = {"redis": [redis(NOW - 3), redis(NOW - 1)],
               "handshake:token+origin": [early],
               "http:redis-health": [health(NOW, ok=True)],
               "http:ws-diagnostic": [health(NOW, ok=True, endpoint="ws-diagnostic")],
               "http:polling": [HttpSample(probe="http:polling", at=NOW, ok=True,
                                           endpoint="polling", status=200, json_ok=True)]}
    d, results = judge(c, history, NOW)
    status = {r.id: r.status for r in results}
    assert status["stays-open"] == "unknown" and status["handshake-101"] == "pass"
    assert d.layer == "none", d
    assert "stays-open, ping-pong" in d.summary and "when the first hold ends" in d.summary
    # Without the interim sample (no handshake yet) it is still undecided.
    history["handshake:token+origin"] = []
    assert judge(c, history, NOW)[0].layer == "unknown"


def test_a_hold_that_failed_stands_while_the_next_socket_is_held() -> None:
    # Sockets dropped 15 s into a 30 s hold: every attempt is a 101 (its interim) and then
    # closed-after-accept. While the next socket is held, the failed hold still decides.
    c = ctx()

    def closed(at: float) -> HandshakeSample:
        return shake(at, "closed-after-accept", ok=False, close_code=1006, closed_by="drop",
                     closed_at_s=15.0, held_s=15.0, hold_s=30.0)

    def holding(at: float) -> HandshakeSample:
        return shake(at, interim=True, held_s=0.1, hold_s=30.0)

    alone = judge(c, {"handshake:token+origin": [closed(NOW - 20)]}, NOW)[0]
    assert alone.layer not in ("none", "unknown"), alone
    history = {"handshake:token+origin": [holding(NOW - 35), closed(NOW - 20), holding(NOW - 1)]}
    d, results = judge(c, history, NOW)
    assert {r.id: r.status for r in results}["stays-open"] == "fail"
    assert d.layer == alone.layer, d
    # The tracker's streaks count attempts: two failed holds in a row, interims aside.
    history["handshake:token+origin"] = [holding(NOW - 75), closed(NOW - 60), holding(NOW - 35),
                                         closed(NOW - 20), holding(NOW - 1)]
    assert streaks(history)["handshake:token+origin"][0] == 2
    # A 101 after a handshake that failed is news at once: the recovery is not held back.
    history["handshake:token+origin"] = [shake(NOW - 20, "server-error"), holding(NOW - 1)]
    assert {r.id: r.status for r in judge(c, history, NOW)[1]}["handshake-101"] == "warn"


def test_403_streak_that_began_with_1011_is_the_channel_layer_not_origin() -> None:
    c = ctx(http_configured=False, token=TokenFacts(source="minted", token_type="access",
                                                    user_id="1", has_jti=True, verified=True))
    primary = [shake(NOW - 30), shake(NOW - 20, "closed-after-accept", close_code=1011,
                                      closed_by="server", closed_at_s=0.4),
               shake(NOW - 10, "forbidden"), shake(NOW, "forbidden")]
    d, results = judge(c, {"handshake:token+origin": primary}, NOW)
    assert {r.id: r.status for r in results}["allowed-hosts"] == "fail"
    assert d.layer == "channel-layer", d
    # began after a clean 101 instead: Origin or a failing connect(), undecided
    primary[1] = shake(NOW - 20)
    assert judge(c, {"handshake:token+origin": primary}, NOW)[0].layer == "unknown"
    # a cold start on the 403: nothing says it began otherwise: Origin, as the variants say
    assert judge(c, {"handshake:token+origin": primary[-1:]}, NOW)[0].layer == "origin"


def res(cid: str, at: float | None, status: str = "fail") -> CheckResult:
    return CheckResult(cid, status, cid, at=at)


def verdict(layer: str, *checks: str) -> Diagnosis:
    return Diagnosis(layer, f"{layer} summary", f"{layer} remedy", checks)


def test_tracker_adopts_the_first_verdict_and_leaves_unknown_at_once() -> None:
    t = VerdictTracker()
    assert t.update(verdict("unknown"), 10.0).layer == "unknown" and t.since == 10.0
    assert t.update(verdict("redis", "redis-reachable"), 12.0,
                    [res("redis-reachable", 11.5)]).layer == "redis"
    assert t.since == 12.0 and t.pending is None


def test_one_odd_sample_never_flips_the_banner() -> None:
    t = VerdictTracker()
    t.update(verdict("redis", "redis-reachable"), 10.0, [res("redis-reachable", 9.0)])
    # the handshake's odd sample arrives: a different layer, on that one sample
    odd = [res("redis-reachable", 9.0), res("handshake-101", 11.0)]
    for now in (11.5, 12.0, 13.0):  # other probes' samples re-evaluate the same evidence
        shown = t.update(verdict("channel-layer", "handshake-101", "redis-reachable"), now,
                         odd + [res("redis-reachable", now - 0.1)])
        assert shown.layer == "redis" and t.pending is not None
    # the next handshake sample says redis again: the odd one is forgotten
    shown = t.update(verdict("redis", "redis-reachable"), 16.0,
                     [res("redis-reachable", 15.0), res("handshake-101", 15.5)])
    assert shown.layer == "redis" and t.pending is None and t.since == 10.0


def test_a_new_layer_on_renewed_evidence_wins_with_its_first_time_as_since() -> None:
    t = VerdictTracker()
    t.update(verdict("none", "handshake-101"), 10.0, [res("handshake-101", 9.0, "pass")])
    t.update(verdict("origin", "allowed-hosts"), 21.0, [res("allowed-hosts", 20.0)])
    assert t.current.layer == "none" and t.pending.layer == "origin"
    shown = t.update(verdict("origin", "allowed-hosts"), 31.0, [res("allowed-hosts", 30.0)])
    assert shown.layer == "origin" and t.since == 21.0


def test_flapping_evidence_keeps_the_verdict() -> None:
    t = VerdictTracker()
    t.update(verdict("redis", "handshake-101"), 0.0, [res("handshake-101", 0.0)])
    for i in range(1, 11):
        layer = "channel-layer" if i % 2 else "redis"
        assert t.update(verdict(layer, "handshake-101"), float(i),
                        [res("handshake-101", i - 0.5)]).layer == "redis"


def test_patience_wins_when_the_evidence_stops_renewing() -> None:
    t = VerdictTracker(patience=30.0)
    t.update(verdict("none", "handshake-101"), 0.0, [res("handshake-101", 0.0, "pass")])
    stuck = [res("handshake-101", 1.0)]
    assert t.update(verdict("proxy", "handshake-101"), 2.0, stuck).layer == "none"
    assert t.update(verdict("proxy", "handshake-101"), 20.0, stuck).layer == "none"
    assert t.update(verdict("proxy", "handshake-101"), 32.0, stuck).layer == "proxy"
    assert t.since == 2.0


def test_confirm_one_is_no_hysteresis() -> None:
    t = VerdictTracker(confirm=1)
    t.update(verdict("redis"), 0.0)
    assert t.update(verdict("origin"), 1.0).layer == "origin"


def test_unverified_403_without_views_is_unknown_never_a_guess() -> None:
    results = [CheckResult("handshake-101", "fail", "forbidden", at=NOW),
               CheckResult("allowed-hosts", "unknown", "403 on every variant", at=NOW),
               CheckResult("jwt-valid", "warn", "signature not checked", at=NOW)]
    d = diagnose(results, {"token+origin": shake(NOW, "forbidden")})
    assert d.layer == "unknown" and "Origin or auth" in d.summary


def test_streaks_decide_however_seldom_the_banner_is_judged() -> None:
    # A replay played at full speed: the screen judges once, after four failing Redis runs.
    history = {"redis": [redis(NOW - 8)] + [redis(NOW - 6 + 2 * i, ok=False) for i in range(4)],
               "handshake:token+origin": [shake(NOW - 9), shake(NOW - 1)]}
    s = streaks(history)
    assert s["redis"] == (4, NOW, NOW - 6) and s["handshake:token+origin"][0] == 2
    t = VerdictTracker()
    t.update(verdict("none", "redis-reachable"), NOW - 9, [res("redis-reachable", NOW - 9)])
    shown = t.update(verdict("redis", "redis-reachable"), NOW, [res("redis-reachable", NOW)], s)
    assert shown.layer == "redis"
    # one failing run alone is a streak of 1: it waits for the next
    one = {"redis": [redis(NOW - 2), redis(NOW, ok=False)]}
    t = VerdictTracker()
    t.update(verdict("none", "redis-reachable"), NOW - 1, [res("redis-reachable", NOW - 2)])
    assert t.update(verdict("redis", "redis-reachable"), NOW, [res("redis-reachable", NOW)],
                    streaks(one)).layer == "none"


def test_service_diagnostics_lagging_just_after_redis_returns_is_the_recovery() -> None:
    from wsmonitor.rules.base import CheckResult
    from wsmonitor.rules.diagnosis import Signals, diagnose

    results = [CheckResult("redis-reachable", "pass", "reachable"),
               CheckResult("handshake-101", "pass", "101"),
               CheckResult("diagnostic-endpoints", "fail", "ws-diagnostic reports a failure")]
    recent = Signals(redis_ok_now=True, redis_failed_at=1000.0, since_redis_failed=8.0)
    assert diagnose(results, signals=recent).layer == "redis"
    # a minute later it is no longer the transient: the evidence cannot name a layer alone
    later = Signals(redis_ok_now=True, redis_failed_at=1000.0, since_redis_failed=120.0)
    assert diagnose(results, signals=later).layer == "unknown"
    # Redis never failed: not a recovery at all
    assert diagnose(results, signals=Signals(redis_ok_now=True)).layer == "unknown"


def test_service_view_lagging_after_redis_returned_here_is_the_recovery() -> None:
    from wsmonitor.rules.base import CheckResult
    from wsmonitor.rules.diagnosis import Signals, diagnose

    results = [CheckResult("redis-reachable", "fail", "the service cannot reach Redis "
                           "(reachable from here: …)"),
               CheckResult("handshake-101", "pass", "101"),
               CheckResult("diagnostic-endpoints", "fail", "redis-health reports a failure")]
    back = Signals(redis_failed_at=1000.0, since_redis_failed=1.0, since_failed_here=9.0)
    assert diagnose(results, signals=back).layer == "redis"
    # never failed from here: a service-only fault, not a recovery (not called "back")
    only_service = Signals(redis_failed_at=1000.0, since_redis_failed=1.0)
    d = diagnose(results, signals=only_service)
    assert "back" not in d.summary
