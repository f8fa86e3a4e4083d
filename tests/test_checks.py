"""The pure rules: samples in, verdicts out (samples built here; the rules do no I/O)."""

from __future__ import annotations

from wsmonitor.rules.base import CHECK_IDS, CheckContext
from wsmonitor.rules.diagnosis import diagnose
from wsmonitor.rules.evaluate import evaluate
from wsmonitor.rules.logs import ended_categories, log_categories, recent_error_times
from wsmonitor.plans import load_plans
from wsmonitor.redis_url import lint_redis_url
from wsmonitor.samples import LatencyStats, RedisSample

NOW = 1_800_000_000.0


def sample(at: float = NOW, ok: bool = True, **kw: object) -> RedisSample:
    base: dict[str, object] = dict(
        probe="redis", at=at, ok=ok, latencies_ms=(0.1, 0.2), window=LatencyStats.of([0.1, 0.2]),
        info_ok=ok, connected_clients=5, maxclients=100, rejected_connections=0,
        total_commands_processed=1000, server="127.0.0.1:6379")
    base.update(kw)
    return RedisSample(**base)  # type: ignore[arg-type]


def ctx(plan: str = "none", **kw: object) -> CheckContext:
    base: dict[str, object] = dict(plan=load_plans()[plan], redis_configured=True,
                                   stale_after=30.0)
    base.update(kw)
    return CheckContext(**base)  # type: ignore[arg-type]


def by_id(results):  # noqa: ANN001, ANN201
    return {r.id: r for r in results}


def test_every_spec_id_in_runbook_order() -> None:
    results = evaluate(ctx(), {"redis": [sample()]}, NOW)
    assert tuple(r.id for r in results) == CHECK_IDS
    assert len(CHECK_IDS) == 16


def test_stale_evidence_never_passes() -> None:
    r = by_id(evaluate(ctx(), {"redis": [sample(at=NOW - 31)]}, NOW))
    for cid in ("redis-reachable", "redis-connections", "redis-commands"):
        assert r[cid].status == "unknown", r[cid]
        assert "stale" in r[cid].summary
    fresh = by_id(evaluate(ctx(), {"redis": [sample(at=NOW - 29)]}, NOW))
    assert fresh["redis-reachable"].status == "pass"


def test_unreachable_names_the_kind_and_remedy() -> None:
    failed = sample(ok=False, error="connection refused: … (Error 111)", error_kind="refused",
                    info_ok=False)
    results = evaluate(ctx(), {"redis": [sample(at=NOW - 5), failed]}, NOW)
    r = by_id(results)["redis-reachable"]
    assert r.status == "fail" and "refused" in r.summary
    assert "security group" in r.remedy
    d = diagnose(results)
    assert d.layer == "redis" and d.checks == ("redis-reachable",)


def test_recent_failures_turn_pass_into_warn() -> None:
    hist = [sample(at=NOW - 4), sample(at=NOW - 2, ok=False, error_kind="timeout", error="t"),
            sample(at=NOW)]
    assert by_id(evaluate(ctx(), {"redis": hist}, NOW))["redis-reachable"].status == "warn"


def test_connections_against_plan_cap_and_server_cap() -> None:
    r = by_id(evaluate(ctx("upstash-free-2024"), {"redis": [sample(connected_clients=25)]}, NOW))
    assert r["redis-connections"].status == "warn"  # 25 of the runbook's 30
    assert "30" in r["redis-connections"].summary
    r = by_id(evaluate(ctx("upstash-free-2024"), {"redis": [sample(connected_clients=30)]}, NOW))
    assert r["redis-connections"].status == "fail"
    assert diagnose(list(r.values())).layer == "plan-limit"
    # no plan cap: the server's maxclients is the cap
    r = by_id(evaluate(ctx("none"), {"redis": [sample(connected_clients=99, maxclients=100)]},
                       NOW))
    assert r["redis-connections"].status == "warn"
    assert "maxclients" in r["redis-connections"].evidence[0]


def test_rejections_while_watched_fail_but_old_ones_warn() -> None:
    hist = [sample(at=NOW - 4, rejected_connections=7), sample(rejected_connections=9)]
    r = by_id(evaluate(ctx(), {"redis": hist}, NOW))["redis-connections"]
    assert r.status == "fail" and "2 connection(s) rejected" in r.summary
    hist = [sample(at=NOW - 4, rejected_connections=7), sample(rejected_connections=7)]
    r = by_id(evaluate(ctx(), {"redis": hist}, NOW))["redis-connections"]
    assert r.status == "warn"


