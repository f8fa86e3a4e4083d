"""Prometheus metrics of ``wsmonitor watch --metrics HOST:PORT`` (SPEC: Metrics).

The exporter never judges: at each scrape, a custom collector reads every target's latest
published `Verdict` (checks, diagnosis) and its `SampleStats` — counters and histograms fed by
the engine as samples are published. Every series carries the ``target`` label; label values
come from bounded sets (check ids, statuses, layers, variants, classifications, log
categories, probe names, target names from the config) and pass through `redact`.

Only ``prometheus-client`` (the ``metrics`` extra) is imported here, and only when metrics
are asked for.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from wsmonitor.checks import STATUSES
from wsmonitor.samples import RedisSample, Sample
from wsmonitor.secrets import redact

HANDSHAKE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0)
"""Seconds, connect to 101 or failure: loopback milliseconds up to Daphne's 4–6 s stall and
the 10 s open timeout."""
REDIS_PING_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                      0.25, 0.5, 1.0)
"""Seconds: a loopback PING is ~0.1 ms, a cross-region one tens of ms (FACTS.md)."""

EXPECTED_REJECTIONS = frozenset({"no-token", "no-origin", "wrong-origin"})
"""Handshake variants that go to see a rejection: any HTTP answer is a successful run."""

MAX_LOG_CATEGORIES = 64
"""Bound on distinct ``category`` label values per target (user rules add categories)."""


class _Histogram:
    """Cumulative bucket counts and a sum (what a Prometheus histogram exposes)."""

    __slots__ = ("bounds", "counts", "total", "count")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * len(self.bounds)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1

    def buckets(self) -> list[tuple[str, int]]:
        out = [(_float(b), c) for b, c in zip(self.bounds, self.counts)]
        out.append(("+Inf", self.count))
        return out


def _float(value: float) -> str:
    return repr(float(value))


def handshake_seconds(sample: Any) -> float:
    """Connect to 101 (DNS + TCP + TLS + upgrade), or to the failure."""
    t = sample.timings_ms
    if sample.status == 101 and t.upgrade is not None:
        return sum(v for v in (t.dns, t.tcp, t.tls, t.upgrade) if v is not None) / 1000
    return sample.duration_ms / 1000


def probe_succeeded(sample: Sample) -> bool:
    """Whether a run got what it went for (a rejection variant went for an HTTP answer)."""
    if sample.ok:
        return True
    variant = getattr(sample, "variant", None)
    return variant in EXPECTED_REJECTIONS and getattr(sample, "status", None) is not None


class SampleStats:
    """Counts kept as samples are published (an engine subscriber; thread-safe, bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.handshakes: dict[tuple[str, str], int] = {}
        self.status_code: dict[str, int] = {}
        self.handshake_seconds: dict[str, _Histogram] = {}
        self.redis_ping = _Histogram(REDIS_PING_BUCKETS)
        self.log_events: dict[str, int] = {}
        self.last_success: dict[str, float] = {}

    def add(self, sample: Sample) -> None:
        """Count one published sample."""
        from wsmonitor.probes.handshake import HandshakeSample
        from wsmonitor.probes.logs import LogsSample

        with self._lock:
            if probe_succeeded(sample):
                self.last_success[sample.probe] = max(sample.at,
                                                      self.last_success.get(sample.probe, 0.0))
            if isinstance(sample, HandshakeSample):
                # The held socket publishes its handshake at the 101 and again when the hold
                # ends: one attempt, counted once (the final sample).
                self.status_code[sample.variant] = sample.status or 0
                if sample.interim:
                    return
                key = (sample.variant, sample.classification)
                self.handshakes[key] = self.handshakes.get(key, 0) + 1
                hist = self.handshake_seconds.get(sample.variant)
                if hist is None:
                    hist = self.handshake_seconds[sample.variant] = _Histogram(HANDSHAKE_BUCKETS)
                hist.observe(handshake_seconds(sample))
            elif isinstance(sample, RedisSample):
                for ms in sample.latencies_ms:
                    self.redis_ping.observe(ms / 1000)
            elif isinstance(sample, LogsSample):
                for category in sample.by_category:
                    self._log_category(category, 0)
                for event in sample.events:
                    for category in event.tags or ((event.category,) if event.category else ()):
                        self._log_category(category, 1)

    def _log_category(self, category: str, n: int) -> None:
        if category in self.log_events:
            self.log_events[category] += n
        elif len(self.log_events) < MAX_LOG_CATEGORIES:
            self.log_events[category] = n

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy for one scrape."""
        with self._lock:
            return {
                "handshakes": dict(self.handshakes),
                "status_code": dict(self.status_code),
                "handshake_seconds": {v: (h.buckets(), h.total)
                                      for v, h in self.handshake_seconds.items()},
                "redis_ping": (self.redis_ping.buckets(), self.redis_ping.total)
                if self.redis_ping.count else None,
                "log_events": dict(self.log_events),
                "last_success": dict(self.last_success),
            }


class WatchCollector:
    """A prometheus-client collector over the targets of a `wsmonitor.watch.Watch`.

    Args:
        runs: Objects with ``name``, ``settings``, ``engine``, ``stats`` (`SampleStats`) and
            ``verdict`` (the latest `Verdict` or None).
    """

    def __init__(self, runs: Sequence[Any]) -> None:
        self.runs = runs

    def describe(self) -> list[Any]:
        return []  # no registration-time collect: the verdicts are not there yet

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, \
            HistogramMetricFamily

        from wsmonitor.diagnosis import LAYERS
        from wsmonitor.report import redis_section

        check_status = GaugeMetricFamily(
            "wsmonitor_check_status", "1 for the check's current status, 0 for the others",
            labels=["target", "check", "status"])
        diagnosis = GaugeMetricFamily(
            "wsmonitor_diagnosis_info", "1 for the current verdict: the layer most likely "
            "broken (none: nothing is) and how sure", labels=["target", "layer", "confidence"])
        handshakes = CounterMetricFamily(
            "wsmonitor_handshakes", "Handshake attempts by variant and SPEC classification",
            labels=["target", "variant", "classification"])
        status_code = GaugeMetricFamily(
            "wsmonitor_handshake_status_code", "HTTP status of the last handshake answer "
            "(0: no status line)", labels=["target", "variant"])
        duration = HistogramMetricFamily(
            "wsmonitor_handshake_duration_seconds", "Connect to 101, or to the failure",
            labels=["target", "variant"])
        ping = HistogramMetricFamily(
            "wsmonitor_redis_ping_seconds", "Redis PING round trips", labels=["target"])
        clients = GaugeMetricFamily(
            "wsmonitor_redis_connected_clients", "Clients connected to Redis (INFO)",
            labels=["target"])
        limit = GaugeMetricFamily(
            "wsmonitor_redis_connection_limit", "The plan's connection cap (else Redis "
            "maxclients)", labels=["target"])
        per_day = GaugeMetricFamily(
            "wsmonitor_redis_commands_per_day", "Redis commands per day, projected from the "
            "recent rate (the service's and wsmonitor's)", labels=["target"])
        quota = GaugeMetricFamily(
            "wsmonitor_redis_command_quota_per_day", "The plan's command quota per day "
            "(absent without one)", labels=["target"])
        log_events = CounterMetricFamily(
            "wsmonitor_log_events", "Classified service log events by category",
            labels=["target", "category"])
        last_success = GaugeMetricFamily(
            "wsmonitor_probe_last_success_timestamp_seconds", "When each probe last got what "
            "it went for (a rejection variant: any HTTP answer)", labels=["target", "probe"])

        confidences = ("confirmed", "likely")
        for run in self.runs:
            name = redact(run.name)
            verdict = run.verdict
            if verdict is not None:
                for check in verdict.checks:
                    for status in STATUSES:
                        check_status.add_metric([name, check.id, status],
                                                1.0 if check.status == status else 0.0)
                shown = verdict.shown
                for layer in LAYERS:
                    for confidence in confidences:
                        diagnosis.add_metric(
                            [name, layer, confidence],
                            1.0 if (layer, confidence) == (shown.layer, shown.confidence)
                            else 0.0)
            stats = run.stats.snapshot()
            for (variant, classification), n in sorted(stats["handshakes"].items()):
                handshakes.add_metric([name, variant, classification], n)
            for variant, code in sorted(stats["status_code"].items()):
                status_code.add_metric([name, variant], code)
            for variant, (buckets, total) in sorted(stats["handshake_seconds"].items()):
                duration.add_metric([name, variant], buckets, total)
            if stats["redis_ping"] is not None:
                ping.add_metric([name], *stats["redis_ping"])
            for category, n in sorted(stats["log_events"].items()):
                log_events.add_metric([name, redact(category)], n)
            for probe, at in sorted(stats["last_success"].items()):
                last_success.add_metric([name, probe], at)
            redis = run.engine.history("redis") if "redis" in run.engine.probes else []
            section = redis_section(redis, run.settings.plan) if redis else None
            if section is not None:
                for family, key in ((clients, "connected_clients"), (limit, "max_connections"),
                                    (per_day, "commands_per_day"),
                                    (quota, "command_quota_per_day")):
                    if section.get(key) is not None:
                        family.add_metric([name], float(section[key]))
            elif run.settings.redis_url and run.settings.plan.daily_quota is not None:
                quota.add_metric([name], float(run.settings.plan.daily_quota))
        yield from (check_status, diagnosis, handshakes, status_code, duration, ping, clients,
                    limit, per_day, quota, log_events, last_success)


class MetricsError(Exception):
    """``--metrics`` cannot be served: a bad address, a port in use, the extra missing."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6; an empty host means every address).

    Raises:
        MetricsError: not HOST:PORT, or a port outside 1-65535.
    """
    example = "e.g. 127.0.0.1:9464 or 0.0.0.0:9464"
    host, sep, port_text = str(text).rpartition(":")
    if not sep or not port_text.isdigit():
        raise MetricsError(f"--metrics {text!r} is not HOST:PORT: {example}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise MetricsError(f"--metrics {text!r}: port {port} is outside 1-65535: {example}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise MetricsError(f"--metrics {text!r}: write an IPv6 address in brackets, "
                           "e.g. [::1]:9464")
    return host or "0.0.0.0", port


def serve_metrics(runs: Sequence[Any], listen: str) -> Any:
    """Serve ``/metrics`` for these targets on ``HOST:PORT``; returns the server (its
    ``shutdown()`` stops it).

    A registry of its own: the default one adds process and GC series without a ``target``
    label.

    Raises:
        MetricsError: bad address, port in use, or prometheus-client not installed.
    """
    host, port = parse_listen(listen)
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise MetricsError("--metrics needs prometheus-client: pip install "
                           "'wsmonitor[metrics]'") from None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchCollector(runs))  # type: ignore[arg-type]
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except socket.gaierror as exc:
        raise MetricsError(f"--metrics {listen!r}: host {host!r} does not resolve "
                           f"({exc.strerror}): give an IP address or a known name") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise MetricsError(f"--metrics {listen!r}: cannot listen there ({reason}): pick a "
                           "free port, or an address of this machine") from None
    return server
