"""One redaction function that every output path goes through.

Secrets are removed two ways, because either alone leaks:

* by value: every secret wsmonitor was given (Redis passwords, tokens, the JWT signing key, AWS
  keys from the environment) is registered, with its URL-encoded forms, and replaced wherever it
  appears — including inside exception messages of libraries that echo the URL they were given;
* by shape: URL user-info passwords, ``token=`` query parameters, ``Authorization`` values,
  ``password=``/``jwt_secret:`` values, anything that looks like a JWT or an AWS access key id,
  even when nobody registered it.

Prose passes whole: every summary, remedy and help text wsmonitor prints reads the same after
`redact` (tests/test_redact_prose.py enumerates them). Where a key is also an English word
("Wrong password: copy it again", "a valid token: AllowedHostsOriginValidator rejects …") its
value is masked only when it looks like a secret; placeholders in help text
(``rediss://default:PASSWORD@HOST``) are not secrets.
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
_VALUE = r"(?=[^&#\s'\"]*[A-Za-z0-9])[^&#\s'\"]+"
"""A value: up to the next separator, with at least one letter or digit in it (so prose such
as "in ?token=." keeps its full stop)."""
_QUERY_SECRET = re.compile(
    r"(?i)(?P<key>[?&;](?:token|access_token|access|refresh|jwt|password|passwd|pwd|secret|"
    rf"api_key|apikey|key|auth|x-amz-security-token|x-amz-signature)=)(?P<val>{_VALUE})"
)
_AUTH_HEADER = re.compile(
    r"(?i)(?P<key>\b(?:authorization|proxy-authorization|x-api-key|cookie|set-cookie)"
    r"(?P<q>['\"]?)\s*(?P<sep>[:=])\s*['\"]?(?P<scheme>(?:bearer|basic|token|jwt)\s+)?)"
    r"(?P<val>(?=[^\s'\",}]*[A-Za-z0-9])[^\s'\",}]+)"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")

_CODE_KEYS = (r"secret_key|jwt_secret|client_secret|aws_secret_access_key|aws_session_token|"
              r"access_token|refresh_token|api_key|apikey|auth_token")
"""Keys only code and configuration write (``jwt_secret: …``): their value is always a secret."""
_WORD_KEYS = r"password|passwd|pwd|secret|token"
"""Keys that are English words too: after "Wrong password:" comes advice, not a password."""
_KV_VALUE = r"(?!\*\*\*)(?=[^\s'\",}&]*[A-Za-z0-9])[^\s'\",}&]+"
"""A value with a letter or digit in it, not one masked already (``token=***#f`` stays)."""
_KV_SECRET = re.compile(
    # password=…, token = '…', "secret": "…", 'password': …, jwt_secret: …
    rf"(?i)(?P<key>(?:\b(?:{_CODE_KEYS}|{_WORD_KEYS})['\"]?\s*=\s*['\"]?"
    rf"|['\"](?:{_CODE_KEYS}|{_WORD_KEYS})['\"]\s*:\s*['\"]?"
    rf"|\b(?:{_CODE_KEYS})['\"]?\s*:\s*['\"]?)(?:(?:bearer|basic|jwt|token)\s+)?)"
    rf"(?P<val>{_KV_VALUE})"
)
_KV_PROSE = re.compile(
    rf"(?i)(?P<key>\b(?:{_WORD_KEYS})(?P<q>['\"]?)\s*:\s*['\"]?"
    r"(?P<scheme>(?:bearer|basic|jwt)\s+)?)"
    rf"(?P<val>{_KV_VALUE})"
)
"""``password: …``, ``token: …`` as prose writes them: masked only when the value looks like a
secret (`_secretish`), so "403 with a valid token: AllowedHostsOriginValidator rejects the
Origin" and "no token: give --token" pass whole."""
_SECRETISH = re.compile(r"[A-Za-z][0-9]|[0-9][A-Za-z]|=")
"""A letter beside a digit (``hunter2``, ``eyJ0eXAi…``, ``S3cr…``), or an ``=`` (``sid=…``):
what a credential has and a word of prose has not (a check id such as ``handshake-101`` keeps
its hyphen between the two)."""
_PLACEHOLDER = re.compile(
    r"(?:<[^<>\s]*>|\.\.\.|…|\*+|(?:YOUR_|REDIS_)?(?:PASSWORD|PASS|PW|PWD|TOKEN|SECRET|JWT|KEY))"
    r"[.,;:)]?")
"""What help text writes where a secret goes (``rediss://default:PASSWORD@HOST``,
``?token=<jwt>``, a mask already applied): not a secret."""

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
    s = _QUERY_SECRET.sub(_mask_value, s)
    s = _AUTH_HEADER.sub(_mask_header, s)
    s = _KV_SECRET.sub(_mask_value, s)
    s = _KV_PROSE.sub(_mask_secretish, s)
    s = _JWT.sub(MASK, s)
    s = _AWS_KEY_ID.sub(MASK, s)
    return s


def _mask_userinfo(m: re.Match[str]) -> str:
    if _PLACEHOLDER.fullmatch(m.group("pw")):
        return m.group(0)
    return f"{m.group('scheme')}{m.group('user')}:{MASK}@"


def _mask_value(m: re.Match[str]) -> str:
    if _PLACEHOLDER.fullmatch(m.group("val")):
        return m.group(0)
    return m.group("key") + MASK


def _mask_secretish(m: re.Match[str]) -> str:
    if m.group("scheme") or m.group("q"):
        # "token: Bearer …", token": "…": a credential whatever it looks like
        return _mask_value(m)
    if _SECRETISH.search(m.group("val")) is None or _PLACEHOLDER.fullmatch(m.group("val")):
        return m.group(0)
    return m.group("key") + MASK


def _mask_header(m: re.Match[str]) -> str:
    # A scheme (Bearer …), a quoted key (a dict, JSON) or `=` say a credential follows;
    # "Authorization: missing" in a sentence is prose.
    if m.group("scheme") or m.group("q") or m.group("sep") == "=":
        return _mask_value(m)
    return _mask_secretish(m)


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
