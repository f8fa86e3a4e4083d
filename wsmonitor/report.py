"""Text, JSON and markdown renderings of a check run. Every string passes through redaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from wsmonitor import __version__
from wsmonitor.rules.base import FAIL, CheckResult, Diagnosis
from wsmonitor.rules.redis import command_rate
from wsmonitor.rules.browser import browser_markdown, browser_report
from wsmonitor.rules.delivery import channel_layer_report, timing_lines
from wsmonitor.plans import Plan
from wsmonitor.samples import SECONDS_PER_DAY
from wsmonitor.samples import MIN_SAMPLES, RedisSample, Sample
from wsmonitor.secrets import redact, redact_obj
from wsmonitor.verdict import Verdict

SYMBOLS = {"pass": "✔", "fail": "✖", "warn": "▲", "unknown": "?", "skipped": "–"}
"""Status is carried by symbol and word, never by colour alone."""


@dataclass(frozen=True, slots=True)
class CheckRun:
    """Everything one ``wsmonitor check`` observed."""

    started_at: float
    finished_at: float
    diagnosis: Diagnosis
    checks: Sequence[CheckResult]
    history: Mapping[str, Sequence[Sample]]
    plan: Plan
    target: Mapping[str, str | None]
    """url, redis (redacted when rendered)."""

    confirmed: bool = True
    """False when the diagnosis is a candidate the evidence has not confirmed yet."""

    @property
    def exit_code(self) -> int:
        """1 when any check failed, else 0."""
        return 1 if any(c.status == FAIL for c in self.checks) else 0

    @classmethod
    def from_verdict(cls, verdict: Verdict, started_at: float, plan: Plan,
                     target: Mapping[str, str | None]) -> CheckRun:
        """The run a `Verdict` settled: its shown diagnosis, checks and history."""
        return cls(started_at, verdict.at, verdict.shown, verdict.checks, verdict.history,
                   plan, target, verdict.confirmed)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def redis_section(history: Sequence[Sample], plan: Plan) -> dict[str, Any] | None:
    """The ``probes.redis`` object of the JSON report."""
    redis = [s for s in history if isinstance(s, RedisSample)]
    if not redis:
        return None
    last = redis[-1]
    info = next((s for s in reversed(redis) if s.info_ok), None)
    w = last.window
    rates = command_rate(redis)
    cap = plan.max_connections.value
    if cap is None and info is not None:
        cap = info.maxclients
    return {
        "reachable": last.ok,
        "latency_ms": None if w is None else {
            "p50": round(w.p50, 3),
            # null below MIN_SAMPLES: too few pings for that percentile (samples says how many).
            "p95": None if w.p95 is None else round(w.p95, 3),
            "p99": None if w.p99 is None else round(w.p99, 3),
            "max": round(w.max, 3), "samples": w.samples},
        "connected_clients": info.connected_clients if info else None,
        "max_connections": cap,
        "rejected_connections": info.rejected_connections if info else None,
        "commands_per_day": None if rates is None else round(rates[0] * SECONDS_PER_DAY),
        "service_commands_per_day": None if rates is None else
        round(max(0.0, rates[0] - rates[1]) * SECONDS_PER_DAY),
        "command_quota_per_day": None if plan.daily_quota is None else round(plan.daily_quota),
        "own_commands_per_day": None if rates is None else round(rates[1] * SECONDS_PER_DAY),
        "own_commands_total": last.own_commands_total,
        "plan": plan.name,
        "server": last.server,
        "tls": last.tls,
        "info_denied": last.info_denied,
        "error_kind": last.error_kind,
        "error": last.error,
    }


def handshake_section(history: Mapping[str, Sequence[Sample]]) -> list[dict[str, Any]]:
    """The newest result of each handshake variant, in SPEC's shape (and more); the
    ``token+origin`` entry carries the held socket's figures (hold, ping, notifications)."""
    from wsmonitor.rules.websocket import attempts, held_samples
    from wsmonitor.samples_ws import PRIMARY_VARIANT, VARIANTS

    held = [s for s in attempts(held_samples(history)) if not s.interim]
    out = []
    for variant in VARIANTS:
        samples = attempts(history.get(f"handshake:{variant}", ()))
        if not samples:
            continue
        s = samples[-1]
        h = held[-1] if variant == PRIMARY_VARIANT and held else s
        t = s.timings_ms
        out.append({
            "variant": s.variant, "classification": s.classification, "status": s.status,
            "close_code": s.close_code,
            "timings_ms": {"dns": t.dns, "tcp": t.tcp, "tls": t.tls, "upgrade": t.upgrade,
                           "first_message": t.first_message},
            "error": s.error, "reason": s.reason, "status_line": s.status_line,
            "server": s.server, "origin": s.origin, "token_sent": s.token_sent,
            "elapsed_s": s.elapsed_s, "close_reason": s.close_reason,
            "hold_s": h.hold_s, "held_s": h.held_s, "ack_received": h.ack_received,
            "ping_rtt_ms": h.ping_rtt_ms, "app_pong_ms": h.app_pong_ms,
            "notifications": h.notifications, "at": _iso(s.at),
        })
        if h is not s:
            out[-1]["hold"] = {"classification": h.classification, "close_code": h.close_code,
                               "at": _iso(h.at)}
    return out


def http_entry(samples: Sequence[Sample]) -> dict[str, Any] | None:
    """One HTTP endpoint's newest result: ``{"status": 200, "ok": true, …}``."""
    from wsmonitor.samples_http import HttpSample

    if not samples or not isinstance(samples[-1], HttpSample):
        return None
    s = samples[-1]
    return {"status": s.status, "ok": s.ok, "healthy": s.healthy, "url": s.url,
            "summary": {k: v for k, v in s.summary}, "error_kind": s.error_kind,
            "error": s.error, "at": _iso(s.at)}


