"""Run every probe the flags ask for once (Redis twice: a command rate needs two INFOs) and
judge, as ``wsmonitor check`` does: shared by the verdict tests."""

from __future__ import annotations

from typing import Any

from wsmonitor.config import load_settings
from wsmonitor.runtime import build_engine, check_context, judge

HOLD = 2.0
"""Seconds the stays-open probe holds its socket in these tests."""


async def judged_once(**flags: Any) -> tuple[Any, dict[str, Any], dict[str, list[Any]]]:
    """The diagnosis, the check results by id, and the history they were judged on."""
    flags.setdefault("hold", HOLD)
    settings = load_settings(flags, environ={})
    engine = build_engine(settings)
    try:
        await engine.run_once()
        if "redis" in engine.probes:  # a command rate needs a second INFO
            await engine.run_once(["redis"])
    finally:
        await engine.close_probes()
    history = {n: engine.history(n) for n in engine.probes}
    diagnosis, results = judge(check_context(settings, engine), history)
    return diagnosis, {r.id: r for r in results}, history
