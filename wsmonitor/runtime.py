"""Wiring shared by every command: probes and check context built from settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wsmonitor.rules.base import CheckContext, CheckResult, Diagnosis, TokenFacts
from wsmonitor.rules.diagnosis import diagnose
from wsmonitor.rules.evaluate import evaluate
from wsmonitor.config import Settings
from wsmonitor.engine import Engine, Probe
from wsmonitor.redis_url import lint_redis_url
from wsmonitor.samples import Sample

STALE_INTERVALS = 3
"""Evidence older than this many intervals (of its probe) no longer passes a check."""

MIN_STALE = 30.0
"""Never call evidence stale sooner than this, seconds."""


def build_probes(settings: Settings, only: set[str] | None = None) -> list[Probe]:
    """The probes the settings ask for (``only`` limits them to some sections)."""
    probes: list[Probe] = []
    if settings.redis_url and (only is None or "redis" in only):
        from wsmonitor.probes.redis import RedisProbe

        probes.append(RedisProbe(settings.redis_url, plan=settings.plan,
                                 budget_percent=settings.redis_budget,
                                 ca_file=settings.redis_ca))
    channel_layer = None
    if settings.redis_url and not settings.kiosk and (only is None or "redis" in only):
        from wsmonitor.probes.channel_layer import channel_layer_probe

        channel_layer = channel_layer_probe(settings, only)
    tokens = None
    if settings.url and (only is None or "handshake" in only):
        from wsmonitor.probes.handshake import handshake_probes
        from wsmonitor.tokens import TokenSource

        tokens = TokenSource.from_settings(settings)
        shakes = handshake_probes(settings, hold=settings.hold, ca_file=settings.ca_file,
                                  tokens=tokens)
        if channel_layer is not None:
            from wsmonitor.probes.channel_layer import wire_delivery

            wire_delivery(channel_layer, shakes)
        probes.extend(shakes)
    if only is None or "logs" in only:
        from wsmonitor.probes.logs import build_logs_probe

        logs = build_logs_probe(settings)
        if logs is not None:
            probes.append(logs)
    if settings.effective_api_base and (only is None or "http" in only):
        from wsmonitor.probes.http import http_probes
        from wsmonitor.tokens import TokenSource

        probes.extend(http_probes(settings, polling_path=settings.polling_path,
                                  ca_file=settings.ca_file,
                                  tokens=tokens or TokenSource.from_settings(settings)))
    if settings.page_url and (only is None or "browser" in only):
        from wsmonitor.probes.browser import browser_probe

        browser = browser_probe(settings)
        if browser is not None:
            probes.append(browser)
    if channel_layer is not None:
        probes.append(channel_layer)
        redis_probe = next((p for p in probes if p.name == "redis"), None)
        if redis_probe is not None:
            share_redis_budget(redis_probe, channel_layer)
    return probes


def share_redis_budget(redis_probe: Any, channel_layer: Any) -> None:
    """One budget and one count for everything wsmonitor sends to Redis.

    The channel-layer probe's commands are the monitor's own, not the service's; and the two
    probes split ``--redis-budget`` instead of each spending all of it.
    """
    redis_probe.add_own_commands_source(lambda: channel_layer.own_commands)
    if redis_probe.budget_per_day and channel_layer.budget_per_day:
        redis_probe.budget_percent /= 2
        channel_layer.budget_per_day /= 2


def build_engine(settings: Settings, only: set[str] | None = None) -> Engine:
    """An engine over the configured probes."""
    return Engine(build_probes(settings, only), interval=settings.interval)


def check_context(settings: Settings, engine: Engine | None = None,
                  only: set[str] | None = None) -> CheckContext:
    """The facts the rules need, with no secret in them."""
    from wsmonitor.probes.channel_layer import channel_layer_facts

    findings = tuple(lint_redis_url(settings.redis_url, ca_file=settings.redis_ca)) \
        if settings.redis_url else ()
    budget = own = None
    stale_by_probe: dict[str, float] = {}
    if engine is not None:
        base = engine.base_interval * engine.interval_factor
        for name, probe in engine.probes.items():
            interval = getattr(probe, "steady_interval", probe.interval)(base)
            stale_by_probe[name] = max(MIN_STALE, STALE_INTERVALS * interval + probe.timeout)
        if "redis" in engine.probes:
            probe = engine.probes["redis"]
            budget = getattr(probe, "budget_per_day", None)
            own_fn = getattr(probe, "own_commands_per_day", None)
            own = own_fn(base) if own_fn else None
            layer = engine.probes.get("channel-layer")
            if own is not None and layer is not None:
                own += layer.own_commands_per_day(base)  # type: ignore[attr-defined]
                layer_budget = getattr(layer, "budget_per_day", None)
                if budget and layer_budget:
                    budget += layer_budget

    def wanted(section: str) -> bool:
        return only is None or section in only

    return CheckContext(
        token=token_facts(settings),
        url_host=_host(settings.url),
        hold=settings.hold,
        http_configured=bool(settings.effective_api_base) and wanted("http"),
        plan=settings.plan,
        redis_configured=bool(settings.redis_url) and wanted("redis"),
        redis_findings=findings,
        kiosk=settings.kiosk,
        url_configured=bool(settings.url) and wanted("handshake"),
        logs_configured=bool(settings.log_group or settings.log_file or settings.log_command
                             or settings.apprunner_service) and wanted("logs"),
        stale_by_probe=stale_by_probe,
        redis_budget_per_day=budget,
        own_commands_per_day=own,
        extra={"channel_layer": _delivery_wired(channel_layer_facts(settings, only), engine),
               "browser": browser_facts(settings, only)},
    )


def browser_facts(settings: Settings, only: set[str] | None = None) -> dict[str, Any]:
    """What the browser-websocket rule needs of the settings (redacted URLs only)."""
    from wsmonitor.secrets import redact

    return {"configured": bool(settings.page_url) and (only is None or "browser" in only),
            "page_url": redact(settings.page_url) if settings.page_url else None,
            "url": redact(settings.url) if settings.url else None,
            "polling_path": settings.polling_path}


def _delivery_wired(facts: Any, engine: Engine | None) -> Any:
    """The facts, saying why there is no delivery when the engine's held socket carries no
    delivery hook though the settings would wire one (the demo's plain layer)."""
    if engine is None or facts.delivery is not None:
        return facts
    from wsmonitor.samples_ws import HOLD_PROBE

    held = engine.probes.get(HOLD_PROBE)
    if held is None or not hasattr(held, "on_open") or held.on_open is not None:
        return facts  # wired, or not a live probe (a replay's stand-in)
    from dataclasses import replace

    why = getattr(held, "no_delivery", None) or "no delivery hook on the held socket"
    return replace(facts, delivery=why)


def token_facts(settings: Settings) -> TokenFacts | None:
    """What the checks may know of the token: never the token itself."""
    from wsmonitor.tokens import TokenError, decode_token, verify_token

    if settings.token:
        try:
            info = decode_token(settings.token)
        except TokenError as exc:
            return TokenFacts(source="given", error=str(exc), error_kind=exc.kind)
        verified: bool | None = None
        error = error_kind = None
        if settings.jwt_secret:
            try:
                verify_token(settings.token, settings.jwt_secret)
                verified = True
            except TokenError as exc:
                verified = exc.kind not in ("bad-signature", "wrong-algorithm")
                error, error_kind = str(exc), exc.kind
        return TokenFacts(source="given", token_type=info.token_type, user_id=info.user_id,
                          exp=info.exp, has_jti=info.has_jti, verified=verified, error=error,
                          error_kind=error_kind)
    if settings.jwt_secret:
        return TokenFacts(source="minted", token_type="access", user_id=settings.jwt_user_id,
                          has_jti=True, verified=True)
    return None


def _host(url: str | None) -> str | None:
    if not url:
        return None
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def judge(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
          now: float | None = None) -> tuple[Diagnosis, list[CheckResult]]:
    """Checks and the diagnosis above them."""
    import time as _time

    from wsmonitor.rules.websocket import diagnosis_variants, is_app_runner, service_failing

    now = _time.time() if now is None else now
    results = evaluate(ctx, history, now)
    variants = diagnosis_variants(ctx, history, now)
    from wsmonitor.rules.logs import ended_categories, log_categories, recent_error_times
    from wsmonitor.rules.diagnosis import signals
    from wsmonitor.rules.platform import platform_of

    logs = history.get("logs", ())
    ended = ended_categories({r.id: r for r in results}, recent_error_times(logs, now),
                             history)
    return diagnose(results, variants, app_runner=is_app_runner(ctx),
                    service_down=service_failing(ctx, history, now),
                    log_categories=log_categories(logs, now, ended),
                    signals=signals(ctx, history, now),
                    platform=platform_of(history, ctx.url_host, now)), results
