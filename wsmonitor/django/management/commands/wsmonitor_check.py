"""``python manage.py wsmonitor_check [--json] [--origin URL]``: the server-side checks, from
inside the container (an App Runner or ECS one-off task, ``kubectl exec``), where the service's
own settings, network and secrets are.

Checks: ``redis-url`` (wsmonitor's REDIS_URL lint on every layer host and ``$REDIS_URL``),
``redis`` (a PING per host), ``channel-layer`` (a send → receive round trip on a fresh channel),
``allowed-hosts`` (and whether each ``--origin`` passes), ``origin-validator`` (the running ASGI
application's). Exit 0 when none fails, 1 when one does; bad input exits 2.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from wsmonitor.rules.base import FAIL, PASS, SKIPPED, UNKNOWN, WARN, CheckResult
from wsmonitor.django import diagnostics as d
from wsmonitor.origins import origin_allowed, origin_host
from wsmonitor.secrets import redact, redact_obj

SEVERITY = {"error": FAIL, "fail": FAIL, "warn": WARN, "info": PASS}


class Command(BaseCommand):
    help = ("Check the WebSocket path from inside the service: REDIS_URL, Redis, a channel-layer "
            "round trip, ALLOWED_HOSTS and the ASGI application's Origin validator. Exit 0: "
            "nothing failed; 1: something failed.")
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        parser.add_argument("--origin", action="append", default=[], metavar="URL",
                            help="an Origin the browser sends (https://app.example.com); "
                                 "checked against the Origin validator (repeatable)")
        parser.add_argument("--timeout", type=float, default=3.0,
                            help="seconds for each Redis operation (default 3)")

    def handle(self, *args: Any, **options: Any) -> None:
        origins = options["origin"]
        for origin in origins:
            if not origin.lower().startswith(("http://", "https://")) or not origin_host(origin):
                self._bad_input(f"--origin {origin!r} is not an Origin: give "
                                "https://app.example.com")
        timeout = options["timeout"]
        if not 0 < timeout <= 60:
            self._bad_input("--timeout must be between 0 and 60 seconds")
        d.register_layer_secrets()
        results = asyncio.run(run_checks(origins, timeout))
        code = 1 if any(r.status == FAIL for r in results) else 0
        if options["json"]:
            doc = {"checks": [r.to_dict() for r in results], "exit_code": code,
                   "asgi_server": d.asgi_server(), "versions": d.versions()}
            self.stdout.write(json.dumps(redact_obj(doc), indent=2))
        else:
            width = max(len(r.id) for r in results)
            for r in results:
                line = f"{r.status.upper():<7} {r.id:<{width}}  {r.summary}"
                if r.status in (FAIL, WARN) and r.remedy:
                    line += f" — {r.remedy}"
                self.stdout.write(redact(line))
        sys.stdout.flush()
        if code:
            raise SystemExit(code)

    def _bad_input(self, message: str) -> None:
        sys.stderr.write(f"wsmonitor: error: {redact(message)}\n")
        raise SystemExit(2)


async def run_checks(origins: list[str], timeout: float) -> list[CheckResult]:
    """Every server-side check, in the order a person reads them."""
    urls = d.layer_urls()
    out = [redis_url_check(urls)]
    out.append(await redis_check(timeout))
    out.append(await channel_layer_check(timeout))
    validation = d.origin_validation()
    out.append(allowed_hosts_check(origins, validation))
    out.append(origin_validator_check(validation))
    return out


def redis_url_check(urls: list[str]) -> CheckResult:
    """wsmonitor's own REDIS_URL lint on the layer's hosts and ``$REDIS_URL``."""
    from wsmonitor.redis_url import lint_redis_url

    cid = "redis-url"
    env = os.environ.get("REDIS_URL")
    named = [(f"CHANNEL_LAYERS host {i + 1}", u) for i, u in enumerate(urls)]
    if env and env not in urls:
        named.append(("$REDIS_URL", env))
    if not named:
        return CheckResult(cid, SKIPPED, "no Redis URL in CHANNEL_LAYERS or $REDIS_URL")
    evidence, worst = [], PASS
    order = [PASS, WARN, FAIL]
    remedy = ""
    for name, url in named:
        findings = lint_redis_url(url)
        evidence.append(f"{name}: {d.mask_url(url)}")
        for f in findings:
            status = SEVERITY.get(f.severity, WARN)
            evidence.append(f"{status}: {f.message}" + (f" (fix: {f.fix})" if f.fix else ""))
            if order.index(status) > order.index(worst):
                worst, remedy = status, f.fix
    summary = {PASS: "well formed", WARN: "usable, with warnings",
               FAIL: "will not work as written"}[worst]
    first = next((e for e in evidence if e.startswith((FAIL, WARN))), None)
    if first and worst != PASS:
        summary += f": {first.split(': ', 1)[1].split(' (fix:')[0]}"
    return CheckResult(cid, worst, summary, tuple(evidence), remedy, time.time())


async def _ping(url: str, options: dict[str, Any], timeout: float) -> tuple[bool, str]:
    import redis.asyncio as aioredis

    from wsmonitor.probes.redis import classify_redis_error

    broken = d.unusable_url([url])
    if broken:
        # redis-py's own error would quote a fragment of the password: do not try.
        return False, f"bad-url: not tried, {broken}"
    extra = {k: v for k, v in options.items() if k.startswith("ssl_") or k in
             ("username", "password")}
    client = None
    started = time.perf_counter()
    try:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=timeout,
                                         socket_timeout=timeout, **extra)
        await asyncio.wait_for(client.ping(), timeout + 1)
        return True, f"PONG in {(time.perf_counter() - started) * 1000:.1f} ms"
    except Exception as exc:  # noqa: BLE001 - a failure is the answer
        err = classify_redis_error(exc)
        return False, f"{err.kind}: {err.message}"
    finally:
        if client is not None:
            try:
                await asyncio.wait_for(client.aclose(), 2)
            except Exception:  # noqa: BLE001
                pass


async def redis_check(timeout: float) -> CheckResult:
    """A PING to every host of the channel layer."""
    cid = "redis"
    hosts = (d.layer_settings().get("CONFIG") or {}).get("hosts") or []
    if isinstance(hosts, (str, dict)):
        hosts = [hosts]
    urls = d.layer_urls()
    if not urls:
        return CheckResult(cid, SKIPPED, "the channel layer has no Redis hosts")
    evidence, failed = [], []
    for i, url in enumerate(urls):
        options = hosts[i] if i < len(hosts) and isinstance(hosts[i], dict) else {}
        ok, text = await _ping(url, options, timeout)
        evidence.append(f"{d.mask_url(url)}: {text}")
        if not ok:
            failed.append(text.split(":", 1)[0])
    if failed:
        from wsmonitor.rules.base import REMEDIES

        return CheckResult(cid, FAIL, f"Redis does not answer from here ({', '.join(failed)})",
                           tuple(evidence), REMEDIES.get(failed[0], "See the error."),
                           time.time())
    return CheckResult(cid, PASS, f"every host answers PING ({len(urls)})", tuple(evidence),
                       "", time.time())


async def channel_layer_check(timeout: float) -> CheckResult:
    """A send → receive on a fresh channel, as the consumers' layer does it."""
    cid = "channel-layer"
    r = await d.round_trip(timeout=timeout)
    where = f" ({r.backend})" if r.backend else ""
    evidence = (f"backend: {r.backend or 'none'}; hosts: {', '.join(d.masked_hosts()) or '-'}",
                "fact: the runbook's layer.test() does not exist; this send → receive on a "
                "fresh channel replaces it")
    if r.ok and not r.redis:
        return CheckResult(cid, WARN, f"round trip works{where}, but the layer is not Redis: "
                           "messages never leave this process", evidence,
                           "Use channels_redis.core.RedisChannelLayer in CHANNEL_LAYERS: "
                           "with more than one worker, group_send misses the others.",
                           r.at)
    if r.ok:
        return CheckResult(cid, PASS, f"send → receive on a fresh channel in "
                           f"{r.round_trip_ms:.1f} ms{where}", evidence, "", r.at)
    from wsmonitor.rules.base import REMEDIES

    remedy = REMEDIES.get(r.error_kind or "", "Fix CHANNEL_LAYERS (see the error)." if
                          r.error_kind in ("not-configured", "misconfigured") else
                          "See the error and redis below.")
    return CheckResult(cid, FAIL, f"round trip failed ({r.error_kind}): {r.error}", evidence,
                       remedy, r.at)


