"""One redaction function that every output path goes through.

Secrets are removed two ways, because either alone leaks:

* by value: every secret wsmonitor was given (Redis passwords, tokens, the JWT signing key, AWS
  keys from the environment) is registered, with its URL-encoded forms, and replaced wherever it
  appears — including inside exception messages of libraries that echo the URL they were given;
* by shape: URL user-info passwords, ``token=`` query parameters, ``Authorization`` values,
  anything that looks like a JWT or an AWS access key id, even when nobody registered it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
"""What a secret is replaced with."""

_MIN_SECRET_LEN = 3
"""Shorter values are not registered: masking every 'a' in a text would destroy it."""

_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/?#@\s]*):(?P<pw>[^\s]*)@(?=[^@\s]*)"
)
_QUERY_SECRET = re.compile(
    r"(?i)(?P<key>[?&;](?:token|access_token|access|refresh|jwt|password|passwd|pwd|secret|"
    r"api_key|apikey|key|auth|x-amz-security-token|x-amz-signature)=)(?P<val>[^&#\s'\"]+)"
)
_AUTH_HEADER = re.compile(
    r"(?i)(?P<key>\b(?:authorization|proxy-authorization|x-api-key|cookie|set-cookie)"
    r"['\"]?\s*[:=]\s*['\"]?(?:bearer\s+|basic\s+|token\s+|jwt\s+)?)(?P<val>[^\s'\",}]+)"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_KV_SECRET = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|secret|secret_key|jwt_secret|aws_secret_access_key|"
    r"aws_session_token)['\"]?\s*[:=]\s*['\"]?)(?P<val>[^\s'\",}&]+)"
    r"|(?P<tkey>\btoken['\"]?\s*(?:=\s*['\"]?(?=[^\s'\",}&])|[:]\s*['\"]?"
    r"(?=[^\s'\",}&]{12,})))(?P<tval>[^\s'\",}&]+)"
)
"""``password=…``, ``secret: …``; for ``token`` only a value long enough to be one, so prose
like "no token: give --token" survives."""

_AWS_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")


class _Registry:
    """The secrets known by value; thread-safe because the engine runs on its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < _MIN_SECRET_LEN:
            return
        forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
        with self._lock:
            before = len(self._values)
            self._values.update(f for f in forms if len(f) >= _MIN_SECRET_LEN)
            if len(self._values) != before:
                # Longest first, so a secret that contains another is masked whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def sub(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text


_registry = _Registry()


def register_secret(*values: str | None) -> None:
    """Remember secrets so that `redact` masks them wherever they appear.

    Args:
        values: Secret values; empty and very short values are ignored.
    """
    for value in values:
        _registry.add(value)


def register_environment_secrets(environ: dict[str, str] | None = None) -> None:
    """Register the AWS credentials found in the environment."""
    env = os.environ if environ is None else environ
    register_secret(*(env.get(name) for name in _AWS_ENV))


def forget_secrets() -> None:
    """Forget every registered secret (tests use it between cases)."""
    _registry.clear()


def redact(text: Any) -> str:
    """Return `text` as a string with every secret masked.

    This is the single gate between wsmonitor and anything a person or a file can read.

    Args:
        text: Any value; non-strings are converted with ``str()`` first.

    Returns:
        The text with registered secrets and secret-shaped substrings replaced by ``***``.
    """
    s = text if isinstance(text, str) else str(text)
    if not s:
        return s
    s = _registry.sub(s)
    s = _URL_USERINFO.sub(_mask_userinfo, s)
    s = _QUERY_SECRET.sub(lambda m: m.group("key") + MASK, s)
    s = _AUTH_HEADER.sub(lambda m: m.group("key") + MASK, s)
    s = _KV_SECRET.sub(lambda m: (m.group("key") or m.group("tkey")) + MASK, s)
    s = _JWT.sub(MASK, s)
    s = _AWS_KEY_ID.sub(MASK, s)
    return s


def _mask_userinfo(m: re.Match[str]) -> str:
    return f"{m.group('scheme')}{m.group('user')}:{MASK}@"


def redact_obj(value: Any) -> Any:
    """Redact every string inside a JSON-like structure (dicts, lists, tuples, scalars)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value


def redact_lines(lines: Iterable[str]) -> list[str]:
    """Redact each line of an iterable."""
    return [redact(line) for line in lines]
