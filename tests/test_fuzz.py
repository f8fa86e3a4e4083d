"""Fuzzing with Hypothesis: every parser of user input either succeeds or raises its documented
error, whose message is one line and carries no secret.

Covered: the REDIS_URL lint and parser, token decoding and verification, settings loading (flags,
environment and a wsmonitor.toml), theme files, log rules and log classification. Examples are
derandomized (the same every run) and few enough to keep the suite fast.
"""

from __future__ import annotations

import atexit
import base64
import json
import shutil
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from wsmonitor.config import ConfigError, load_settings, setting_names
from wsmonitor.log_rules import Classification, RuleSet, build_rules, parse_rules
from wsmonitor.redis_url import Finding, RedisUrlError, lint_redis_url, parse_redis_url, \
    password_of, raw_password_of
from wsmonitor.secrets import forget_secrets, redact
from wsmonitor.theme_files import ThemeError, validate_theme
from wsmonitor.tokens import TokenError, TokenInfo, decode_token, mint_access_token, \
    verify_token

FUZZ = settings(max_examples=80, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
"""Deterministic and modest: the same examples every run, a few seconds per target."""

TOKEN_KINDS = {"malformed", "bad-signature", "expired", "wrong-type", "missing-claim",
               "wrong-algorithm", "bad-input"}

# A secret is a distinctive run of characters that no message would contain by chance.
secret_text = st.text(alphabet=string.ascii_letters + string.digits, min_size=12,
                      max_size=24).map(lambda s: "S3cr" + s)
junk = st.text(max_size=40)
url_chars = st.text(alphabet=string.printable + "é€\x00", max_size=20)


SCRATCH = Path(tempfile.mkdtemp(prefix="wsmonitor-fuzz-"))
"""Where the settings fuzz writes its wsmonitor.toml, and Hypothesis its caches (it keeps some
even without an example database): outside the checkout, removed at exit."""
atexit.register(shutil.rmtree, SCRATCH, True)
set_hypothesis_home_dir(str(SCRATCH / "hypothesis"))


def one_line(message: str) -> None:
    assert message, "an empty error message"
    assert "\n" not in message and "\r" not in message, message


# --- REDIS_URL ------------------------------------------------------------------------------

@st.composite
def redis_urls(draw: st.DrawFn) -> tuple[str, str]:
    """A REDIS_URL-like string, well or badly formed, and the password in it."""
    password = draw(secret_text)
    scheme = draw(st.sampled_from(["redis", "rediss", "unix", "REDIS", "http", "", "redis+tls"]))
    user = draw(st.sampled_from(["", "default", "user@x", "a:b"]))
    # the password as it may appear: plain, with characters that break URLs, encoded
    shown = draw(st.sampled_from([password, password + "@:/#", password.replace("S", "%53")]))
    host = draw(st.one_of(st.sampled_from(["", "localhost", "127.0.0.1", "[::1]",
                                           "eu1-x.upstash.io", "h o st"]), url_chars))
    port = draw(st.one_of(st.just(""), st.integers(-5, 70000).map(str), url_chars))
    db = draw(st.one_of(st.just(""), st.integers(-1, 20).map(str), url_chars))
    query = draw(st.one_of(st.just(""), st.sampled_from(["socket_timeout=10",
                                                         "ssl_cert_reqs=none", "db=3"]),
                           url_chars))
    auth = f"{user}:{shown}@" if draw(st.booleans()) else ""
    url = f"{scheme}://{auth}{host}" + (f":{port}" if port else "") + (f"/{db}" if db else "") \
        + (f"?{query}" if query else "")
    return draw(st.one_of(st.just(url), st.just(url[: draw(st.integers(0, len(url)))]))), \
        password


@FUZZ
@given(redis_urls())
def test_redis_url_lint_and_parse(case: tuple[str, str]) -> None:
    url, password = case
    findings = lint_redis_url(url)
    assert isinstance(findings, list)
    for f in findings:
        assert isinstance(f, Finding) and f.severity in ("error", "warn", "info", "fail")
        one_line(f.message)
        for text in (f.message, f.fix or ""):
            assert password not in redact(text), text
    try:
        parsed = parse_redis_url(url)
    except RedisUrlError as exc:
        one_line(str(exc))
        assert password not in str(exc)
    else:
        # What is shown of a parsed URL (`wsmonitor check` prints redact(masked())).
        assert password not in redact(parsed.masked())
    password_of(url)
    raw_password_of(url)


# Found by fuzzing: parse_redis_url kept the user-info of a unix:// URL with no socket path in
# the path, password_of missed it, and `wsmonitor check --redis-url 'unix://user@x:PW@'`
# printed PW. Fixed in redis_url.py; this keeps it fixed.
@pytest.mark.parametrize("url", ["unix://:S3crPassw0rdXYZ@", "unix://user@x:S3crPassw0rdXYZ@"])
def test_unix_url_without_socket_path_never_shows_its_password(url: str) -> None:
    # what settings registers as a secret for a URL it cannot parse
    assert "S3crPassw0rdXYZ" in (password_of(url) or raw_password_of(url) or "")
    try:
        shown = redact(parse_redis_url(url).masked())
    except RedisUrlError as exc:
        shown = str(exc)
    assert "S3crPassw0rdXYZ" not in shown


@FUZZ
@given(junk)
def test_redis_url_arbitrary_text(url: str) -> None:
    for f in lint_redis_url(url):
        one_line(f.message)
    try:
        parse_redis_url(url)
    except RedisUrlError as exc:
        one_line(str(exc))


# --- tokens ---------------------------------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                     children, max_size=3),
    max_leaves=8)


