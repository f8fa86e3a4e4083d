"""Immutable samples: what a probe saw, once. Probes make them, everything else reads them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Sample:
    """The common part of every probe result."""

    probe: str
    """Which probe produced it: ``redis``, ``handshake``, ``logs``, ``http`` …"""
    at: float
    """Wall-clock time (``time.time()``) when the run finished."""
    ok: bool
    """Whether the probe got what it went for."""
    error: str | None = None
    """A short, redacted description of the failure, when not ok."""
    error_kind: str | None = None
    """A stable name of the failure (``refused``, ``auth-wrong-password`` …)."""
    duration_ms: float = 0.0
    """How long the run took."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the record format); nested tuples become lists."""
        out = dataclasses.asdict(self)
        out["type"] = type(self).__name__
        return out


MIN_SAMPLES = {"p95": 20, "p99": 100}
"""Fewest round trips a percentile is given from: below them p95 or p99 would be the maximum
(or one of the few largest) under another name, so it is None and shown as "n too small"."""

TOO_FEW = "n too small"
"""How a percentile is shown when there are too few samples for it."""


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Percentiles of PING round trips, in milliseconds (None: fewer samples than
    `MIN_SAMPLES` asks for that percentile)."""

    p50: float
    p95: float | None
    p99: float | None
    max: float
    samples: int

    @classmethod
    def of(cls, values_ms: list[float] | tuple[float, ...]) -> LatencyStats | None:
        """Nearest-rank percentiles of a set of round trips; None when it is empty."""
        if not values_ms:
            return None
        ordered = sorted(values_ms)
        n = len(ordered)

        def rank(p: float) -> float:
            return ordered[min(n - 1, max(0, int(-(-p * n // 100)) - 1))]

        return cls(rank(50), rank(95) if n >= MIN_SAMPLES["p95"] else None,
                   rank(99) if n >= MIN_SAMPLES["p99"] else None, ordered[-1], n)

    def shown(self, name: str, digits: int = 2) -> str:
        """``p95``/``p99``/``p50``/``max`` formatted, or "n too small (n < 20)"."""
        value = getattr(self, name)
        if value is None:
            return f"{TOO_FEW} (n < {MIN_SAMPLES[name]})"
        return f"{value:.{digits}f}"


SECONDS_PER_DAY = 86_400
"""For quota arithmetic (commands per day)."""

REDIS_ERROR_TEXT = {
    "refused": "connection refused: nothing listens on that host and port",
    "dns": "the host name does not resolve",
    "timeout": "no answer in time (a rediss:// URL to a plain port also does this)",
    "tls-verify": "TLS certificate verification failed",
    "tls": "TLS handshake failed",
    "reset": "the server reset the connection (redis:// to a TLS-only port does this)",
    "auth-wrong-password": "wrong password (or user disabled)",
    "auth-no-password": "the server requires a password and none was given",
    "auth-unexpected": "a password was given but the server has none set (wrong server?)",
    "max-clients": "the server is at its connection cap (maxclients): new connections refused",
    "plan-connections": "the plan's concurrent connection limit is reached",
    "plan-quota": "the plan's command quota is exhausted",
    "acl-denied": "the ACL user may not run a command the probe needs",
    "closed": "the server closed the connection",
    "error": "Redis error",
}
"""The Redis probe's error kinds, one line each, for panes and reports (re-exported as
`wsmonitor.probes.redis.ERROR_TEXT`, which classifies)."""


@dataclass(frozen=True, slots=True)
class RedisSample(Sample):
    """One run of the Redis probe: a PING burst and, when allowed, an INFO."""

    latencies_ms: tuple[float, ...] = ()
    """This run's PING round trips."""
    window: LatencyStats | None = None
    """Percentiles over the probe's recent window (several runs)."""
    info_ok: bool = False
    """Whether INFO answered (a restricted ACL user may not run it)."""
    info_denied: bool = False
    """INFO was refused by ACL: the probe degrades to latency only."""
    connected_clients: int | None = None
    maxclients: int | None = None
    rejected_connections: int | None = None
    total_commands_processed: int | None = None
    redis_version: str | None = None
    commands_per_second: float | None = None
    """All clients' command rate since the previous INFO (None on the first)."""
    own_commands_per_second: float | None = None
    """The monitor's own share of that rate."""
    own_commands_total: int = 0
    """Commands the monitor has sent since it started."""
    reconnects: int = 0
    """How many times the probe's connection was made anew."""
    server: str = ""
    """host:port (never the password)."""
    tls: bool = False

    @property
    def service_commands_per_second(self) -> float | None:
        """Everyone else's rate: the total less the monitor's own."""
        if self.commands_per_second is None:
            return None
        return max(0.0, self.commands_per_second - (self.own_commands_per_second or 0.0))


SAMPLE_TYPES: dict[str, type[Sample]] = {"Sample": Sample, "RedisSample": RedisSample}
"""Sample classes by name, for replaying recordings."""


def register_sample_type(cls: type[Sample]) -> type[Sample]:
    """Class decorator: make a sample type known to `sample_from_dict`."""
    SAMPLE_TYPES[cls.__name__] = cls
    return cls


def sample_from_dict(data: dict[str, Any]) -> Sample:
    """Rebuild a sample written by `Sample.to_dict` (unknown keys are ignored)."""
    data = dict(data)
    cls = SAMPLE_TYPES.get(str(data.pop("type", "Sample")), Sample)
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            continue
        if key == "window" and isinstance(value, dict):
            value = LatencyStats(**value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)

