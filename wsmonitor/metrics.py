"""Prometheus metrics of ``wsmonitor watch --metrics HOST:PORT`` (SPEC: Metrics).

The exporter never judges: at each scrape, a custom collector reads every target's latest
published `Verdict` (checks, diagnosis) and its `SampleStats` — counters and histograms fed by
the engine as samples are published. Every series carries the ``target`` label; label values
come from bounded sets (check ids, statuses, layers, variants, classifications, log
categories, probe names, target names from the config) and pass through `redact`.

``/metrics`` is served by `Exposition`, a cached writer of the text format (see why there);
`WatchCollector` gives the same series to a prometheus-client registry (the ``metrics`` extra),
and the tests hold the two to the same samples.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from wsmonitor.rules.base import STATUSES
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
        from wsmonitor.samples_ws import HandshakeSample
        from wsmonitor.log_samples import LogsSample

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


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family of SPEC's table."""

    name: str
    """Without ``_total`` for counters (prometheus-client's convention)."""
    kind: str
    """``gauge``, ``counter`` or ``histogram``."""
    help: str
    labels: tuple[str, ...]
    """Besides ``target`` (and ``le``)."""

    @property
    def exposed(self) -> str:
        """The name on the wire (counters end in ``_total``)."""
        return self.name + "_total" if self.kind == "counter" else self.name


FAMILIES = (
    Family("wsmonitor_check_status", "gauge",
           "1 for the check's current status, 0 for the others", ("check", "status")),
    Family("wsmonitor_diagnosis_info", "gauge", "1 for the current verdict: the layer most "
           "likely broken (none: nothing is) and how sure", ("layer", "confidence")),
    Family("wsmonitor_handshakes", "counter",
           "Handshake attempts by variant and SPEC classification", ("variant",
                                                                     "classification")),
    Family("wsmonitor_handshake_status_code", "gauge",
           "HTTP status of the last handshake answer (0: no status line)", ("variant",)),
    Family("wsmonitor_handshake_duration_seconds", "histogram",
           "Connect to 101, or to the failure", ("variant",)),
    Family("wsmonitor_redis_ping_seconds", "histogram", "Redis PING round trips", ()),
    Family("wsmonitor_redis_connected_clients", "gauge", "Clients connected to Redis (INFO)",
           ()),
    Family("wsmonitor_redis_connection_limit", "gauge",
           "The plan's connection cap (else Redis maxclients)", ()),
    Family("wsmonitor_redis_commands_per_day", "gauge", "Redis commands per day, projected "
           "from the recent rate (the service's and wsmonitor's)", ()),
    Family("wsmonitor_redis_command_quota_per_day", "gauge",
           "The plan's command quota per day (absent without one)", ()),
    Family("wsmonitor_log_events", "counter", "Classified service log events by category",
           ("category",)),
    Family("wsmonitor_probe_last_success_timestamp_seconds", "gauge", "When each probe last "
           "got what it went for (a rejection variant: any HTTP answer)", ("probe",)),
)
"""SPEC's metrics, in exposition order."""

CONFIDENCES = ("confirmed", "likely")

REDIS_HISTORY = 20
"""Redis samples read per scrape: the command rate averages the last 10."""

Series = tuple[str, str, tuple[tuple[str, str], ...], float]
"""(family name, sample suffix (``_bucket`` …), labels (``target`` first), value)."""


def target_series(run: Any) -> Iterator[Series]:
    """Every series of one target, read from its latest verdict and its sample counts.

    Args:
        run: Has ``name``, ``settings``, ``engine``, ``stats`` (`SampleStats`) and
            ``verdict`` (the latest `Verdict`, or None before the first).
    """
    yield from verdict_series(run)
    yield from sample_series(run)


def verdict_series(run: Any) -> Iterator[Series]:
    """``wsmonitor_check_status`` and ``wsmonitor_diagnosis_info`` of one target."""
    from wsmonitor.rules.diagnosis import LAYERS

    t = ("target", redact(run.name))
    verdict = run.verdict
    if verdict is None:
        return
    for check in verdict.checks:
        for status in STATUSES:
            yield ("wsmonitor_check_status", "", (t, ("check", check.id), ("status", status)),
                   1.0 if check.status == status else 0.0)
    shown = verdict.shown
    for layer in LAYERS:
        for confidence in CONFIDENCES:
            yield ("wsmonitor_diagnosis_info", "",
                   (t, ("layer", layer), ("confidence", confidence)),
                   1.0 if (layer, confidence) == (shown.layer, shown.confidence) else 0.0)


