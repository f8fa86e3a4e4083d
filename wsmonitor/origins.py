"""Does an Origin pass Channels' OriginValidator? A pure copy of its rule, for wsmonitor's checks
(which have no Django) and for the companion's management command.

Channels (``channels/security/websocket.py``): ``*`` allows everything; a pattern without a
scheme compares the host only (the port is ignored), a leading dot allows the domain and its
subdomains (Django's ``is_same_domain``); a pattern with a scheme must match scheme, host and
port (default ports filled in). No Origin header passes only with ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def origin_host(origin: str | None) -> str | None:
    """The host of an Origin (``https://app.example.com:8443`` → ``app.example.com``)."""
    if not origin:
        return None
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return None


def _same_domain(host: str, pattern: str) -> bool:
    # django.utils.http.is_same_domain
    if not pattern:
        return False
    pattern = pattern.lower()
    return (pattern[0] == "." and (host.endswith(pattern) or host == pattern[1:])) \
        or pattern == host


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else _DEFAULT_PORTS.get(scheme)


def origin_allowed(origin: str | None, patterns: Iterable[str]) -> bool:
    """Whether Channels' OriginValidator with `patterns` lets `origin` through."""
    patterns = [str(p) for p in patterns]
    if "*" in patterns:
        return True
    if not origin:
        return False
    try:
        parsed = urlsplit(origin)
        host = parsed.hostname
        port = parsed.port
    except ValueError:
        return False
    if host is None:
        return False
    host = host.lower()
    for pattern in patterns:
        p = urlsplit(pattern.lower())
        if not p.scheme:
            try:
                pattern_host = urlsplit("//" + pattern).hostname or pattern
            except ValueError:
                pattern_host = pattern
            if _same_domain(host, pattern_host):
                return True
            continue
        try:
            pattern_port = p.port
        except ValueError:
            continue
        if p.scheme == parsed.scheme.lower() and p.hostname and \
                _port(parsed.scheme.lower(), port) == _port(p.scheme, pattern_port) and \
                _same_domain(host, p.hostname):
            return True
    return False