def allowed_hosts_check(origins: list[str], v: d.OriginValidation) -> CheckResult:
    """ALLOWED_HOSTS as the running settings have it, and whether each Origin passes."""
    cid = "allowed-hosts"
    hosts = [str(h) for h in settings.ALLOWED_HOSTS]
    patterns = list(v.allowed_origins) if v.found else hosts
    evidence = [f"ALLOWED_HOSTS = {hosts!r}" + (" (DEBUG)" if settings.DEBUG else "")]
    if v.found and list(v.allowed_origins) != hosts:
        evidence.append(f"the Origin validator checks {list(v.allowed_origins)!r}")
    if not hosts and not settings.DEBUG:
        return CheckResult(cid, FAIL, "ALLOWED_HOSTS is empty: Django answers 400 to every "
                           "request and the validator rejects every Origin", tuple(evidence),
                           "Set ALLOWED_HOSTS to the service's domain names.", time.time())
    rejected = [o for o in origins if not origin_allowed(o, patterns)]
    for o in origins:
        evidence.append(f"Origin {o}: {'rejected' if o in rejected else 'allowed'}")
    if rejected:
        if not v.found:
            return CheckResult(cid, WARN, f"{', '.join(rejected)} not in ALLOWED_HOSTS, but no "
                               "Origin validator runs, so it gets through", tuple(evidence),
                               "Add the host to ALLOWED_HOSTS before adding the validator.",
                               time.time())
        host = origin_host(rejected[0])
        return CheckResult(cid, FAIL, f"the Origin {rejected[0]} is rejected: {host} is not in "
                           "ALLOWED_HOSTS", tuple(evidence), f"Add {host!r} (or '.' + its "
                           "domain) to ALLOWED_HOSTS; the port is ignored.", time.time())
    if "*" in patterns:
        return CheckResult(cid, WARN, "'*': every Origin is accepted — any site can open "
                           "sockets as your users", tuple(evidence), "List the service's own "
                           "domains in ALLOWED_HOSTS.", time.time())
    summary = f"{len(hosts)} host(s)" + (f"; {len(origins)} Origin(s) allowed" if origins else
                                         ": give --origin to check the browser's")
    return CheckResult(cid, PASS, summary, tuple(evidence), "", time.time())


def origin_validator_check(v: d.OriginValidation) -> CheckResult:
    """The running ASGI application's Origin validation on its WebSocket branch."""
    cid = "origin-validator"
    where = (f"read from {v.application}",) if v.application else ()
    if v.error and not v.found:
        # Nothing to read is unknown; an application that cannot be imported, or one without a
        # websocket protocol, cannot serve a socket at all.
        status = UNKNOWN if v.error.startswith("no ASGI application") else FAIL
        return CheckResult(cid, status, f"cannot tell: {v.error}", where,
                           "Set ASGI_APPLICATION to the module:application Daphne serves.",
                           time.time())
    if not v.found:
        return CheckResult(cid, WARN, "no Origin validator on the WebSocket branch: any site "
                           "can open sockets as your users", where,
                           "Wrap the WebSocket router in AllowedHostsOriginValidator.",
                           time.time())
    if not v.covers_all_routes:
        return CheckResult(cid, WARN, f"{v.validator} covers only some WebSocket routes",
                           where, "Wrap the whole WebSocket router, not single routes.",
                           time.time())
    return CheckResult(cid, PASS, f"{v.validator} on every WebSocket route", where, "",
                       time.time())
