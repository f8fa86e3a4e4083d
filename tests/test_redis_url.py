"""REDIS_URL lint, parsing and password extraction; the encoding trap shown with real redis-py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from conftest import PASSWORD
from servers import RedisServer
from wsmonitor.redis_url import (
    Finding,
    RedisUrlError,
    is_upstash,
    lint_redis_url,
    parse_redis_url,
    password_of,
    raw_password_of,
)
from wsmonitor.secrets import MASK

UPSTASH = "eu1-able-fox-12345.upstash.io"
QUIET = "?socket_timeout=10"
"""Appended where the socket-timeout warning is not what the test is about."""


def codes(findings: list[Finding], severity: str | None = None) -> list[str]:
    return [f.code for f in findings if severity is None or f.severity == severity]


def only(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, findings
    return matching[0]


def assert_secret_free(findings: list[Finding], *secrets: str) -> None:
    for f in findings:
        for secret in secrets:
            assert secret not in f.message and secret not in f.fix, f


# --- unencoded passwords -----------------------------------------------------------------------


@pytest.mark.parametrize("char", ["/", "#", "?"])
def test_unencoded_char_in_password_is_an_error(char: str) -> None:
    password = f"abc{char}def9"
    findings = lint_redis_url(f"redis://default:{password}@cache.internal:6379/0{QUIET}")
    f = only(findings, "unencoded-password")
    assert f.severity == "error"
    assert repr(char) in f.message
    assert "quote(password, safe='')" in f.fix
    assert f.fix.endswith(f"redis://default:{MASK}@cache.internal:6379/0")
    assert_secret_free(findings, password, quote(password, safe=""), "abc", "def9")
    assert findings[0] is f  # errors first


def test_unencoded_colon_is_a_warning() -> None:
    findings = lint_redis_url(f"redis://:abc:def9@cache.internal:6379/0{QUIET}")
    f = only(findings, "unencoded-password")
    assert f.severity == "warn"
    assert "%3A" in f.fix and f.fix.endswith(f"redis://:{MASK}@cache.internal:6379/0")
    assert_secret_free(findings, "abc:def9")
    assert password_of("redis://:abc:def9@cache.internal:6379/0") == "abc:def9"


def test_every_unsafe_char_named_once() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:6379/0{QUIET}"
    f = only(lint_redis_url(url), "unencoded-password")
    assert f.severity == "error"
    for char in "@/#":
        assert repr(char) in f.message
    assert_secret_free([f], PASSWORD, "w/rd", "rd#1")


def test_encoded_password_is_clean() -> None:
    url = f"rediss://default:{quote(PASSWORD, safe='')}@{UPSTASH}:6379/0{QUIET}"
    assert lint_redis_url(url) == []
    assert password_of(url) == PASSWORD
    assert raw_password_of(url) == quote(PASSWORD, safe="")


def test_plain_quote_keeps_slash_and_is_still_caught() -> None:
    # FACTS.md: quote(pw) without safe="" keeps '/' and still breaks redis-py.
    url = f"redis://:{quote(PASSWORD)}@127.0.0.1:6379/0{QUIET}"
    f = only(lint_redis_url(url), "unencoded-password")
    assert f.severity == "error" and "'/'" in f.message


# --- the trap, with real redis-py --------------------------------------------------------------


def test_suggested_encoding_connects_and_raw_url_fails(redis_password: RedisServer) -> None:
    port = redis_password.port
    raw = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    findings = lint_redis_url(raw + QUIET)
    f = only(findings, "unencoded-password")
    suggested = f.fix.split(": ", 1)[1]
    assert MASK in suggested and PASSWORD not in suggested
    # The fix says how to encode; substitute the real password that way and connect.
    fixed = suggested.replace(MASK, quote(PASSWORD, safe=""))
    with redis.Redis.from_url(fixed, socket_timeout=5) as c:
        assert c.ping() is True
    # The URL as written: redis-py splits it at the first '/' and the port is 'w'.
    with pytest.raises(ValueError, match="Port could not be cast to integer value as 'w'"):
        redis.Redis.from_url(raw, socket_timeout=5).ping()
    # quote() without safe="" leaves the '/': still broken.
    with pytest.raises(ValueError, match="Port could not be cast"):
        redis.Redis.from_url(f"redis://:{quote(PASSWORD)}@127.0.0.1:{port}/0").ping()


def test_parse_recovers_what_was_meant() -> None:
    p = parse_redis_url(f"redis://:{PASSWORD}@127.0.0.1:6380/2?socket_timeout=10")
    assert (p.host, p.port, p.db, p.password, p.username) == ("127.0.0.1", 6380, "2",
                                                             PASSWORD, "")
    assert p.query == {"socket_timeout": ["10"]}
    assert p.masked() == f"redis://:{MASK}@127.0.0.1:6380/2"
    assert not p.tls and parse_redis_url("rediss://h:1").tls


# --- Upstash -----------------------------------------------------------------------------------


def test_upstash_with_plain_redis_scheme_fails() -> None:
    url = f"redis://default:{quote(PASSWORD, safe='')}@{UPSTASH}:6379/0{QUIET}"
    findings = lint_redis_url(url)
    f = only(findings, "upstash-needs-tls")
    assert f.severity == "fail"
    assert f.fix.endswith(f"rediss://default:{MASK}@{UPSTASH}:6379/0")
    assert_secret_free(findings, PASSWORD, quote(PASSWORD, safe=""))


@pytest.mark.parametrize("url", [
    f"rediss://{UPSTASH}:6379/0{QUIET}",
    f"rediss://default@{UPSTASH}:6379/0{QUIET}",
    f"rediss://default:@{UPSTASH}:6379/0{QUIET}",
])
def test_upstash_without_password_fails(url: str) -> None:
    f = only(lint_redis_url(url), "missing-password")
    assert f.severity == "fail"


def test_upstash_db_must_be_zero() -> None:
    f = only(lint_redis_url(f"rediss://default:pw123@{UPSTASH}:6379/3{QUIET}"), "bad-db")
    assert f.severity == "fail" and "/0" in f.fix
    assert codes(lint_redis_url(f"rediss://default:pw123@{UPSTASH}:6379/0{QUIET}")) == []


def test_is_upstash() -> None:
    assert is_upstash(UPSTASH) and is_upstash(UPSTASH.upper() + ".")
    assert not is_upstash("upstash.io.evil.example") and not is_upstash("127.0.0.1")


# --- TLS options -------------------------------------------------------------------------------


def test_ssl_cert_reqs_none_warns() -> None:
    for value in ("none", "CERT_NONE"):
        f = only(lint_redis_url(f"rediss://h:6379/0?ssl_cert_reqs={value}&socket_timeout=5"),
                 "tls-unverified")
        assert f.severity == "warn"
    assert "tls-unverified" not in codes(
        lint_redis_url("rediss://h:6379/0?ssl_cert_reqs=required&socket_timeout=5"))


def test_missing_ca_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    f = only(lint_redis_url(f"rediss://h:6379/0{QUIET}", ca_file=missing), "ca-missing")
    assert f.severity == "error"
    f = only(lint_redis_url(f"rediss://h:6379/0?ssl_ca_certs={missing}&socket_timeout=5"),
             "ca-missing")
    assert f.severity == "error"
    present = tmp_path / "ca.pem"
    present.write_text("-----BEGIN CERTIFICATE-----\n")
    assert lint_redis_url(f"rediss://h:6379/0{QUIET}", ca_file=str(present)) == []
    f = only(lint_redis_url(f"redis://h:6379/0{QUIET}", ca_file=str(present)), "ca-without-tls")
    assert f.severity == "warn"


# --- db, timeouts ------------------------------------------------------------------------------


def test_non_numeric_db_is_an_error() -> None:
    f = only(lint_redis_url(f"redis://h:6379/abc{QUIET}"), "bad-db")
    assert f.severity == "error"


def test_db_above_15_warns() -> None:
    f = only(lint_redis_url(f"redis://h:6379/16{QUIET}"), "bad-db")
    assert f.severity == "warn"
    assert lint_redis_url(f"redis://h:6379/15{QUIET}") == []


def test_socket_timeout_warning_present_and_absent() -> None:
    f = only(lint_redis_url("redis://h:6379/0"), "socket-timeout")
    assert f.severity == "warn" and "socket_timeout" in f.fix
    assert "channels_redis#422" in f.message
    assert lint_redis_url("redis://h:6379/0?socket_timeout=10") == []
    assert lint_redis_url("redis://h:6379/0?ssl_cert_reqs=required&socket_timeout=10") == []


# --- unix sockets ------------------------------------------------------------------------------


def test_unix_urls() -> None:
    p = parse_redis_url("unix:///run/redis/redis.sock?db=2&socket_timeout=3")
    assert p.scheme == "unix" and p.path == "/run/redis/redis.sock"
    assert p.query["db"] == ["2"] and p.password is None
    assert lint_redis_url("unix:///run/redis/redis.sock?socket_timeout=3") == []
    # The 5 s default applies to unix sockets as well.
    assert codes(lint_redis_url("unix:///run/redis/redis.sock")) == ["socket-timeout"]
    with pytest.raises(RedisUrlError, match="no socket path"):
        parse_redis_url("unix://")


def test_unix_url_with_password() -> None:
    url = f"unix://:{quote(PASSWORD, safe='')}@/run/redis.sock?socket_timeout=3"
    p = parse_redis_url(url)
    assert p.path == "/run/redis.sock"
    assert password_of(url) == PASSWORD
    assert p.masked() == f"unix://:{MASK}@/run/redis.sock"
    assert lint_redis_url(url) == []
    raw = f"unix://:{PASSWORD}@/run/redis.sock?socket_timeout=3"
    f = only(lint_redis_url(raw), "unencoded-password")
    assert f.severity == "error" and f.fix.endswith(f"unix://:{MASK}@/run/redis.sock")
    assert parse_redis_url(raw).path == "/run/redis.sock"


# --- malformed ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url, words", [
    ("http://h:6379/0", "unknown scheme 'http'"),
    ("cache.internal:6379", "no scheme"),
    ("redis://:pw@:6379/0", "no host"),
    ("redis://h:port/0", "not a number"),
    ("redis://h:0/0", "outside 1-65535"),
    ("redis://h:70000/0", "outside 1-65535"),
])
def test_malformed(url: str, words: str) -> None:
    with pytest.raises(RedisUrlError, match=words):
        parse_redis_url(url)
    findings = lint_redis_url(url)
    assert [(f.severity, f.code) for f in findings] == [("error", "malformed")]
    assert words in findings[0].message


def test_ipv6_host() -> None:
    p = parse_redis_url("redis://[::1]:6380/0")
    assert (p.host, p.port) == ("::1", 6380)
    assert parse_redis_url("redis://[::1]/0").port is None


# --- password_of -------------------------------------------------------------------------------


def test_password_of() -> None:
    assert password_of(f"redis://u:{quote(PASSWORD, safe='')}@h:1/0") == PASSWORD
    assert password_of(f"redis://:{PASSWORD}@h:1/0") == PASSWORD
    # redis-py reads a bare user-info as a user name; it is usually a password: register it.
    assert password_of("redis://s3cr3t@h:1/0") == "s3cr3t"
    assert password_of("redis://h:1/0") is None
    assert password_of("not a url") is None
    assert raw_password_of("redis://:a%2Fb@h:1/0") == "a%2Fb"
    assert raw_password_of("redis://:x@h:notaport/0") == "x"  # best effort when unparseable


def test_raw_at_sign_alone_is_read_right_by_redis_py(
        make_redis: Callable[..., RedisServer]) -> None:
    """What redis-py really does with a raw '@': it splits user-info at the last '@'.

    So the lint calls a lone raw '@' a warning (other clients split at the first '@'), not an
    error that would stop wsmonitor on a URL the service can use.
    """
    server = make_redis(password="p@ss")
    url = f"redis://:p@ss@127.0.0.1:{server.port}/0"
    with redis.Redis.from_url(url, socket_timeout=5) as c:
        assert c.ping() is True
    f = only(lint_redis_url(url + QUIET), "unencoded-password")
    assert f.severity == "warn" and "%40" in f.fix
