"""CloudWatch Logs: ``StartLiveTail`` first, ``FilterLogEvents`` polling as the fallback.

Live Tail is streamed by a background thread into a bounded queue; polling is used when Live
Tail is unavailable, denied, rate-limited or ends, and Live Tail is tried again later. Polling
keeps ``startTime``/``nextToken`` per group, dedupes by ``eventId`` and spends at most one
request a second of the account's shared 5 requests/s. Credentials and region come from boto3's
standard chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wsmonitor.log_rules import RawLine
from wsmonitor.probes.logs.base import Batch, _BoundedQueue, _Seen
from wsmonitor.secrets import redact

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
    read_times = False
    """Events carry CloudWatch's timestamp: the time they were logged."""

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
