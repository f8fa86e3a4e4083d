"""The logs probe: tails the service's logs and classifies consumer errors.

Three sources, one probe:

* **CloudWatch** (boto3, credentials and region from boto3's standard chain): ``StartLiveTail``
  streamed by a background thread into a bounded queue; ``FilterLogEvents`` polling when Live
  Tail is unavailable, denied, rate-limited or ends, and back to Live Tail later. Polling keeps
  ``startTime``/``nextToken`` per group, dedupes by ``eventId`` and spends at most one request a
  second of the account's shared 5 requests/s.
* **a file** (``--log-file``): follows appends, truncation and rotation by offset and inode.
* **a command** (``--log-command``): its stdout and stderr, restarted with backoff when it exits.

I/O only: no Textual here. Failures come back as samples with a named ``error_kind``; every
string that leaves the probe goes through `redact`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import shlex
import signal
import stat
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wsmonitor.log_rules import (
    AssembledEvent,
    Classification,
    EventAssembler,
    RawLine,
    RuleSet,
    build_rules,
)
from wsmonitor.samples import Sample, register_sample_type
from wsmonitor.secrets import redact

# --- samples ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One log event: a line, or a traceback with the line that introduced it."""

    timestamp: float
    """When it was logged (CloudWatch's timestamp) or read (file, command), epoch seconds."""
    location: str
    """``group/stream`` for CloudWatch, the path for a file, the program for a command."""
    message: str
    """The text, redacted; a traceback's lines joined by newlines."""
    category: str | None = None
    """The first matching rule's category (``redis-error`` …), or None."""
    event_id: str = ""
    """CloudWatch's eventId, ``inode:offset`` for a file, ``run:line`` for a command."""
    tags: tuple[str, ...] = ()
    """Every matching category, in priority order."""
    label: str | None = None
    """The one word shown for the category."""
    severity: str | None = None
    """``error``, ``warning`` or ``info`` for a classified event."""


@register_sample_type
@dataclass(frozen=True, slots=True)
class LogsSample(Sample):
    """One run of the logs probe: the new events since the last run, and the counts so far."""

    source: str = ""
    """``cloudwatch``, ``file`` or ``command``."""
    mode: str = ""
    """``live-tail``, ``polling``, ``file`` or ``command``."""
    target: str = ""
    """What is tailed: the log groups, the path, or the command (redacted)."""
    groups: tuple[str, ...] = ()
    """CloudWatch log groups tailed (after App Runner discovery)."""
    events: tuple[LogEvent, ...] = ()
    """New events this run (at most the probe's ``max_events``; classified ones first)."""
    by_category: dict[str, int] = field(default_factory=dict)
    """Events per category over the window; every known category, zeros included."""
    by_severity: dict[str, int] = field(default_factory=dict)
    """Classified events per severity (``error``, ``warning``, ``info``) over the window."""
    window_seconds: float = 0.0
    """The window of the counts."""
    events_in_window: int = 0
    """All events (classified or not) over the window."""
    events_total: int = 0
    """Events seen since the probe started."""
    events_omitted: int = 0
    """New events this run not carried in `events` (over the per-sample cap)."""
    dropped_total: int = 0
    """Lines lost because a bounded queue was full (command output, Live Tail), since start."""
    sampled: bool = False
    """Live Tail sampled since the last run (more than 500 events a second): counts are low."""
    fallback_kind: str | None = None
    """Why polling instead of Live Tail: ``access-denied``, ``limit-exceeded``,
    ``live-tail-unavailable``, ``session-ended``, ``too-many-groups``, ``disabled``."""
    fallback_reason: str | None = None
    """The same, for a person."""
    live_tail_retry_at: float | None = None
    """When Live Tail is tried again (epoch seconds), while polling."""
    notice: str | None = None
    """A one-time remark for the pane (Live Tail's per-minute billing)."""
    api_calls: int = 0
    """CloudWatch requests made since start."""
    restarts: int = 0
    """Times the command was restarted."""

    def __post_init__(self) -> None:
        # Replayed recordings carry events as dicts; make them events again.
        if any(not isinstance(e, LogEvent) for e in self.events):
            object.__setattr__(self, "events", tuple(
                e if isinstance(e, LogEvent) else _event_from_dict(e) for e in self.events))


def _event_from_dict(data: Mapping[str, Any]) -> LogEvent:
    known = {k: v for k, v in data.items() if k in LogEvent.__dataclass_fields__}
    if isinstance(known.get("tags"), list):
        known["tags"] = tuple(known["tags"])
    return LogEvent(**known)


# --- sources ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Batch:
    """What a source hands the probe in one run."""

    lines: list[RawLine] = field(default_factory=list)
    """``(location, timestamp, event_id, text)`` in arrival order per location."""
    error: str | None = None
    """Redacted description of a fault (the source keeps going)."""
    error_kind: str | None = None


class LogSource(Protocol):
    """Where log lines come from."""

    kind: str
    """``cloudwatch``, ``file`` or ``command``."""
    timeout: float

    def interval(self, base: float) -> float: ...

    async def fetch(self) -> Batch: ...

    def describe(self) -> dict[str, Any]:
        """Extra `LogsSample` fields (mode, target …)."""
        ...

    async def close(self) -> None: ...


class _BoundedQueue:
    """A thread-safe FIFO that drops its oldest lines when full, counting them."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[Any] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._lock:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)

    def extend(self, items: Sequence[Any]) -> None:
        with self._lock:
            room = (self._items.maxlen or 0) - len(self._items)
            if len(items) > room:
                self.dropped += len(items) - room
            self._items.extend(items)

    def drain(self, limit: int) -> list[Any]:
        with self._lock:
            n = min(limit, len(self._items))
            return [self._items.popleft() for _ in range(n)]

    def __len__(self) -> int:
        return len(self._items)


class _Seen:
    """A set that forgets its oldest keys beyond `maxlen` (dedupe without unbounded growth)."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._set: set[Any] = set()
        self._order: deque[Any] = deque()

    def add(self, key: Any) -> bool:
        """Remember `key`; True when it was new."""
        if key in self._set:
            return False
        self._set.add(key)
        self._order.append(key)
        if len(self._order) > self.maxlen:
            self._set.discard(self._order.popleft())
        return True

    def __contains__(self, key: Any) -> bool:
        return key in self._set

    def __len__(self) -> int:
        return len(self._set)


# --- CloudWatch ------------------------------------------------------------------------------------

