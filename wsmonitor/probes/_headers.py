"""Response headers as the probes keep them: bounded, redacted, no cookie or credential value.

Kept so the platform rules (`wsmonitor.rules.platform`) can tell which front answered — ``server``,
``via``, ``x-envoy-*``, ``x-amz-*``, ``cf-ray`` — and an ALB's ``AWSALB`` cookie by its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wsmonitor.secrets import MASK

MAX_HEADERS = 64
"""Headers kept per response."""
MAX_VALUE = 200
"""Characters kept per name and value."""

SENSITIVE = frozenset({"cookie", "authorization", "proxy-authorization", "www-authenticate",
                       "x-api-key", "x-amz-security-token"})
"""Headers whose value is never kept."""


def shown_headers(pairs: Iterable[tuple[str, str]],
                  clean: Callable[[str], str]) -> tuple[tuple[str, str], ...]:
    """The pairs as a sample carries them: at most `MAX_HEADERS`, each cut to `MAX_VALUE`,
    through `clean` (redaction); a ``Set-Cookie`` keeps only the cookie's name
    (``AWSALB=***``: the name tells an ALB, the value is a session), credentials nothing."""
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        if len(out) >= MAX_HEADERS:
            break
        low = name.lower()
        if low == "set-cookie":
            cookie = value.split("=", 1)[0].strip()
            shown = f"{clean(cookie)[:60]}={MASK}" if cookie and "=" in value else MASK
        elif low in SENSITIVE:
            shown = MASK
        else:
            shown = clean(value)[:MAX_VALUE]
        out.append((clean(name)[:MAX_VALUE], shown))
    return tuple(out)
