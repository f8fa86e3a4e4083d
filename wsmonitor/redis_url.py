"""REDIS_URL lint: a pure function from a URL to findings, each with its fix.

Used by settings validation (findings of severity ``error`` stop wsmonitor with exit 2) and by
the ``redis-url`` check (``fail`` and ``warn`` findings become its status and evidence).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote

from wsmonitor.secrets import MASK

SCHEMES = ("redis", "rediss", "unix")
"""URL schemes redis-py and channels_redis accept."""

_UNSAFE_IN_PASSWORD = "/#?"
"""Characters that change how redis-py splits the URL when they appear raw in a password."""

_RISKY_IN_PASSWORD = ":@"
"""Characters redis-py copes with raw (it splits user-info at the last '@') but other clients and
proxies do not: worth encoding, not fatal."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with (or worth knowing about) a REDIS_URL."""

    severity: str
    """``error`` (cannot be used as written), ``fail``, ``warn`` or ``info``."""
    code: str
    """A stable id, e.g. ``unencoded-password``."""
    message: str
    """What is wrong, with no secret in it."""
    fix: str = ""
    """What to do about it."""


@dataclass(frozen=True, slots=True)
class ParsedRedisUrl:
    """A REDIS_URL split the way a person meant it (not the way a naive parser splits it)."""

    scheme: str
    username: str | None
    password: str | None
    """The password as written (possibly still URL-encoded)."""
    host: str
    port: int | None
    db: str
    query: dict[str, list[str]]
    path: str = ""
    """For ``unix://``: the socket path."""

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    def masked(self) -> str:
        """The URL with its password replaced by ``***`` and every part encoded correctly."""
        auth = ""
        if self.password is not None:
            auth = f"{quote(unquote(self.username or ''), safe='')}:{MASK}@"
        elif self.username:
            auth = f"{quote(unquote(self.username), safe='')}@"
        if self.scheme == "unix":
            return f"unix://{auth}{self.path}"
        port = f":{self.port}" if self.port is not None else ""
        db = f"/{self.db}" if self.db else ""
        return f"{self.scheme}://{auth}{self.host}{port}{db}"


    def masked_with_query(self) -> str:
        """`masked` plus the query string, with the values of secret-looking keys masked."""
        if not self.query:
            return self.masked()
        parts = []
        for key, values in self.query.items():
            secret = any(w in key.lower() for w in ("pass", "secret", "token", "key"))
            parts += [f"{quote(key, safe='')}={MASK if secret else quote(v, safe='/')}"
                      for v in values]
        return f"{self.masked()}?{'&'.join(parts)}"


class RedisUrlError(ValueError):
    """The URL cannot be split into scheme, host and port at all."""


def parse_redis_url(url: str) -> ParsedRedisUrl:
    """Split a REDIS_URL, taking the last ``@`` as the end of the user-info.

    redis-py splits at the first ``/``, ``?`` or ``#``, so a raw ``/`` in a password turns the
    rest into a path; splitting at the last ``@`` recovers what the person meant.

    Raises:
        RedisUrlError: no scheme, unknown scheme, no host, or a port that is not a port.
    """
    if "://" not in url:
        raise RedisUrlError("has no scheme: start it with redis://, rediss:// or unix://")
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise RedisUrlError(
            f"has unknown scheme {scheme!r}: use redis:// (plain), rediss:// (TLS) or unix://"
        )
    username: str | None = None
    password: str | None = None
    if scheme == "unix":
        # redis-py accepts user-info here too: unix://[user]:password@/path/to/redis.sock
        path, _, query = rest.partition("?")
        if not path.startswith("/") and "@" in path:
            userinfo, path = path.rsplit("@", 1)
            username, password = _split_userinfo(userinfo)
        if not path.startswith("/"):
            # Never echo what is there: it may be the rest of a password.
            raise RedisUrlError("has no socket path: unix:///path/to/redis.sock (or "
                                "unix://:PASSWORD@/path/to/redis.sock)")
        return ParsedRedisUrl(scheme, username, password, "", None, "", parse_qs(query),
                              path=path)
    if "@" in rest:
        userinfo, rest = rest.rsplit("@", 1)
        username, password = _split_userinfo(userinfo)
    hostport, _, tail = _split_first(rest, "/?#")
    db, query = "", ""
    if tail.startswith("/"):
        db, _, query = tail[1:].partition("?")
    elif tail.startswith("?"):
        query = tail[1:]
    query = query.partition("#")[0]
    host, port = _split_host_port(hostport)
    if not host:
        raise RedisUrlError("has no host: rediss://default:PASSWORD@HOST:6379/0")
    return ParsedRedisUrl(scheme, username, password, host, port, db, parse_qs(query))