def logs_section(samples: Sequence[Sample]) -> dict[str, Any] | None:
    """The ``probes.logs`` object: the source, counts per category over the window."""
    from wsmonitor.log_samples import LogsSample

    logs = [s for s in samples if isinstance(s, LogsSample)]
    if not logs:
        return None
    s = logs[-1]
    return {"source": s.source, "mode": s.mode, "target": s.target, "groups": list(s.groups),
            "events": s.events_in_window, "events_total": s.events_total,
            "by_category": dict(s.by_category), "by_severity": dict(s.by_severity),
            "window_seconds": s.window_seconds, "fallback_reason": s.fallback_reason,
            "error_kind": s.error_kind, "error": s.error}


def to_json_obj(run: CheckRun) -> dict[str, Any]:
    """The SPEC's JSON report, redacted."""
    obj = {
        "version": __version__,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "target": dict(run.target),
        "diagnosis": run.diagnosis.to_dict(),
        "checks": [{k: v for k, v in c.to_dict().items() if k != "at"} for c in run.checks],
        "probes": {
            "handshake": handshake_section(run.history),
            "redis": redis_section(run.history.get("redis", ()), run.plan),
            "logs": logs_section(run.history.get("logs", ())),
            "channel_layer": channel_layer_report(run.history),
            "http": {e: http_entry(run.history.get(f"http:{e}", ()))
                     for e in ("redis-health", "ws-diagnostic", "polling")},
            "browser": browser_report(run.history),
            "platform": platform_section(run),
        },
    }
    return redact_obj(obj)


def platform_section(run: CheckRun) -> dict[str, Any]:
    """The ``probes.platform`` object: the front, the app server, what decided."""
    from urllib.parse import urlsplit

    from wsmonitor.rules.platform import platform_of

    try:
        host = urlsplit(run.target.get("url") or "").hostname
    except ValueError:
        host = None
    return platform_of(run.history, host, run.finished_at).to_dict()


def _confidence(run: CheckRun) -> str:
    """How sure the verdict is, in words: the rules' confidence, or that the evidence has not
    confirmed it yet."""
    return run.diagnosis.confidence if run.confirmed else "unconfirmed"


def render_json(run: CheckRun) -> str:
    return json.dumps(to_json_obj(run), indent=2, ensure_ascii=False)


def render_text(run: CheckRun) -> str:
    d = run.diagnosis
    lines = [f"Diagnosis: {d.layer} ({_confidence(run)}) — {d.summary}"]
    if d.remedy:
        lines.append(f"  first: {d.remedy}")
    lines.append("")
    width = max(len(c.id) for c in run.checks)
    for c in run.checks:
        lines.append(f"{SYMBOLS[c.status]} {c.status.upper():<7} {c.id:<{width}}  {c.summary}")
        if c.status not in ("pass", "skipped"):
            for e in c.evidence:
                lines.append(f"    · {e}")
            if c.remedy:
                lines.append(f"    → {c.remedy}")
    counts = {s: sum(1 for c in run.checks if c.status == s) for s in SYMBOLS}
    lines.append("")
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return redact("\n".join(lines))


def _platform_md(run: CheckRun) -> str:
    pf = platform_section(run)
    why = "; ".join(pf["evidence"][:3])
    return f"`{pf['front']}` · app server `{pf['app_server']}`" + (f" ({why})" if why else "")


def render_markdown(run: CheckRun) -> str:
    d = run.diagnosis
    t = run.target
    lines = [
        "# wsmonitor incident report", "",
        f"- **When:** {_iso(run.started_at)} → {_iso(run.finished_at)}",
        f"- **WebSocket:** {t.get('url') or 'not probed'}",
        f"- **Redis:** {t.get('redis') or 'not probed'} (plan `{run.plan.name}`: "
        f"{run.plan.quota_text})",
        f"- **Front:** {_platform_md(run)}",
        f"- **wsmonitor:** {__version__}", "",
        f"## Diagnosis: `{d.layer}` ({_confidence(run)})", "", d.summary, "",
        f"**Do first:** {d.remedy}" if d.remedy else "", "",
        "## Checks", "",
        "| | check | status | summary |", "|---|---|---|---|",
    ]
    for c in run.checks:
        summary = c.summary.replace("|", "\\|")
        lines.append(f"| {SYMBOLS[c.status]} | `{c.id}` | {c.status} | {summary} |")
    lines.append("")
    for c in run.checks:
        if c.status in ("skipped",) or not (c.evidence or c.remedy):
            continue
        lines += [f"### `{c.id}` — {c.status}", ""]
        lines += [f"- {e}" for e in c.evidence]
        if c.remedy:
            lines += ["", f"**Remedy:** {c.remedy}"]
        lines.append("")
    redis = redis_section(run.history.get("redis", ()), run.plan)
    timings = timing_lines(run.history)
    if redis and redis["latency_ms"]:
        lat = redis["latency_ms"]
        p95, p99 = (f"{lat[k]} ms" if lat[k] is not None else
                    f"n too small (n < {MIN_SAMPLES[k]})" for k in ("p95", "p99"))
        timings.insert(0, f"- Redis PING: p50 {lat['p50']} ms, p95 {p95}, p99 {p99}, max "
                       f"{lat['max']} ms ({lat['samples']} pings)")
    if timings:
        lines += ["## Timings", "", *timings, ""]
    lines += browser_markdown(run.history)
    return redact("\n".join(lines))