def test_rejections_age_out_after_two_quiet_runs() -> None:
    # Rejected during runs 2-3, quiet since: fail while within two INFO intervals, then warn.
    counts = [0, 0, 3, 5, 5, 5]
    hist = [sample(at=NOW - 2 * (len(counts) - 1 - i), rejected_connections=c)
            for i, c in enumerate(counts)]
    verdicts = []
    for n in range(2, len(hist) + 1):
        r = by_id(evaluate(ctx(), {"redis": hist[:n]}, hist[n - 1].at))["redis-connections"]
        verdicts.append(r.status)
    assert verdicts == ["pass", "fail", "fail", "fail", "warn"]
    assert "5 rejected while watched, the last 4 s ago" in r.summary
    assert any("5 while watched, 0 in the last 4 s" in line for line in r.evidence)


def test_max_clients_error_is_a_connection_failure() -> None:
    hist = [sample(ok=False, info_ok=False, error_kind="max-clients",
                   error="the server is at its connection cap")]
    results = evaluate(ctx(), {"redis": hist}, NOW)
    r = by_id(results)
    assert r["redis-connections"].status == "fail"
    assert r["redis-reachable"].status == "fail"
    # Redis answers, but refuses at its cap: the fix is the plan (or maxclients), not Redis
    d = diagnose(results)
    assert d.layer == "plan-limit" and "redis-connections" in d.checks
    assert "maxclients" in d.remedy


def test_command_quota_projection_uses_service_rate_plus_monitor_steady_spend() -> None:
    # 0.5 commands/s from the service = 43,200/day; the monitor's steady spend is given.
    hist = [sample(at=NOW - 2, commands_per_second=None),
            sample(commands_per_second=3.5, own_commands_per_second=3.0)]
    c = ctx("upstash-free", own_commands_per_day=800.0)
    r = by_id(evaluate(c, {"redis": hist}, NOW))["redis-commands"]
    # (43,200 + 800) / 16,667 per day ≈ 264 %
    assert r.status == "fail"
    assert "264%" in r.summary, r.summary
    assert any("as of 2025-02-01" in e for e in r.evidence)
    assert "channels_redis" in r.remedy
    hist = [sample(commands_per_second=0.01, own_commands_per_second=0.0)]
    r = by_id(evaluate(ctx("upstash-free", own_commands_per_day=800.0),
                       {"redis": hist}, NOW))["redis-commands"]
    assert r.status == "pass"  # (864 + 800) / 16,667 ≈ 10 %


def test_quota_error_from_upstash_fails_commands() -> None:
    hist = [sample(ok=False, info_ok=False, error_kind="plan-quota",
                   error="ERR max daily request limit exceeded")]
    r = by_id(evaluate(ctx("upstash-free"), {"redis": hist}, NOW))
    assert r["redis-commands"].status == "fail"


def test_info_denied_leaves_counts_unknown() -> None:
    hist = [sample(info_ok=False, info_denied=True, connected_clients=None)]
    r = by_id(evaluate(ctx(), {"redis": hist}, NOW))
    assert r["redis-reachable"].status == "pass"
    assert r["redis-connections"].status == "unknown"
    assert "+info" in r["redis-connections"].remedy


def test_redis_url_check_from_lint() -> None:
    findings = tuple(lint_redis_url("redis://default:pw@eu1-abc.upstash.io:6379/0"))
    r = by_id(evaluate(ctx(redis_findings=findings), {"redis": []}, NOW))["redis-url"]
    assert r.status == "fail" and "TLS" in r.summary
    assert "rediss://default:***@eu1-abc.upstash.io:6379/0" in r.remedy
    assert "pw@" not in r.remedy


def test_kiosk_skips_writing_checks_and_unconfigured_are_skipped() -> None:
    r = by_id(evaluate(ctx(kiosk=True, url_configured=True), {"redis": [sample()]}, NOW))
    assert r["notification-delivery"].status == "skipped"
    assert r["channel-layer"].status == "skipped"
    assert r["handshake-101"].status == "unknown"
    r = by_id(evaluate(ctx(), {"redis": [sample()]}, NOW))
    assert r["handshake-101"].status == "skipped" and "--url" in r["handshake-101"].summary


