"""Plan limits as data: each figure with the date it held from and its source."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

DAYS_PER_MONTH = 30
"""Monthly quotas are compared with a 30-day projection."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One limit of a plan."""

    value: int | None
    """The limit; None when the plan has none."""
    as_of: str = ""
    """The date the figure held from."""
    source: str = ""
    """Where the figure was read."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A named set of limits Redis usage is measured against."""

    name: str
    """The id used with ``--redis-plan``."""
    title: str
    """One line for the pane."""
    provider: str = "self-hosted"
    """upstash, self-hosted, …"""
    commands_per_day: Figure = field(default_factory=lambda: Figure(None))
    """A daily command quota."""
    commands_per_month: Figure = field(default_factory=lambda: Figure(None))
    """A monthly command quota."""
    max_connections: Figure = field(default_factory=lambda: Figure(None))
    """A cap on concurrent connections (None: the server's own ``maxclients``)."""
    notes: tuple[str, ...] = ()
    """Caveats shown with the plan."""

    @property
    def daily_quota(self) -> float | None:
        """The command quota expressed per day (a monthly quota divided by 30)."""
        if self.commands_per_day.value is not None:
            return float(self.commands_per_day.value)
        if self.commands_per_month.value is not None:
            return self.commands_per_month.value / DAYS_PER_MONTH
        return None

    @property
    def quota_text(self) -> str:
        """The quota as the provider states it."""
        if self.commands_per_day.value is not None:
            return f"{self.commands_per_day.value:,} commands/day"
        if self.commands_per_month.value is not None:
            return f"{self.commands_per_month.value:,} commands/month"
        return "no command quota"

    def with_overrides(
        self, max_connections: int | None = None, commands_per_day: int | None = None,
        commands_per_month: int | None = None,
    ) -> Plan:
        """Return this plan with limits given on the command line in place of its own."""
        day, month, conns = self.commands_per_day, self.commands_per_month, self.max_connections
        if commands_per_day is not None:
            day, month = Figure(commands_per_day, "", "--max-commands"), Figure(None)
        if commands_per_month is not None:
            day, month = Figure(None), Figure(commands_per_month, "", "--max-commands")
        if max_connections is not None:
            conns = Figure(max_connections, "", "--max-connections")
        return Plan(self.name, self.title, self.provider, day, month, conns, self.notes)


def _figure(raw: object) -> Figure:
    if isinstance(raw, dict):
        value = raw.get("value")
        return Figure(None if value is None or value < 0 else int(value),
                      str(raw.get("as_of", "")), str(raw.get("source", "")))
    return Figure(None)


@cache
def load_plans() -> dict[str, Plan]:
    """Read the plans shipped in ``wsmonitor/plans.toml``."""
    text = resources.files("wsmonitor").joinpath("plans.toml").read_text(encoding="utf-8")
    plans: dict[str, Plan] = {}
    for name, raw in tomllib.loads(text).items():
        notes = tuple(str(raw[k]) for k in ("counts_monitor_commands", "billing") if k in raw)
        plans[name] = Plan(
            name=name,
            title=str(raw.get("title", name)),
            provider=str(raw.get("provider", "self-hosted")),
            commands_per_day=_figure(raw.get("commands_per_day")),
            commands_per_month=_figure(raw.get("commands_per_month")),
            max_connections=_figure(raw.get("max_connections")),
            notes=notes,
        )
    return plans


def plan_names() -> list[str]:
    """The ids ``--redis-plan`` accepts."""
    return sorted(load_plans())