def verdict_key(run: Any) -> tuple[Any, ...] | None:
    """What `verdict_series` depends on: it changes only when a status or the layer does."""
    verdict = run.verdict
    if verdict is None:
        return None
    return (run.name, tuple((c.id, c.status) for c in verdict.checks), verdict.shown.layer,
            verdict.shown.confidence)


def sample_series(run: Any) -> Iterator[Series]:
    """The series of one target read from its sample counts and Redis history."""
    from wsmonitor.report import redis_section

    t = ("target", redact(run.name))
    stats = run.stats.snapshot()
    for (variant, classification), n in sorted(stats["handshakes"].items()):
        yield ("wsmonitor_handshakes", "_total",
               (t, ("variant", variant), ("classification", classification)), float(n))
    for variant, code in sorted(stats["status_code"].items()):
        yield ("wsmonitor_handshake_status_code", "", (t, ("variant", variant)), float(code))
    for variant, (buckets, total) in sorted(stats["handshake_seconds"].items()):
        yield from _histogram("wsmonitor_handshake_duration_seconds",
                              (t, ("variant", variant)), buckets, total)
    if stats["redis_ping"] is not None:
        yield from _histogram("wsmonitor_redis_ping_seconds", (t,), *stats["redis_ping"])
    engine = run.engine
    redis = engine.history("redis")[-REDIS_HISTORY:] if "redis" in engine.probes else []
    section = redis_section(redis, run.settings.plan) if redis else None
    if section is not None:
        for name, key in (("wsmonitor_redis_connected_clients", "connected_clients"),
                          ("wsmonitor_redis_connection_limit", "max_connections"),
                          ("wsmonitor_redis_commands_per_day", "commands_per_day"),
                          ("wsmonitor_redis_command_quota_per_day", "command_quota_per_day")):
            if section.get(key) is not None:
                yield (name, "", (t,), float(section[key]))
    elif run.settings.redis_url and run.settings.plan.daily_quota is not None:
        yield ("wsmonitor_redis_command_quota_per_day", "", (t,),
               float(run.settings.plan.daily_quota))
    for category, n in sorted(stats["log_events"].items()):
        yield ("wsmonitor_log_events", "_total", (t, ("category", redact(category))), float(n))
    for probe, at in sorted(stats["last_success"].items()):
        yield ("wsmonitor_probe_last_success_timestamp_seconds", "", (t, ("probe", probe)), at)


def _histogram(name: str, labels: tuple[tuple[str, str], ...], buckets: list[tuple[str, int]],
               total: float) -> Iterator[Series]:
    for le, count in buckets:
        yield (name, "_bucket", (*labels, ("le", le)), float(count))
    yield (name, "_count", labels, float(buckets[-1][1]))
    yield (name, "_sum", labels, total)


class WatchCollector:
    """The same series as a prometheus-client collector: for embedding wsmonitor's metrics in
    a registry of one's own, and the tests' reference for `Exposition`.

    Args:
        runs: The targets (see `target_series`).
    """

    def __init__(self, runs: Sequence[Any]) -> None:
        self.runs = runs

    def describe(self) -> list[Any]:
        return []  # no registration-time collect: the verdicts are not there yet

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, \
            HistogramMetricFamily

        kinds = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily,
                 "histogram": HistogramMetricFamily}
        families = {f.name: kinds[f.kind](f.name, f.help, labels=["target", *f.labels])
                    for f in FAMILIES}
        for run in self.runs:
            for name, suffix, labels, value in target_series(run):
                families[name].samples.append(_sample(name + suffix, dict(labels), value))
        yield from families.values()


def _sample(name: str, labels: dict[str, str], value: float) -> Any:
    from prometheus_client.samples import Sample as PromSample

    return PromSample(name, labels, value, None, None)