def test_diagnosis_unknown_without_evidence_never_confident() -> None:
    results = evaluate(ctx(url_configured=True), {"redis": []}, NOW)
    d = diagnose(results)
    assert d.layer == "unknown"
    assert "redis-reachable" in d.checks


def _logs(*events: tuple[float, str], watching_since: float = 0.0) -> list:
    from wsmonitor.log_samples import LogEvent, LogsSample

    evs = tuple(LogEvent(at, "app.log", f"boom {cat}", category=cat, severity="error")
                for at, cat in events)
    counts: dict[str, int] = {}
    for _, cat in events:
        counts[cat] = counts.get(cat, 0) + 1
    return [LogsSample(probe="logs", at=NOW, ok=True, source="file", target="app.log",
                       events=evs, by_category=counts, by_severity={"error": len(evs)},
                       window_seconds=900.0, events_in_window=len(evs), events_total=len(evs),
                       watching_since=watching_since)]


def test_log_errors_of_an_ended_redis_outage_warn_once_redis_is_seen_healthy_after_them() -> None:
    c = ctx(logs_configured=True)
    # Refused from here too during the outage, answering again since.
    healthy = [sample(at=NOW - 30, ok=False, error_kind="refused", error="refused"),
               sample(at=NOW - 2)]
    # Redis errors logged 10 s ago; Redis answered 2 s ago (after them): the outage ended.
    r = by_id(evaluate(c, {"redis": healthy, "logs": _logs((NOW - 10, "redis-error"))}, NOW))
    assert r["redis-reachable"].status == "warn"  # reachable, with recent failures
    assert r["consumer-errors"].status == "warn"
    assert "from before redis-reachable passed again" in r["consumer-errors"].summary
    assert diagnose(list(r.values())).layer not in ("redis", "consumer")  # no layer from logs
    # An error newer than the last healthy sample still fails: it may be a new outage.
    r = by_id(evaluate(c, {"redis": healthy, "logs": _logs((NOW - 1, "redis-error"))}, NOW))
    assert r["consumer-errors"].status == "fail"
    # Errors no direct check can see the end of (the consumer's own code) keep failing, and
    # they alone name the cause: the ended outage's errors are not counted against it.
    logs = _logs((NOW - 10, "redis-error"), (NOW - 9, "redis-error"), (NOW - 20, "traceback"))
    r = by_id(evaluate(c, {"redis": healthy, "logs": logs}, NOW))
    assert r["consumer-errors"].status == "fail"
    assert r["consumer-errors"].summary.startswith("1 consumer error(s)")
    assert "mostly traceback" in r["consumer-errors"].summary
    ended = ended_categories(r, recent_error_times(logs, NOW), {"redis": healthy})
    assert set(ended) == {"redis-error"}
    assert log_categories(logs, NOW, ended) == {"traceback": 1}
    # Errors only the service meets (its pool, another Redis): wsmonitor's probes never
    # failed, so nothing says that outage ended: they keep failing.
    steady = [sample(at=NOW - 30), sample(at=NOW - 2)]
    r = by_id(evaluate(c, {"redis": steady, "logs": _logs((NOW - 10, "redis-error"))}, NOW))
    assert r["redis-reachable"].status == "pass" and r["consumer-errors"].status == "fail"
    # A cap: superseded only once redis-connections passes on a newer sample too.
    capped = [sample(at=NOW - 30), sample(at=NOW - 2, connected_clients=100)]
    r = by_id(evaluate(c, {"redis": capped, "logs": _logs((NOW - 10, "max-clients"))}, NOW))
    assert r["redis-connections"].status == "fail" and r["consumer-errors"].status == "fail"