LIVE_TAIL_MAX_GROUPS = 10
"""StartLiveTail takes at most 10 log groups."""

FILTER_QUOTA_PER_SECOND = 5.0
"""FilterLogEvents requests per second per account and region, shared by everyone tailing."""

MAX_POLL_RATE = 1.0
"""The share of that quota polling may spend, requests/s (a fifth of it)."""

IDLE_POLL_INTERVAL = 5.0
"""Seconds between polls while nothing new arrives (what ``aws logs tail --follow`` does)."""

POLL_OVERLAP_MS = 5_000
"""Polls re-read this much before the newest event seen: late-ingested events are not missed,
and dedupe drops the repeats."""

LIVE_TAIL_LONG_SESSION = 600.0
"""A session that ran this long and ended hit the 3-hour cap (or a blip): restart it at once."""

LIVE_TAIL_NOTICE = ("CloudWatch Live Tail is billed per minute of session: wsmonitor keeps one "
                    "session open while it runs and stops it on exit")

_GROUP_ARN = re.compile(r":log-group:(?P<name>[^:]+)(?::\*)?$")

_AWS_HOST = re.compile(r"(?i)^https?://[^/]*\.amazonaws\.com(?:\.cn)?(?::\d+)?(?:/|$)")


@dataclass(frozen=True, slots=True)
class AwsFault:
    """A CloudWatch failure, named."""

    kind: str
    """``no-credentials``, ``expired-credentials``, ``invalid-credentials``, ``access-denied``,
    ``group-not-found``, ``no-region``, ``throttled``, ``limit-exceeded``,
    ``endpoint-unreachable``, ``timeout``, ``live-tail-unavailable``, ``service-error``,
    ``aws-error``."""
    message: str
    """Redacted, with what to do."""