def _split_userinfo(userinfo: str) -> tuple[str | None, str | None]:
    if ":" in userinfo:
        username, password = userinfo.split(":", 1)
        return username, password
    # redis-py reads "redis://secret@host" as a password-less user: keep it as a user.
    return userinfo, None


def _split_first(s: str, seps: str) -> tuple[str, str, str]:
    idx = min((i for i in (s.find(c) for c in seps) if i >= 0), default=-1)
    if idx < 0:
        return s, "", ""
    return s[:idx], s[idx], s[idx:]


def _split_host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, _, after = hostport[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else ""
    elif ":" in hostport:
        host, port_text = hostport.rsplit(":", 1)
    else:
        host, port_text = hostport, ""
    if not port_text:
        return host, None
    if not port_text.isdigit():
        raise RedisUrlError(
            "has a port that is not a number (a password with a raw ':' '/' '@' or '#' "
            "does this: URL-encode it)"
        )
    port = int(port_text)
    if not 0 < port < 65536:
        raise RedisUrlError(f"has port {port}, outside 1-65535")
    return host, port


def is_upstash(host: str) -> bool:
    """Whether a host is an Upstash endpoint."""
    return host.lower().rstrip(".").endswith(".upstash.io")


def lint_redis_url(url: str, *, ca_file: str | None = None) -> list[Finding]:
    """Everything wrong with a REDIS_URL, most serious first.

    Args:
        url: The URL as the service would be given it.
        ca_file: The ``--redis-ca`` bundle, if any.

    Returns:
        Findings; an empty list means nothing to say.
    """
    try:
        parsed = parse_redis_url(url)
    except RedisUrlError as exc:
        return [Finding("error", "malformed", f"REDIS_URL {exc}", "")]
    findings: list[Finding] = []
    raw_pw = parsed.password
    if raw_pw is not None:
        unsafe = sorted({c for c in raw_pw if c in _UNSAFE_IN_PASSWORD})
        if unsafe:
            every = sorted({c for c in raw_pw if c in _UNSAFE_IN_PASSWORD + _RISKY_IN_PASSWORD})
            chars = " ".join(repr(c) for c in every)
            findings.append(Finding(
                "error", "unencoded-password",
                f"the REDIS_URL password contains unencoded {chars}: redis-py splits the URL "
                "there and reports a wrong port or connects to a different host",
                f"URL-encode the password with urllib.parse.quote(password, safe=''): "
                f"{parsed.masked()}",
            ))
        else:
            risky = sorted({c for c in raw_pw if c in _RISKY_IN_PASSWORD})
            if risky:
                chars = " ".join(repr(c) for c in risky)
                codes = " and ".join(quote(c, safe="") for c in risky)
                findings.append(Finding(
                    "warn", "unencoded-password",
                    f"the REDIS_URL password contains unencoded {chars}: redis-py copes, other "
                    "clients (redis-cli -u, proxies) may not",
                    f"URL-encode it ({codes}): {parsed.masked()}",
                ))
    upstash = is_upstash(parsed.host)
    if upstash and not parsed.tls:
        findings.append(Finding(
            "fail", "upstash-needs-tls",
            "redis:// to an Upstash host: Upstash accepts TLS only, so the connection is reset",
            f"use rediss://: {ParsedRedisUrl('rediss', *_rest(parsed)).masked()}",
        ))
    if upstash and not raw_pw:
        findings.append(Finding(
            "fail", "missing-password",
            "no password for an Upstash host: every Upstash database requires one",
            "copy the URL with its password from the Upstash console: "
            "rediss://default:PASSWORD@HOST.upstash.io:6379/0",
        ))
    cert_reqs = _q(parsed, "ssl_cert_reqs")
    if parsed.tls and cert_reqs is not None and cert_reqs.lower() in ("none", "cert_none", "0"):
        findings.append(Finding(
            "warn", "tls-unverified",
            "ssl_cert_reqs=none: the server certificate is not verified",
            "drop ssl_cert_reqs=none and give the CA with --redis-ca (or ssl_ca_certs=)",
        ))
    url_ca = _q(parsed, "ssl_ca_certs")
    for ca in (ca_file, url_ca):
        if ca and parsed.tls and not os.path.isfile(ca):
            findings.append(Finding(
                "error", "ca-missing", f"the CA bundle {ca!r} does not exist",
                "pass an existing PEM file with --redis-ca",
            ))
    if ca_file and not parsed.tls:
        findings.append(Finding(
            "warn", "ca-without-tls", "--redis-ca is given but the URL is redis:// (no TLS)",
            "use rediss:// or drop --redis-ca",
        ))
    if parsed.db:
        if not parsed.db.isdigit():
            findings.append(Finding(
                "error", "bad-db",
                f"the database index {parsed.db!r} is not a number (a raw '/' in the password "
                "does this)",
                "end the URL with /0 (or another database number)",
            ))
        elif upstash and parsed.db != "0":
            findings.append(Finding(
                "fail", "bad-db", f"database {parsed.db} on Upstash: Upstash has database 0 only",
                "end the URL with /0",
            ))
        elif int(parsed.db) > 15:
            findings.append(Finding(
                "warn", "bad-db",
                f"database {parsed.db}: a default redis-server has databases 0-15",
                "check `databases` in the server's configuration",
            ))
    if _q(parsed, "socket_timeout") is None:
        findings.append(Finding(
            "warn", "socket-timeout",
            "no socket_timeout: redis-py 8 defaults it to 5 s, which races channels_redis's 5 s "
            "BZPOPMIN (TimeoutError: Timeout reading from …, django/channels_redis#422)",
            "add ?socket_timeout=10 to REDIS_URL, or set it in CHANNEL_LAYERS hosts",
        ))
    order = {"error": 0, "fail": 1, "warn": 2, "info": 3}
    return sorted(findings, key=lambda f: order[f.severity])


def _rest(p: ParsedRedisUrl) -> tuple[str | None, str | None, str, int | None, str,
                                      dict[str, list[str]]]:
    return p.username, p.password, p.host, p.port, p.db, p.query


def _q(parsed: ParsedRedisUrl, key: str) -> str | None:
    values = parsed.query.get(key)
    return values[-1] if values else None


def password_of(url: str) -> str | None:
    """The decoded password of a REDIS_URL, for registering it as a secret."""
    try:
        parsed = parse_redis_url(url)
    except RedisUrlError:
        return None
    if parsed.password is None:
        # "redis://secret@host": redis-py treats it as a user; it is often a password.
        return unquote(parsed.username) if parsed.username else None
    return unquote(parsed.password)


def raw_password_of(url: str) -> str | None:
    """The password exactly as written in the URL (may be encoded or broken)."""
    try:
        parsed = parse_redis_url(url)
    except RedisUrlError:
        # Best effort for a URL too broken to parse: everything between the first ':' after the
        # scheme and the last '@'.
        if "://" in url and "@" in url:
            userinfo = url.split("://", 1)[1].rsplit("@", 1)[0]
            return userinfo.split(":", 1)[1] if ":" in userinfo else userinfo
        return None
    return parsed.password if parsed.password is not None else parsed.username
