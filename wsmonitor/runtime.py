"""Wiring shared by every command: probes and check context built from settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wsmonitor.checks import CheckContext, CheckResult, Diagnosis, diagnose, evaluate
from wsmonitor.config import Settings
from wsmonitor.engine import Engine, Probe
from wsmonitor.redis_url import lint_redis_url
from wsmonitor.samples import Sample

STALE_INTERVALS = 3
"""Evidence older than this many intervals (of its probe) no longer passes a check."""


def build_probes(settings: Settings, only: set[str] | None = None) -> list[Probe]:
    """The probes the settings ask for (``only`` limits them to some sections)."""
    probes: list[Probe] = []
    if settings.redis_url and (only is None or "redis" in only):
        from wsmonitor.probes.redis import RedisProbe

        probes.append(RedisProbe(settings.redis_url, plan=settings.plan,
                                 budget_percent=settings.redis_budget,
                                 ca_file=settings.redis_ca))
    return probes


def build_engine(settings: Settings, only: set[str] | None = None) -> Engine:
    """An engine over the configured probes."""
    return Engine(build_probes(settings, only), interval=settings.interval)


def check_context(settings: Settings, engine: Engine | None = None,
                  only: set[str] | None = None) -> CheckContext:
    """The facts the rules need, with no secret in them."""
    findings = tuple(lint_redis_url(settings.redis_url, ca_file=settings.redis_ca)) \
        if settings.redis_url else ()
    budget = own = None
    stale = 60.0
    if engine is not None and "redis" in engine.probes:
        probe = engine.probes["redis"]
        base = engine.base_interval * engine.interval_factor
        budget = getattr(probe, "budget_per_day", None)
        own_fn = getattr(probe, "own_commands_per_day", None)
        own = own_fn(base) if own_fn else None
        stale = max(stale, STALE_INTERVALS * getattr(probe, "steady_interval", probe.interval)(base))

    def wanted(section: str) -> bool:
        return only is None or section in only

    return CheckContext(
        plan=settings.plan,
        redis_configured=bool(settings.redis_url) and wanted("redis"),
        redis_findings=findings,
        kiosk=settings.kiosk,
        url_configured=bool(settings.url) and wanted("handshake"),
        logs_configured=bool(settings.log_group or settings.log_file or settings.log_command
                             or settings.apprunner_service) and wanted("logs"),
        stale_after=stale,
        redis_budget_per_day=budget,
        own_commands_per_day=own,
    )


def judge(ctx: CheckContext, history: Mapping[str, Sequence[Sample]],
          now: float | None = None) -> tuple[Diagnosis, list[CheckResult]]:
    """Checks and the diagnosis above them."""
    results = evaluate(ctx, history, now)
    return diagnose(results), results