@st.composite
def tokens(draw: st.DrawFn) -> tuple[str, str]:
    """A JWT-like string (or garbage) and a distinctive part of it."""
    marker = draw(secret_text)
    header = draw(st.one_of(
        st.fixed_dictionaries({"alg": st.sampled_from(["HS256", "HS512", "none", "RS256", 3]),
                               "typ": st.just("JWT")}),
        json_values))
    claims = draw(st.one_of(
        st.fixed_dictionaries({"token_type": st.sampled_from(["access", "refresh", None]),
                               "exp": st.one_of(st.integers(-10, 4_000_000_000), st.text(
                                   max_size=5), st.floats(allow_nan=False)),
                               "user_id": json_values, "jti": st.just(marker)},
                              optional={"iat": json_values}),
        json_values))
    parts = [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(
        marker.encode())]
    shape = draw(st.sampled_from(["jwt", "two", "four", "garbled", "raw", "spaces"]))
    if shape == "two":
        parts = parts[:2]
    elif shape == "four":
        parts.append(marker)
    elif shape == "garbled":
        parts[draw(st.integers(0, 2))] = draw(st.text(max_size=12)) + marker
    token = ".".join(parts)
    if shape == "raw":
        token = draw(junk) + marker
    elif shape == "spaces":
        token = f"  Bearer {token} "
    return token, marker


@FUZZ
@given(tokens())
def test_token_decoding(case: tuple[str, str]) -> None:
    token, marker = case
    try:
        info = decode_token(token)
    except TokenError as exc:
        assert exc.kind in TOKEN_KINDS
        one_line(str(exc))
        assert marker not in str(exc) and token.strip() not in str(exc)
    else:
        assert isinstance(info, TokenInfo)
        info.summary()
    key = "k-" + marker
    try:
        verify_token(token, key)
    except TokenError as exc:
        assert exc.kind in TOKEN_KINDS
        one_line(str(exc))
        assert key not in str(exc) and marker not in str(exc)


@FUZZ
@given(secret_text, st.one_of(st.integers(-5, 10**6).map(str), st.text(max_size=6)),
       st.floats(-1e6, 1e6))
def test_minted_tokens_decode_and_verify(key: str, user: str, lifetime: float) -> None:
    try:
        token = mint_access_token(key, user, lifetime=lifetime)
    except TokenError as exc:
        assert exc.kind == "bad-input" and key not in str(exc)
        return
    info = decode_token(token)
    assert info.user_id == user.strip() and info.token_type == "access"
    try:
        verify_token(token, key)
    except TokenError as exc:
        assert exc.kind == "expired", exc.kind


# --- settings -------------------------------------------------------------------------------

SETTINGS = sorted(setting_names())
ENV_NAMES = ["WSMONITOR_URL", "WSMONITOR_ORIGIN", "WSMONITOR_TOKEN", "WSMONITOR_JWT_SECRET",
             "WSMONITOR_JWT_USER_ID", "REDIS_URL", "WSMONITOR_REDIS_URL", "WSMONITOR_REDIS_PLAN",
             "WSMONITOR_LOG_GROUP", "WSMONITOR_API_BASE", "WSMONITOR_THEME", "AWS_ENDPOINT_URL"]
scalars = st.one_of(junk, st.integers(-10, 10**6), st.floats(allow_nan=True),
                    st.booleans(), st.sampled_from(["wss://app.example.com/ws/", "dark",
                                                    "redis://localhost:6379/0", "1", "5"]))
toml_values = st.one_of(scalars, st.lists(st.one_of(junk, st.integers()), max_size=3),
                        st.lists(st.dictionaries(st.sampled_from(["category", "pattern",
                                                                  "label", "severity"]),
                                                 junk, max_size=4), max_size=2))


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return "[" + ", ".join("{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}"
                                                   for k, v in d.items()) + "}"
                                   for d in value) + "]"
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