class Exposition:
    """Prometheus text format (0.0.4) for the targets, fast enough for 50 of them.

    prometheus-client's ``generate_latest`` spends ~6 µs a series escaping and validating
    labels: ~60 ms for 50 targets' 10,000 series (bench/watch_scale.py), over the 50 ms goal.
    Here each series' name-and-labels prefix is escaped once and cached (label values come from
    bounded sets), so a scrape formats numbers and joins strings. The tests check that both
    give the same samples, and promtool lints the result.
    """

    MAX_PREFIXES = 200_000
    """Bound on the cache (series are bounded; this bounds a bug)."""

    def __init__(self, runs: Sequence[Any]) -> None:
        self.runs = runs
        self._prefixes: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        self._verdicts: dict[int, tuple[Any, dict[str, list[str]]]] = {}
        self._heads = {f.name: f"# HELP {f.exposed} {f.help}\n# TYPE {f.exposed} {f.kind}\n"
                       for f in FAMILIES}

    def render(self) -> bytes:
        """The whole /metrics page."""
        lines: dict[str, list[str]] = {f.name: [] for f in FAMILIES}
        verdict_lines: dict[int, tuple[Any, dict[str, list[str]]]] = {}
        for i, run in enumerate(self.runs):
            # A target's check and diagnosis lines (half its series) change only with a
            # status or the layer: rendered again only then.
            key = verdict_key(run)
            cached = self._verdicts.get(i)
            if cached is None or cached[0] != key:
                block: dict[str, list[str]] = {f.name: [] for f in FAMILIES}
                self._format(verdict_series(run), block)
                cached = (key, block)
            verdict_lines[i] = cached
            for name, block_lines in cached[1].items():
                lines[name].extend(block_lines)
            self._format(sample_series(run), lines)
        self._verdicts = verdict_lines
        out: list[str] = []
        for family in FAMILIES:
            out.append(self._heads[family.name])
            out.extend(lines[family.name])
        return "".join(out).encode()


    def _format(self, series: Iterator[Series], lines: dict[str, list[str]]) -> None:
        prefixes = self._prefixes
        for name, suffix, labels, value in series:
            key = (name + suffix, labels)
            prefix = prefixes.get(key)
            if prefix is None:
                prefix = f"{name}{suffix}{{" + ",".join(
                    f'{k}="{_escape(v)}"' for k, v in labels) + "} "
                if len(prefixes) < self.MAX_PREFIXES:
                    prefixes[key] = prefix
            lines[name].append(prefix + _number(value) + "\n")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value != value:  # noqa: PLR0124 - NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class MetricsError(Exception):
    """``--metrics`` cannot be served: a bad address or a port in use."""


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


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus's text exposition format (prometheus-client's ``CONTENT_TYPE_LATEST``)."""


def serve_metrics(runs: Sequence[Any], listen: str) -> Any:
    """Serve ``/metrics`` for these targets on ``HOST:PORT`` from a thread; returns the server
    (``shutdown()`` then ``server_close()`` stop it).

    Only wsmonitor's series: no process or GC series, which would lack the ``target`` label.

    Raises:
        MetricsError: a bad address or a port in use.
    """
    import http.server

    host, port = parse_listen(listen)
    exposition = Exposition(runs)

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "wsmonitor"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, ctype, code = exposition.render(), CONTENT_TYPE, 200
            elif path == "/":
                body, ctype, code = b"wsmonitor: metrics at /metrics\n", "text/plain", 200
            else:
                body, ctype, code = b"not found: try /metrics\n", "text/plain", 404
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Silent: stdout carries the verdict lines only."""

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MetricsError(f"--metrics {listen!r}: host {host!r} does not resolve "
                           f"({exc.strerror}): give an IP address or a known name") from None

    class Server(http.server.ThreadingHTTPServer):
        address_family = infos[0][0]
        daemon_threads = True

    try:
        server = Server(infos[0][4][:2], Handler)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise MetricsError(f"--metrics {listen!r}: cannot listen there ({reason}): pick a "
                           "free port, or an address of this machine") from None
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                     name="wsmonitor-metrics", daemon=True).start()
    return server
