"""A django-health-check check: the channel layer's send → receive round trip.

``pip install 'wsmonitor[django-health-check]'`` (django-health-check 4.8; 4.9+ needs Python
3.14), then list it with the others::

    path("health/", HealthCheckView.as_view(checks=[
        "health_check.checks.Database",
        "wsmonitor.django.health.ChannelLayerHealthCheck",
    ]))

django-health-check's own Redis check only PINGs; this one sends through the consumers' own
layer. It shares the views' per-process `RoundTripGate`, so a busy ``/health/`` costs Redis at
most one round trip per ``CACHE_SECONDS``.
"""

from __future__ import annotations

import dataclasses
import datetime

try:
    from health_check.base import HealthCheck
    from health_check.exceptions import ServiceUnavailable, ServiceWarning
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError("wsmonitor.django.health needs django-health-check: "
                      "pip install 'wsmonitor[django-health-check]'") from exc

SLOW_MS = 500.0
"""A round trip slower than this is a warning."""


@dataclasses.dataclass
class ChannelLayerHealthCheck(HealthCheck):
    """Unavailable when the round trip fails; a warning when it is slower than `slow_ms`."""

    slow_ms: float = SLOW_MS
    timeout = datetime.timedelta(seconds=5)

    async def run(self) -> None:
        from wsmonitor.django import views

        result, _cached = await views.GATE.get()
        if not result.ok:
            # The message may name a host: django-health-check pages can be public.
            raise ServiceUnavailable(f"channel layer round trip failed: {result.error_kind} "
                                     f"({result.generic_error})")
        if not result.redis:
            raise ServiceWarning("the channel layer is not Redis-backed: messages never leave "
                                 "this process")
        if result.round_trip_ms is not None and result.round_trip_ms > self.slow_ms:
            raise ServiceWarning(f"channel layer round trip took {result.round_trip_ms:.0f} ms")