def test_errors_logged_before_wsmonitor_started_are_history_once_their_checks_pass_now() -> None:
    """A `check` started after an outage never saw it fail: errors logged before it started
    watching, of a category whose end a check sees (Redis, cap, quota, connect()), warn when
    that check passes now; the consumer's own exceptions still fail."""
    c = ctx(logs_configured=True)
    started = NOW - 5
    healthy = [sample(at=NOW - 4), sample(at=NOW - 1)]  # never failed: wsmonitor saw no outage
    logs = _logs((NOW - 130, "redis-error"), (NOW - 120, "redis-error"),
                 watching_since=started)
    r = by_id(evaluate(c, {"redis": healthy, "logs": logs}, NOW))
    assert r["redis-reachable"].status == "pass"
    assert r["consumer-errors"].status == "warn", r["consumer-errors"]
    assert r["consumer-errors"].summary == ("2 Redis error(s) logged before wsmonitor started, "
                                            "the last 2 min ago; Redis answers now")
    assert any("logged before wsmonitor started watching" in e
               for e in r["consumer-errors"].evidence)
    ended = ended_categories(r, recent_error_times(logs, NOW), {"redis": healthy, "logs": logs})
    assert ended == {"redis-error": ("redis-reachable",)}
    assert log_categories(logs, NOW, ended) == {}
    assert diagnose(list(r.values())).layer not in ("redis", "consumer")
    # Redis still down now: the same errors fail, and name Redis.
    down = [sample(at=NOW - 4, ok=False, error_kind="refused", error="refused"),
            sample(at=NOW - 1, ok=False, error_kind="refused", error="refused")]
    r = by_id(evaluate(c, {"redis": down, "logs": logs}, NOW))
    assert r["consumer-errors"].status == "fail"
    assert diagnose(list(r.values())).layer == "redis"
    # No Redis check configured: nothing sees the end, they fail.
    r = by_id(evaluate(ctx(logs_configured=True, redis_configured=False), {"logs": logs}, NOW))
    assert r["consumer-errors"].status == "fail"
    # One of them logged while watching (after the start), with probes that never failed:
    # today's rule, which needs the outage seen, holds: it fails.
    mixed = _logs((NOW - 130, "redis-error"), (NOW - 3, "redis-error"), watching_since=started)
    r = by_id(evaluate(c, {"redis": healthy + [sample(at=NOW)], "logs": mixed}, NOW))
    assert r["consumer-errors"].status == "fail"
    # The consumer's own exception before the start: no check sees its end, it fails; the
    # Redis errors beside it stay history and do not name the cause.
    own = _logs((NOW - 120, "redis-error"), (NOW - 60, "exception-in-app"),
                watching_since=started)
    r = by_id(evaluate(c, {"redis": healthy, "logs": own}, NOW))
    assert r["consumer-errors"].status == "fail"
    assert r["consumer-errors"].summary.startswith("1 consumer error(s)")
    assert "mostly exception-in-app" in r["consumer-errors"].summary
    # A cap hit before the start: redis-connections must pass now too.
    capped = [sample(at=NOW - 4), sample(at=NOW - 1, connected_clients=100)]
    cap_logs = _logs((NOW - 60, "max-clients"), watching_since=started)
    r = by_id(evaluate(c, {"redis": capped, "logs": cap_logs}, NOW))
    assert r["redis-connections"].status == "fail" and r["consumer-errors"].status == "fail"
    r = by_id(evaluate(c, {"redis": healthy, "logs": cap_logs}, NOW))
    assert r["consumer-errors"].status == "warn"
    assert r["consumer-errors"].summary.startswith("1 connection-cap error(s) logged before")


def test_errors_before_the_start_are_history_when_the_service_says_redis_answers() -> None:
    """No --redis-url, only the service's /api/redis-health/: it says Redis answers now, so
    Redis errors logged before wsmonitor started are history."""
    from wsmonitor.probes.http import HttpSample

    c = ctx(logs_configured=True, redis_configured=False, url_configured=True,
            http_configured=True)

    def health(at: float, ok: bool) -> HttpSample:
        return HttpSample(probe="http:redis-health", at=at, ok=ok, endpoint="redis-health",
                          status=200 if ok else 500, json_ok=True, healthy=ok,
                          summary=(("status", "ok" if ok else "error"),))

    logs = _logs((NOW - 90, "redis-error"), watching_since=NOW - 5)
    r = by_id(evaluate(c, {"http:redis-health": [health(NOW - 1, True)], "logs": logs}, NOW))
    assert r["redis-reachable"].status == "pass" and r["redis-reachable"].at == NOW - 1
    assert r["consumer-errors"].status == "warn", r["consumer-errors"]
    assert r["consumer-errors"].summary.endswith("the last 90 s ago; Redis answers now")
    r = by_id(evaluate(c, {"http:redis-health": [health(NOW - 1, False)], "logs": logs}, NOW))
    assert r["redis-reachable"].status == "fail" and r["consumer-errors"].status == "fail"