@FUZZ
@given(flags=st.dictionaries(st.sampled_from(SETTINGS), scalars, max_size=4),
       env=st.dictionaries(st.sampled_from(ENV_NAMES), junk, max_size=3),
       config=st.one_of(st.dictionaries(st.sampled_from(SETTINGS + ["bogus-key", "url"]),
                                        toml_values, max_size=4).map(
           lambda d: "".join(f"{json.dumps(k.replace('_', '-'))} = {toml_value(v)}\n"
                             for k, v in d.items())), junk),
       secret=secret_text)
def test_settings_loading(flags: dict[str, Any], env: dict[str, str], config: str,
                          secret: str) -> None:
    forget_secrets()
    # A secret goes in wherever a user would put one: a token, a key, a Redis password.
    flags = dict(flags)
    where = len(config) % 3
    if where == 0:
        flags["jwt_secret"] = secret
    elif where == 1:
        env = {**env, "REDIS_URL": f"rediss://default:{secret}@{env.get('REDIS_URL', 'h')}"}
    else:
        flags["token"] = f"{secret}.{secret}"
    path = SCRATCH / "wsmonitor.toml"
    path.write_text(config, encoding="utf-8")
    try:
        loaded = load_settings(flags, environ=env, config_path=str(path))
    except ConfigError as exc:
        shown = redact(str(exc))
        one_line(shown)
        assert secret not in shown
    else:
        assert loaded.interval > 0 and loaded.hold >= 0
    finally:
        forget_secrets()


# --- themes ---------------------------------------------------------------------------------

colour = st.one_of(st.from_regex(r"\A#[0-9a-fA-F]{6}\Z"), junk, st.integers(),
                   st.booleans())


@FUZZ
@given(st.one_of(
    st.dictionaries(st.sampled_from(["name", "dark", "primary", "secondary", "background",
                                     "surface", "error", "boost", "unknown-key", "Primary"]),
                    colour, max_size=6).map(
        lambda d: "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in d.items())),
    junk))
def test_theme_files(text: str) -> None:
    try:
        theme = validate_theme(text, "fuzz.toml", default_name="fuzz")
    except ThemeError as exc:
        one_line(str(exc))
        assert str(exc).startswith("theme file 'fuzz.toml'")
    else:
        assert theme["name"] and theme["primary"].startswith("#")
        assert isinstance(theme["dark"], bool)


# --- log rules and classification -----------------------------------------------------------

pattern_pieces = st.sampled_from(["a", "b", "Error", "redis", r"\d+", ".", "*", "+", "?", "(",
                                  ")", "(?:", "[", "]", "|", "^", "$", r"\b", "(?i)", "{2}",
                                  "(?P<x>", "\\", " ", "é"])
patterns = st.one_of(st.lists(pattern_pieces, max_size=6).map("".join), junk, st.integers())
rules = st.fixed_dictionaries(
    {"category": st.one_of(st.sampled_from(["db-error", "x", "Bad Cat", "", "a-b-c1"]), junk),
     "pattern": patterns},
    optional={"label": st.one_of(st.sampled_from(["db", "a b", "x" * 20]), junk),
              "severity": st.sampled_from(["error", "warning", "info", "fatal", 3]),
              "description": st.one_of(junk, st.integers()),
              "ignore_case": st.one_of(st.booleans(), st.integers(0, 1), junk),
              "extra": junk})
log_text = st.one_of(junk, st.sampled_from([
    "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379",
    "ERR max daily request limit exceeded", "Traceback (most recent call last):\n  x\nE: y",
    '127.0.0.1:1 - - [x] "WSREJECT /ws/notifications/" - -', "aaaaaaaaaaaaaaaaaaaaab"]))


@FUZZ
@given(st.one_of(st.lists(rules, max_size=3), st.just({"category": "x"}), junk, st.integers()),
       st.lists(log_text, min_size=1, max_size=4))
def test_log_rules_and_classification(items: Any, texts: list[str]) -> None:
    try:
        parsed = parse_rules(items)
    except ValueError as exc:
        one_line(str(exc))
        if items:  # build_rules takes no rules (None, empty) as "the defaults only"
            try:
                build_rules(items)
            except ValueError as again:
                assert str(again) == str(exc)
            else:
                raise AssertionError("build_rules accepted what parse_rules refused")
        return
    ruleset = build_rules(items) if items else build_rules()
    assert isinstance(ruleset, RuleSet)
    assert len(ruleset) == len(parsed) + len(build_rules())
    for text in texts:
        result = ruleset.classify(text)
        assert isinstance(result, Classification)
        if result.category is None:
            assert result.tags == ()
        else:
            assert result.tags[0] == result.category
            assert set(result.tags) <= set(ruleset.categories)
            ruleset.label(result.category)
            assert ruleset.severity(result.category) in ("error", "warning", "info")