class _Fault(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_CODES: dict[str, str] = {
    "ExpiredTokenException": "expired-credentials",
    "ExpiredToken": "expired-credentials",
    "RequestExpired": "expired-credentials",
    "TokenRefreshRequired": "expired-credentials",
    "UnrecognizedClientException": "invalid-credentials",
    "InvalidClientTokenId": "invalid-credentials",
    "InvalidSignatureException": "invalid-credentials",
    "SignatureDoesNotMatch": "invalid-credentials",
    "IncompleteSignature": "invalid-credentials",
    "MissingAuthenticationToken": "invalid-credentials",
    "AccessDeniedException": "access-denied",
    "AccessDenied": "access-denied",
    "UnauthorizedOperation": "access-denied",
    "ResourceNotFoundException": "group-not-found",
    "ThrottlingException": "throttled",
    "Throttling": "throttled",
    "TooManyRequestsException": "throttled",
    "RequestLimitExceeded": "throttled",
    "LimitExceededException": "limit-exceeded",
    "ServiceUnavailableException": "service-error",
    "ServiceUnavailable": "service-error",
    "InternalFailure": "service-error",
    "InternalServerError": "service-error",
    "UnknownOperationException": "live-tail-unavailable",
    "InvalidOperationException": "live-tail-unavailable",
    "NotImplemented": "live-tail-unavailable",
    "UnsupportedOperation": "live-tail-unavailable",
}

_REMEDY: dict[str, str] = {
    "no-credentials": "no AWS credentials found in boto3's chain (environment, ~/.aws, SSO, "
                      "instance or task role): run `aws configure` or `aws sso login`, "
                      "or set AWS_PROFILE",
    "expired-credentials": "the AWS credentials have expired: refresh them "
                           "(`aws sso login`, a new session token); the tail resumes by itself",
    "invalid-credentials": "AWS rejected the credentials (unknown key or bad signature): check "
                           "AWS_PROFILE / AWS_ACCESS_KEY_ID and the clock",
    "access-denied": "access denied: grant logs:DescribeLogGroups, logs:FilterLogEvents "
                     "(and logs:StartLiveTail) on the log groups",
    "group-not-found": "log group not found: check its name and the region "
                       "(aws logs describe-log-groups)",
    "no-region": "no AWS region configured: set AWS_REGION or AWS_DEFAULT_REGION, or region "
                 "in ~/.aws/config",
    "throttled": "CloudWatch throttled the request (FilterLogEvents allows 5 requests/s per "
                 "account, shared by everyone tailing): backing off",
    "limit-exceeded": "too many Live Tail sessions in this account",
    "endpoint-unreachable": "cannot reach the CloudWatch Logs endpoint: check the network, "
                            "proxy and --aws-endpoint-url",
    "timeout": "CloudWatch Logs did not answer in time",
    "live-tail-unavailable": "Live Tail is not available at this endpoint",
    "service-error": "CloudWatch Logs reported an internal error or is unavailable",
    "aws-error": "CloudWatch Logs request failed",
}


def classify_aws_error(exc: BaseException, *, what: str = "") -> AwsFault:
    """Name a boto3/botocore failure.

    Args:
        exc: The exception a CloudWatch call raised.
        what: The object concerned (a log group), added to the message.
    """
    if isinstance(exc, _Fault):
        return AwsFault(exc.kind, redact(exc.message))
    from botocore import exceptions as bexc

    kind = "aws-error"
    detail = str(exc)
    if isinstance(exc, bexc.ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        kind = _CODES.get(code, "")
        if not kind:
            if status in (404, 501) or "not implemented" in detail.lower() \
                    or "unknown operation" in detail.lower():
                kind = "live-tail-unavailable"
            elif isinstance(status, int) and status >= 500:
                kind = "service-error"
            elif "throttl" in code.lower() or "rate exceeded" in detail.lower():
                kind = "throttled"
            else:
                kind = "aws-error"
        detail = f"{code}: {error.get('Message') or detail}" if code else detail
    elif isinstance(exc, bexc.NoRegionError):
        kind = "no-region"
    elif isinstance(exc, (bexc.NoCredentialsError, bexc.PartialCredentialsError,
                          bexc.ProfileNotFound)):
        kind = "no-credentials"
    elif isinstance(exc, (bexc.TokenRetrievalError, bexc.UnauthorizedSSOTokenError,
                          bexc.SSOTokenLoadError)):
        kind = "expired-credentials"
    elif isinstance(exc, bexc.CredentialRetrievalError):
        kind = "no-credentials"
    elif isinstance(exc, (bexc.ConnectTimeoutError, bexc.EndpointConnectionError,
                          bexc.ConnectionClosedError, bexc.ProxyConnectionError)):
        kind = "endpoint-unreachable"
    elif isinstance(exc, (bexc.ReadTimeoutError, TimeoutError)):
        kind = "timeout"
    elif isinstance(exc, (bexc.HTTPClientError, ConnectionError)):
        kind = "endpoint-unreachable"
    text = _REMEDY.get(kind, _REMEDY["aws-error"])
    if what:
        text = f"{what}: {text}"
    detail = detail.strip() or type(exc).__name__
    return AwsFault(kind, redact(f"{text} ({detail})"))


@dataclass(slots=True)
class _Group:
    """Polling state of one log group."""

    name: str
    arn: str
    start_ms: int
    next_token: str | None = None
    caught_up: bool = False
    """The backlog since `start_ms` was read (Live Tail then needs no polling)."""
    next_poll_at: float = 0.0
    """Monotonic time before which this group is not polled again."""
    idle: bool = False
    """The last poll found nothing new."""


class _LiveTail:
    """A Live Tail session read by a background thread into a bounded queue."""

    def __init__(self, client: Any, arns: list[str], maxlen: int) -> None:
        self.client = client
        self.arns = arns
        self.queue = _BoundedQueue(maxlen)
        self.started = threading.Event()
        """Set at sessionStart, or when the start failed."""
        self.session_started = False
        self.sampled_updates = 0
        """Updates in which Live Tail said it sampled (over 500 events/s)."""
        self.error: BaseException | None = None
        self.started_at = time.monotonic()
        self.started_wall = time.time()
        self.ended_at: float | None = None
        self._stream: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="wsmonitor-live-tail",
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self.ended_at is None

    def _main(self) -> None:
        try:
            response = self.client.start_live_tail(logGroupIdentifiers=self.arns)
            self._stream = response["responseStream"]
            if self._stop.is_set():
                return
            for item in self._stream:
                if self._stop.is_set():
                    break
                if "sessionStart" in item:
                    self.session_started = True
                    self.started.set()
                update = item.get("sessionUpdate")
                if update:
                    if (update.get("sessionMetadata") or {}).get("sampled"):
                        self.sampled_updates += 1
                    results = update.get("sessionResults") or ()
                    if results:
                        self.queue.extend(results)
        except Exception as exc:  # noqa: BLE001 - the reason to fall back, read by the probe
            if not self._stop.is_set():
                self.error = exc
        finally:
            self.ended_at = time.monotonic()
            self.started.set()
            self._close_stream()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._close_stream()
        self._thread.join(timeout)


class CloudWatchSource:
    """CloudWatch Logs: Live Tail first, FilterLogEvents polling as the fallback.

    Args:
        groups: Log group names (or ARNs).
        apprunner_service: An App Runner service name: its ``/aws/apprunner/NAME/<id>/``
            ``application`` and ``service`` groups are found by prefix (newest service id).
        endpoint_url: Another endpoint (LocalStack, moto); botocore's ``AWS_ENDPOINT_URL`` is
            honoured too.
        live_tail: Try StartLiveTail at all.
        lookback: Seconds of history read at start (what ``check`` judges).
        live_tail_retry: Seconds of polling before Live Tail is tried again after it failed or
            ended early (four times this after it was denied or is unavailable).
        max_poll_rate: FilterLogEvents requests per second this source may make.
        page_size: Events per FilterLogEvents page.
        call_timeout: Seconds per API call (connect and read).
        tail_read_timeout: Seconds Live Tail's stream may stay silent before it is restarted.
        throttle_backoff: First wait after a ThrottlingException (doubles to `max_backoff`).
        max_backoff: Longest throttling wait.
        queue: Live Tail events buffered between runs.
        dedupe: Event ids remembered for dedupe.
    """

    kind = "cloudwatch"

    def __init__(self, groups: Sequence[str] = (), *, apprunner_service: str | None = None,
                 endpoint_url: str | None = None, live_tail: bool = True,
                 lookback: float = 900.0, live_tail_retry: float = 300.0,
                 max_poll_rate: float = MAX_POLL_RATE, page_size: int = 1000,
                 call_timeout: float = 10.0, tail_read_timeout: float = 120.0,
                 throttle_backoff: float = 5.0, max_backoff: float = 120.0,
                 queue: int = 20_000, dedupe: int = 50_000) -> None:
        if not groups and not apprunner_service:
            raise ValueError("CloudWatchSource needs log groups or an App Runner service name")
        self.wanted = tuple(dict.fromkeys(groups))
        self.apprunner_service = apprunner_service
        self.endpoint_url = endpoint_url
        self.live_tail = live_tail
        self.lookback = lookback
        self.live_tail_retry = live_tail_retry
        self.max_poll_rate = max(0.01, max_poll_rate)
        self.page_size = max(1, min(10_000, page_size))
        self.call_timeout = call_timeout
        self.tail_read_timeout = tail_read_timeout
        self.throttle_backoff = throttle_backoff
        self.max_backoff = max_backoff
        self.queue_size = queue
        self.timeout = call_timeout * 3 + 5
        self._session: Any = None
        self._api: Any = None
        self._tail_client: Any = None
        self._groups: dict[str, _Group] = {}
        self._missing: list[str] = list(self.wanted)
        self._resolved = False
        self._arn_names: dict[str, str] = {}
        self._tail: _LiveTail | None = None
        self._tail_retry_at = 0.0
        self._fallback_kind: str | None = None if live_tail else "disabled"
        self._fallback_reason: str | None = None if live_tail else "Live Tail is turned off"
        self._noticed = False
        self._notice: str | None = None
        self._sampled = False
        """Live Tail sampled since the last sample."""
        self._sampled_seen = 0
        self._dropped_before = 0
        self._throttled_until = 0.0
        self._throttle_wait = 0.0
        self._seen_ids = _Seen(dedupe)
        self._seen_content = _Seen(dedupe)
        self.api_calls = 0
        self._started_ms = int((time.time() - lookback) * 1000)

    # --- schedule ---

    @property
    def mode(self) -> str:
        return "live-tail" if self._tail is not None and self._tail.alive else "polling"

    def interval(self, base: float) -> float:
        """Live Tail: drain the queue every base interval; polling: within the request budget."""
        if self.mode == "live-tail":
            return max(base, 1.0)
        spacing = max(1, len(self._groups)) / self.max_poll_rate
        idle = self._groups and all(g.idle for g in self._groups.values())
        return max(base, spacing, IDLE_POLL_INTERVAL if idle else 0.0)

    def describe(self) -> dict[str, Any]:
        groups = tuple(self._groups) or self.wanted
        target = ", ".join(groups) if groups else f"App Runner service {self.apprunner_service}"
        tail = self._tail
        dropped = self._dropped_before + (tail.queue.dropped if tail else 0)
        polling = self.mode == "polling"
        notice, self._notice = self._notice, None
        sampled, self._sampled = self._sampled, False
        return {
            "mode": self.mode,
            "target": redact(target),
            "groups": tuple(redact(g) for g in groups),
            "fallback_kind": self._fallback_kind if polling else None,
            "fallback_reason": self._fallback_reason if polling else None,
            "live_tail_retry_at": (
                time.time() + max(0.0, self._tail_retry_at - time.monotonic())
                if polling and self.live_tail and math.isfinite(self._tail_retry_at)
                and self._fallback_kind is not None else None),
            "notice": notice,
            "sampled": sampled,
            "dropped_total": dropped,
            "api_calls": self.api_calls,
        }

    # --- one run ---

    async def fetch(self) -> Batch:
        batch = Batch()
        try:
            await self._ensure_clients()
            if not self._resolved or self._missing:
                await self._resolve()
        except Exception as exc:  # noqa: BLE001 - every failure is data
            fault = classify_aws_error(exc)
            self._after_fault(fault)
            batch.error, batch.error_kind = fault.message, fault.kind
            return batch
        missing_fault: AwsFault | None = None
        if self._missing:
            where = ", ".join(self._missing)
            missing_fault = AwsFault("group-not-found", redact(
                f"log group(s) {where} not found in region {self._region()}: "
                "check the name and the region (aws logs describe-log-groups)"))
        if not self._groups:
            assert missing_fault is not None
            batch.error, batch.error_kind = missing_fault.message, missing_fault.kind
            return batch
        if self._tail is not None:
            batch.lines.extend(self._drain_tail(self._tail))
        await self._manage_live_tail()
        if self._tail is not None and not batch.lines:
            # A session that just started (or failed at once) may already have delivered.
            batch.lines.extend(self._drain_tail(self._tail))
        fault = await self._poll(batch)
        if fault is None:
            fault = missing_fault
        if fault is not None:
            batch.error, batch.error_kind = fault.message, fault.kind
        return batch

    def _region(self) -> str:
        return str(getattr(self._session, "region_name", None) or "?")

    async def _call(self, fn: Any, /, **kwargs: Any) -> Any:
        self.api_calls += 1
        return await asyncio.wait_for(asyncio.to_thread(fn, **kwargs), self.call_timeout + 2)

    async def _ensure_clients(self) -> None:
        if self._api is not None:
            return
        self._session, self._api, self._tail_client = await asyncio.wait_for(
            asyncio.to_thread(self._make_clients), self.call_timeout + 5)

    def _make_clients(self) -> tuple[Any, Any, Any]:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session()
        if not session.region_name:
            raise _Fault("no-region", _REMEDY["no-region"])
        if session.get_credentials() is None:
            raise _Fault("no-credentials", _REMEDY["no-credentials"])
        retries = {"mode": "standard", "total_max_attempts": 1}
        api = session.client("logs", endpoint_url=self.endpoint_url, config=Config(
            connect_timeout=self.call_timeout, read_timeout=self.call_timeout, retries=retries))
        # Live Tail goes to stream-<host> unless told otherwise: right for AWS, wrong for a
        # local endpoint (moto, LocalStack).
        aws = bool(_AWS_HOST.match(str(api.meta.endpoint_url or "")))
        tail = session.client("logs", endpoint_url=self.endpoint_url, config=Config(
            connect_timeout=self.call_timeout, read_timeout=self.tail_read_timeout,
            retries=retries, inject_host_prefix=aws))
        return session, api, tail

    def _drop_clients(self) -> None:
        self._stop_tail()
        self._session = self._api = self._tail_client = None

    def _after_fault(self, fault: AwsFault) -> None:
        if fault.kind in ("no-credentials", "expired-credentials", "invalid-credentials",
                          "no-region"):
            # A new session re-reads boto3's chain: the tail resumes once the fault is fixed.
            self._drop_clients()

    # --- discovery ---

    async def _resolve(self) -> None:
        if self.apprunner_service and not self._resolved:
            found = await self._apprunner_groups(self.apprunner_service)
            if not found:
                raise _Fault("group-not-found", (
                    f"no App Runner log groups for service {self.apprunner_service!r} "
                    f"(looked for /aws/apprunner/{self.apprunner_service}/<id>/application and "
                    f"/service in region {self._region()}): check the service name and region"))
            for info in found:
                self._add_group(info)
        still: list[str] = []
        for wanted in self._missing:
            name = _group_name(wanted)
            groups = await self._describe(name)
            match = next((g for g in groups if g.get("logGroupName") == name), None)
            if match is None:
                still.append(wanted)
            else:
                self._add_group(match)
        self._missing = still
        self._resolved = True

    async def _describe(self, prefix: str, pages: int = 5) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(pages):
            kwargs: dict[str, Any] = {"logGroupNamePrefix": prefix, "limit": 50}
            if token:
                kwargs["nextToken"] = token
            response = await self._call(self._api.describe_log_groups, **kwargs)
            out.extend(response.get("logGroups", []))
            token = response.get("nextToken")
            if not token:
                break
        return out

    async def _apprunner_groups(self, service: str) -> list[dict[str, Any]]:
        prefix = f"/aws/apprunner/{service}/"
        by_id: dict[str, list[dict[str, Any]]] = {}
        for info in await self._describe(prefix):
            rest = str(info.get("logGroupName", ""))[len(prefix):]
            service_id, _, kind = rest.partition("/")
            if service_id and kind in ("application", "service"):
                by_id.setdefault(service_id, []).append(info)
        if not by_id:
            return []
        # A service deleted and recreated under the same name leaves older ids: take the newest.
        newest = max(by_id.values(), key=lambda gs: max(int(g.get("creationTime", 0)) for g in gs))
        return sorted(newest, key=lambda g: str(g.get("logGroupName")))

    def _add_group(self, info: Mapping[str, Any]) -> None:
        name = str(info["logGroupName"])
        arn = str(info.get("logGroupArn") or info.get("arn") or "")
        if arn.endswith(":*"):
            arn = arn[:-2]
        self._groups.setdefault(name, _Group(name, arn, self._started_ms))
        if arn:
            self._arn_names[arn] = name

    # --- Live Tail ---

    async def _manage_live_tail(self) -> None:
        if not self.live_tail:
            return
        now = time.monotonic()
        if self._tail is not None or now < self._tail_retry_at:
            return
        if len(self._groups) > LIVE_TAIL_MAX_GROUPS:
            self._fallback_kind = "too-many-groups"
            self._fallback_reason = (f"{len(self._groups)} log groups: Live Tail takes at most "
                                     f"{LIVE_TAIL_MAX_GROUPS}, so polling")
            self._tail_retry_at = float("inf")
            return
        arns = [g.arn for g in self._groups.values() if g.arn]
        if len(arns) != len(self._groups):
            self._fallback_kind = "live-tail-unavailable"
            self._fallback_reason = "the log groups' ARNs are unknown: polling"
            self._tail_retry_at = float("inf")
            return
        self.api_calls += 1
        tail = _LiveTail(self._tail_client, arns, self.queue_size)
        self._tail = tail
        # Wait briefly for the session to start, so the mode shown is the mode in force.
        await asyncio.to_thread(tail.started.wait, min(5.0, self.call_timeout))
        if tail.session_started:
            self._fallback_kind = self._fallback_reason = None
            if not self._noticed:
                self._noticed = True
                self._notice = LIVE_TAIL_NOTICE

    def _tail_ended(self, tail: _LiveTail, now: float) -> None:
        ran = (tail.ended_at or now) - tail.started_at
        retry = self.live_tail_retry
        if tail.error is not None:
            fault = classify_aws_error(tail.error, what="StartLiveTail")
            kind = fault.kind
            if kind == "access-denied":
                reason = "Live Tail denied (logs:StartLiveTail not allowed): polling"
                retry *= 4
            elif kind == "limit-exceeded":
                reason = "Live Tail refused: too many sessions in the account: polling"
            elif kind in ("live-tail-unavailable", "aws-error"):
                kind = "live-tail-unavailable"
                reason = "Live Tail is not available at this endpoint: polling"
                retry *= 4
            elif kind == "timeout" and ran >= LIVE_TAIL_LONG_SESSION:
                kind, reason, retry = "session-ended", "Live Tail went quiet: restarting", 0.0
            else:
                reason = f"Live Tail failed: polling ({fault.message})"
        else:
            kind = "session-ended"
            if ran >= LIVE_TAIL_LONG_SESSION:
                reason, retry = "Live Tail session ended (3-hour cap): restarting", 0.0
            else:
                reason = f"Live Tail session ended after {ran:.0f} s: polling"
        self._fallback_kind, self._fallback_reason = kind, redact(reason)
        self._tail_retry_at = now + retry
        # Read what happened since the session started (the gap to the next one included).
        since = int(tail.started_wall * 1000) - POLL_OVERLAP_MS
        for group in self._groups.values():
            if group.caught_up:
                group.start_ms = max(group.start_ms, since)
                group.next_token = None
            group.caught_up = False
            group.next_poll_at = 0.0
        self._dropped_before += tail.queue.dropped
        if self._tail is tail:
            self._tail = None

    def _drain_tail(self, tail: _LiveTail) -> list[RawLine]:
        # Whether it ended is read before draining: what a dead session delivered is all queued.
        ended = not tail.alive
        out: list[RawLine] = []
        for item in tail.queue.drain(self.queue_size):
            ident = str(item.get("logGroupIdentifier", ""))
            group = self._arn_names.get(ident) or _group_name(ident)
            stream = str(item.get("logStreamName", ""))
            ts = int(item.get("timestamp", 0) or 0)
            message = str(item.get("message", ""))
            key = hash((group, stream, ts, message))
            if not self._seen_content.add(key):
                continue
            out.append((f"{group}/{stream}", ts / 1000, f"lt-{key & 0xFFFFFFFFFFFF:x}",
                        message.rstrip("\n")))
        if tail.sampled_updates > self._sampled_seen:
            self._sampled = True
        self._sampled_seen = tail.sampled_updates
        if ended:
            self._sampled_seen = 0
            self._tail_ended(tail, time.monotonic())
        return out

    def _stop_tail(self) -> None:
        tail, self._tail = self._tail, None
        if tail is not None:
            self._dropped_before += tail.queue.dropped
            tail.stop()

    # --- polling ---

    async def _poll(self, batch: Batch) -> AwsFault | None:
        now = time.monotonic()
        if now < self._throttled_until:
            return AwsFault("throttled", _REMEDY["throttled"] +
                            f" ({self._throttled_until - now:.0f} s left)")
        live = self.mode == "live-tail"
        spacing = max(1, len(self._groups)) / self.max_poll_rate
        for group in list(self._groups.values()):
            if live and group.caught_up:
                continue
            if now < group.next_poll_at:
                continue
            group.next_poll_at = now + spacing
            kwargs: dict[str, Any] = {"logGroupName": group.name, "startTime": group.start_ms,
                                      "limit": self.page_size}
            if group.next_token:
                kwargs["nextToken"] = group.next_token
            try:
                response = await self._call(self._api.filter_log_events, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure is data
                fault = classify_aws_error(exc, what=f"log group {group.name}")
                if fault.kind == "throttled":
                    self._throttle_wait = min(self.max_backoff, max(
                        self.throttle_backoff, self._throttle_wait * 2))
                    self._throttled_until = time.monotonic() + self._throttle_wait
                    fault = AwsFault("throttled", redact(
                        f"{_REMEDY['throttled']} {self._throttle_wait:.0f} s (log group "
                        f"{group.name})"))
                elif fault.kind == "group-not-found":
                    # Deleted since discovery: look it up again next run.
                    del self._groups[group.name]
                    self._missing.append(group.name)
                self._after_fault(fault)
                return fault
            self._throttle_wait = 0.0
            newest = 0
            fresh = 0
            for event in response.get("events", ()):
                stream = str(event.get("logStreamName", ""))
                ts = int(event.get("timestamp", 0) or 0)
                message = str(event.get("message", ""))
                event_id = str(event.get("eventId", ""))
                newest = max(newest, ts)
                id_new = self._seen_ids.add(hash((group.name, event_id)))
                content_new = self._seen_content.add(hash((group.name, stream, ts, message)))
                if id_new and content_new:
                    fresh += 1
                    batch.lines.append((f"{group.name}/{stream}", ts / 1000, event_id,
                                        message.rstrip("\n")))
            group.idle = fresh == 0
            token = response.get("nextToken")
            if token and response.get("events"):
                group.next_token = token
            else:
                group.next_token = None
                group.caught_up = True
                if newest:
                    group.start_ms = max(group.start_ms, newest - POLL_OVERLAP_MS)
        return None

    async def close(self) -> None:
        """Stop Live Tail (it is billed per minute) and forget the clients."""
        tail, self._tail = self._tail, None
        if tail is not None:
            await asyncio.to_thread(tail.stop)
        self._session = self._api = self._tail_client = None


def _group_name(identifier: str) -> str:
    match = _GROUP_ARN.search(identifier)
    return match.group("name") if match else identifier


# --- file ------------------------------------------------------------------------------------------


class FileSource:
    """A local log file, followed like ``tail -F``: appends, truncation and rotation.

    Args:
        path: The file.
        initial_lines: Lines read from the end of the file at start (the rest is skipped).
        max_bytes: Bytes read per run at most (the rest waits for the next run).
        max_line: Longer lines are cut into pieces of this many bytes.
    """

    kind = "file"
    timeout = 10.0

    def __init__(self, path: str, *, initial_lines: int = 100, max_bytes: int = 1 << 20,
                 max_line: int = 64 << 10) -> None:
        self.path = str(path)
        self.initial_lines = initial_lines
        self.max_bytes = max_bytes
        self.max_line = max_line
        self._fh: Any = None
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._partial_at = 0
        self._first = True
        self.rotations = 0
        self.truncations = 0
        self._lock = threading.Lock()

    def interval(self, base: float) -> float:
        return max(base, 0.5)

    def describe(self) -> dict[str, Any]:
        return {"mode": "file", "target": redact(self.path)}

    async def fetch(self) -> Batch:
        return await asyncio.to_thread(self._fetch)

    def _fetch(self) -> Batch:
        with self._lock:
            batch = Batch()
            try:
                self._follow(batch)
            except OSError as exc:
                batch.error = redact(f"cannot read {self.path}: {exc.strerror or exc}")
                batch.error_kind = "file-unreadable"
                self._close_file()
            return batch

    def _follow(self, batch: Batch) -> None:
        if self._fh is None and not self._open(batch):
            return
        budget = self.max_bytes
        st = os.fstat(self._fh.fileno())
        if st.st_size < self._offset:
            # Truncated in place (copytruncate, or `> file`): start over.
            self.truncations += 1
            self._seek(0)
        budget -= self._read(batch, budget)
        try:
            now_st = os.stat(self.path)
        except FileNotFoundError:
            return  # renamed away, new one not created yet: keep reading the old one
        if (now_st.st_dev, now_st.st_ino) == self._ident or budget <= 0:
            return
        # Rotated: finish the old file, then follow the new one from its start.
        budget -= self._read(batch, budget)
        if budget <= 0:
            return
        self._flush_partial(batch)
        self._close_file()
        self.rotations += 1
        if self._open(batch, from_start=True):
            self._read(batch, budget)

    def _open(self, batch: Batch, *, from_start: bool = False) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - held open across runs to follow rotation
        except FileNotFoundError:
            batch.error = redact(f"{self.path} does not exist (yet): waiting for it to appear")
            batch.error_kind = "file-not-found"
            self._first = False  # when it appears, it is new: read it from the start
            return False
        st = os.fstat(fh.fileno())
        if stat.S_ISDIR(st.st_mode):
            fh.close()
            batch.error = redact(f"{self.path} is a directory: give a log file")
            batch.error_kind = "file-unreadable"
            return False
        self._fh = fh
        self._ident = (st.st_dev, st.st_ino)
        self._partial = b""
        if self._first and not from_start:
            self._first = False
            self._seek_tail(st.st_size)
        else:
            self._seek(0)
        return True

    def _seek(self, offset: int) -> None:
        self._fh.seek(offset)
        self._offset = offset
        self._partial = b""
        self._partial_at = offset

    def _seek_tail(self, size: int) -> None:
        """Position so that the last `initial_lines` complete lines are read next."""
        if self.initial_lines <= 0 or size == 0:
            self._seek(size)
            return
        span = min(size, max(self.max_line, 256 * self.initial_lines))
        self._fh.seek(size - span)
        chunk = self._fh.read(span)
        end = len(chunk)
        if chunk.endswith(b"\n"):
            end -= 1
        pos = end
        for _ in range(self.initial_lines):
            pos = chunk.rfind(b"\n", 0, pos)
            if pos < 0:
                break
        if pos < 0:
            start = 0 if span == size else chunk.find(b"\n") + 1
        else:
            start = pos + 1
        self._seek(size - span + start)

    def _read(self, batch: Batch, budget: int) -> int:
        if budget <= 0:
            return 0
        data = self._fh.read(budget)
        if not data:
            return 0
        now = time.time()
        ino = self._ident[1] if self._ident else 0
        buf = self._partial + data
        base = self._partial_at
        start = 0
        location = self.path
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            raw = buf[start:nl]
            batch.lines.append((location, now, f"{ino}:{base + start}",
                                raw.decode("utf-8", "replace").rstrip("\r")))
            start = nl + 1
        rest = buf[start:]
        self._offset += len(data)
        self._partial_at = base + start
        while len(rest) >= self.max_line:
            piece, rest = rest[: self.max_line], rest[self.max_line:]
            batch.lines.append((location, now, f"{ino}:{self._partial_at}",
                                piece.decode("utf-8", "replace")))
            self._partial_at += len(piece)
        self._partial = rest
        return len(data)

    def _flush_partial(self, batch: Batch) -> None:
        if self._partial:
            ino = self._ident[1] if self._ident else 0
            batch.lines.append((self.path, time.time(), f"{ino}:{self._partial_at}",
                                self._partial.decode("utf-8", "replace").rstrip("\r")))
            self._partial = b""

    def _close_file(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()

    async def close(self) -> None:
        with self._lock:
            self._close_file()


# --- command ---------------------------------------------------------------------------------------


def parse_command(command: str) -> list[str]:
    """Split ``--log-command`` like a shell would (no shell is run).

    Raises:
        ValueError: Empty, or unbalanced quotes; the message says so.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"--log-command {redact(command)!r} cannot be split into words "
                         f"({exc}): check its quotes") from None
    if not argv:
        raise ValueError("--log-command is empty: give a command such as "
                         "'kubectl logs -f deploy/web'")
    return argv


class CommandSource:
    """A command's output (``kubectl logs -f …``, ``docker logs -f …``, ``journalctl -fu …``).

    The command runs without a shell in its own process group; stdout and stderr are read by a
    thread into a bounded queue (oldest lines dropped and counted when full). When it exits it is
    started again after a backoff that doubles while it keeps exiting quickly.

    Args:
        command: The command line (split like a shell, not run by one).
        queue: Lines buffered between runs.
        restart_backoff: First wait before a restart, seconds.
        max_backoff: Longest wait before a restart.
        max_line: Longer lines are cut.
        max_lines_per_run: Lines handed to the probe per run (the rest wait).
        first_wait: On the first run, wait up to this long for the command's first burst of
            output (``kubectl logs -f --tail=100`` prints its backlog at once), so a one-shot
            ``check`` sees it.
    """

    kind = "command"
    timeout = 5.0
    STABLE_AFTER = 30.0
    """A run this long resets the restart backoff."""

    def __init__(self, command: str, *, queue: int = 20_000, restart_backoff: float = 1.0,
                 max_backoff: float = 60.0, max_line: int = 64 << 10,
                 max_lines_per_run: int = 20_000, first_wait: float = 2.0) -> None:
        self.command = command
        self.first_wait = first_wait
        self.restart_backoff = restart_backoff
        self.max_backoff = max_backoff
        self.max_line = max_line
        self.max_lines_per_run = max_lines_per_run
        self.queue = _BoundedQueue(queue)
        self.argv: list[str] | None = None
        self._argv_error: str | None = None
        try:
            self.argv = parse_command(command)
        except ValueError as exc:
            self._argv_error = str(exc)
        self.program = os.path.basename(self.argv[0]) if self.argv else "command"
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.starts = 0
        self.last_exit: int | None = None
        self.start_error: str | None = None
        self.start_error_kind: str | None = None
        self.next_start_at: float | None = None
        """Monotonic time of the next restart while the command is not running."""

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def interval(self, base: float) -> float:
        return max(base, 0.5)

    def describe(self) -> dict[str, Any]:
        return {"mode": "command", "target": redact(self.command), "restarts": self.restarts,
                "dropped_total": self.queue.dropped}

    async def fetch(self) -> Batch:
        batch = Batch()
        if self._argv_error:
            batch.error, batch.error_kind = redact(self._argv_error), "bad-command"
            return batch
        if self._thread is None:
            self._thread = threading.Thread(target=self._supervise, daemon=True,
                                            name="wsmonitor-log-command")
            self._thread.start()
            await self._first_output()
        batch.lines = self.queue.drain(self.max_lines_per_run)
        if self.start_error is not None and not self.running:
            batch.error, batch.error_kind = self.start_error, self.start_error_kind
        elif not self.running and self.starts:
            wait = max(0.0, (self.next_start_at or time.monotonic()) - time.monotonic())
            batch.error = redact(f"{self.program} exited with status {self.last_exit}; "
                                 f"restarting in {wait:.0f} s")
            batch.error_kind = "command-exited"
        return batch

    async def _first_output(self) -> None:
        """Wait for the command to start (or fail), then for its first burst to end."""
        started = time.monotonic()
        deadline = started + max(1.0, self.first_wait)
        while self.starts == 0 and self.start_error is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        deadline = started + self.first_wait
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline and self.start_error is None:
            count = len(self.queue) + self.queue.dropped
            if count != seen:
                seen, quiet_since = count, time.monotonic()
            elif count and time.monotonic() - quiet_since >= 0.3:
                return
            elif not self.running and self.starts:
                return
            await asyncio.sleep(0.02)

    def _supervise(self) -> None:
        assert self.argv is not None
        backoff = self.restart_backoff
        run = 0
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        while not self._stop.is_set():
            run += 1
            started = time.monotonic()
            try:
                proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, env=env)
            except OSError as exc:
                missing = isinstance(exc, FileNotFoundError)
                self.start_error_kind = "command-not-found" if missing else "command-failed"
                self.start_error = redact(
                    f"cannot run {self.argv[0]!r}: "
                    f"{'not found on PATH' if missing else exc.strerror or exc}")
            else:
                with self._lock:
                    if self._stop.is_set():
                        _kill_group(proc)
                        return
                    self._proc = proc
                self.start_error = self.start_error_kind = None
                self.starts += 1
                self.next_start_at = None
                self._pump(proc, run)
                self.last_exit = proc.wait()
            if self._stop.is_set():
                return
            if time.monotonic() - started >= self.STABLE_AFTER:
                backoff = self.restart_backoff
            self.next_start_at = time.monotonic() + backoff
            self._stop.wait(backoff)
            backoff = min(self.max_backoff, backoff * 2)

    def _pump(self, proc: subprocess.Popen[bytes], run: int) -> None:
        assert proc.stdout is not None
        location = self.program
        line_no = 0
        readline = proc.stdout.readline
        put = self.queue.put
        with contextlib.suppress(OSError, ValueError):
            while True:
                raw = readline(self.max_line)
                if not raw:
                    break
                line_no += 1
                put((location, time.time(), f"{run}:{line_no}",
                     raw.decode("utf-8", "replace").rstrip("\r\n")))

    async def close(self) -> None:
        """Stop the command (its whole process group) and the reader."""
        self._stop.set()
        with self._lock:
            proc = self._proc
        if proc is not None:
            await asyncio.to_thread(_kill_group, proc)
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, 3.0)


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()


# --- the probe -------------------------------------------------------------------------------------


class _WindowCounts:
    """Events per category over a sliding window, in fixed buckets (bounded by window/bucket)."""

    def __init__(self, window: float, bucket: float = 10.0) -> None:
        self.window = window
        self.bucket = bucket
        self._buckets: dict[int, dict[str | None, int]] = {}

    def add(self, ts: float, category: str | None, now: float) -> None:
        if ts < now - self.window:
            return
        key = int(min(ts, now) // self.bucket)
        counts = self._buckets.get(key)
        if counts is None:
            counts = self._buckets[key] = {}
        counts[category] = counts.get(category, 0) + 1

    def snapshot(self, now: float) -> tuple[dict[str | None, int], int]:
        cutoff = int((now - self.window) // self.bucket)
        for key in [k for k in self._buckets if k < cutoff]:
            del self._buckets[key]
        total: dict[str | None, int] = {}
        n = 0
        for counts in self._buckets.values():
            for category, count in counts.items():
                total[category] = total.get(category, 0) + count
                n += count
        return total, n


class LogsProbe:
    """Tails a log source, groups tracebacks, classifies events, keeps bounded counts.

    Args:
        source: Where lines come from (`CloudWatchSource`, `FileSource`, `CommandSource`).
        rules: Classification rules (default: the shipped ones).
        window: Seconds the per-category counts cover.
        max_events: Events carried per sample (classified ones kept first).
        history: Events kept by the probe for `recent`.
        hold: Seconds an unfinished traceback waits for its remaining lines.
        name: The probe's name in the engine.
    """

    def __init__(self, source: LogSource, *, rules: RuleSet | None = None,
                 window: float = 900.0, max_events: int = 500, history: int = 2000,
                 hold: float = 1.0, name: str = "logs") -> None:
        self.name = name
        self.source = source
        self.rules = rules or build_rules()
        self.window = window
        self.max_events = max_events
        self.timeout = source.timeout + 5
        self.history_size = 120
        """Samples the engine keeps of this probe: each may carry hundreds of events."""
        self._assembler = EventAssembler(hold=hold)
        self._counts = _WindowCounts(window, bucket=max(1.0, min(10.0, window / 60)))
        self._recent: deque[LogEvent] = deque(maxlen=history)
        self._lock = threading.Lock()
        self.events_total = 0

    def interval(self, base: float) -> float:
        return self.source.interval(base)

    def recent(self, since: float | None = None, until: float | None = None) -> list[LogEvent]:
        """Events kept by the probe, oldest first, optionally within a time range."""
        with self._lock:
            events = list(self._recent)
        return [e for e in events if (since is None or e.timestamp >= since)
                and (until is None or e.timestamp <= until)]

    async def run(self) -> LogsSample:
        """Take what the source has, classify it, and say so."""
        started = time.perf_counter()
        batch = await self.source.fetch()
        if len(batch.lines) > 2000:
            # Big batches are classified off the event loop so other probes keep their cadence.
            events, omitted = await asyncio.to_thread(self._process, batch.lines)
        else:
            events, omitted = self._process(batch.lines)
        counts, in_window = self._counts.snapshot(time.time())
        by_category = {c: counts.get(c, 0) for c in self.rules.categories}
        by_severity = {"error": 0, "warning": 0, "info": 0}
        for category, count in by_category.items():
            by_severity[self.rules.severity(category)] += count
        return LogsSample(
            probe=self.name, at=time.time(), ok=batch.error is None, error=batch.error,
            error_kind=batch.error_kind, duration_ms=(time.perf_counter() - started) * 1000,
            source=self.source.kind, events=events, by_category=by_category,
            by_severity=by_severity, window_seconds=self.window, events_in_window=in_window,
            events_total=self.events_total, events_omitted=omitted,
            **self.source.describe(),
        )

    def _process(self, lines: list[RawLine]) -> tuple[tuple[LogEvent, ...], int]:
        assembled = self._assembler.feed(lines, time.monotonic())
        if not assembled:
            return (), 0
        now = time.time()
        classify = self.rules.classify
        add = self._counts.add
        classified: list[tuple[AssembledEvent, Classification]] = []
        for event in assembled:
            result = classify(event[3])
            add(event[1], result.category, now)
            classified.append((event, result))
        self.events_total += len(classified)
        kept = _cap(classified, self.max_events)
        events = tuple(self._event(event, result) for event, result in kept)
        with self._lock:
            self._recent.extend(events)
        return events, len(classified) - len(kept)

    def _event(self, event: AssembledEvent, result: Classification) -> LogEvent:
        location, ts, event_id, text = event
        category = result.category
        return LogEvent(
            timestamp=ts, location=redact(location), message=redact(text), category=category,
            event_id=redact(event_id), tags=result.tags,
            label=self.rules.label(category) if category else None,
            severity=self.rules.severity(category) if category else None,
        )

    async def close(self) -> None:
        await self.source.close()


def _cap(items: list[tuple[AssembledEvent, Classification]],
         limit: int) -> list[tuple[AssembledEvent, Classification]]:
    """The newest `limit` items, classified ones first; original order kept."""
    if len(items) <= limit:
        return items
    flagged = [i for i, (_, c) in enumerate(items) if c.category is not None]
    if len(flagged) >= limit:
        chosen = flagged[-limit:]
    else:
        room = limit - len(flagged)
        plain = [i for i, (_, c) in enumerate(items) if c.category is None][-room:]
        chosen = sorted(flagged + plain)
    return [items[i] for i in chosen]


def build_logs_probe(settings: Any, *, rules: RuleSet | None = None,
                     **options: Any) -> LogsProbe | None:
    """The logs probe the settings ask for, or None when no log source is configured.

    A local file or command wins over CloudWatch. User rules come from ``settings.log_rules``
    (a ``[[log-rules]]`` array) when the settings have it.

    Args:
        settings: `wsmonitor.config.Settings` (``log_group``, ``log_file``, ``log_command``,
            ``apprunner_service``, ``aws_endpoint_url``, optionally ``log_rules``).
        rules: Rules to use instead of the defaults plus ``settings.log_rules``.
        options: Passed to `LogsProbe` (``window``, ``max_events`` …).

    Raises:
        ValueError: A user rule is malformed (the message names it).
    """
    if rules is None:
        rules = build_rules(getattr(settings, "log_rules", None) or None)
    source: LogSource
    if getattr(settings, "log_file", None):
        source = FileSource(settings.log_file)
    elif getattr(settings, "log_command", None):
        source = CommandSource(settings.log_command)
    elif getattr(settings, "log_group", None) or getattr(settings, "apprunner_service", None):
        source = CloudWatchSource(tuple(settings.log_group or ()),
                                  apprunner_service=settings.apprunner_service,
                                  endpoint_url=getattr(settings, "aws_endpoint_url", None))
    else:
        return None
    return LogsProbe(source, rules=rules, **options)


__all__ = [
    "AwsFault", "Batch", "CloudWatchSource", "CommandSource", "FileSource", "LogEvent",
    "LogSource", "LogsProbe", "LogsSample", "build_logs_probe", "classify_aws_error",
    "parse_command",
]

