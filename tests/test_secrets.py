"""redact: by value (registered secrets and their encodings) and by shape (URLs, tokens, keys)."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

import pytest
import redis

from conftest import PASSWORD
from servers import free_port
from wsmonitor.secrets import (
    MASK,
    forget_secrets,
    redact,
    redact_lines,
    redact_obj,
    register_environment_secrets,
    register_secret,
)

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwidXNlcl9pZCI6IjQyIn0"
       ".Qk3x-_e8YpZ0sTq2c1mWn9R4vJ7uLhA5dG6fKbNoXyE")


# --- by value ----------------------------------------------------------------------------------


def test_registered_secret_and_its_encodings_are_masked() -> None:
    spaced = "my pass/wd"
    register_secret(PASSWORD, spaced)
    forms = {PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD),
             spaced, quote(spaced, safe=""), quote(spaced), quote_plus(spaced)}
    assert len(forms) == 7
    for form in forms:
        out = redact(f"auth failed for <{form}> (code 7)")
        assert out == f"auth failed for <{MASK}> (code 7)"


def test_longest_secret_masked_whole() -> None:
    register_secret("hunter2", "hunter2-extended")
    assert redact("a hunter2-extended b hunter2 c") == f"a {MASK} b {MASK} c"


def test_short_and_empty_values_are_not_registered() -> None:
    register_secret("ab", "", None)
    assert redact("ab cab abc") == "ab cab abc"


def test_forget_secrets() -> None:
    register_secret("s3cr3t-value")
    assert redact("s3cr3t-value") == MASK
    forget_secrets()
    assert redact("s3cr3t-value") == "s3cr3t-value"


def test_registry_is_empty_between_tests() -> None:
    # The autouse fixture forgot what the previous tests registered.
    assert redact("s3cr3t-value hunter2") == "s3cr3t-value hunter2"


def test_environment_aws_secrets() -> None:
    env = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
           "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjEXAMPLETOKEN", "HOME": "/root"}
    register_environment_secrets(env)
    out = redact(f"creds {env['AWS_SECRET_ACCESS_KEY']} {env['AWS_SESSION_TOKEN']} in /root")
    assert out == f"creds {MASK} {MASK} in /root"


# --- by shape ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("redis://default:hunter2@cache:6379/0", "redis://default:***@cache:6379/0"),
    ("rediss://:p%40ss@h.upstash.io:6379", "rediss://:***@h.upstash.io:6379"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/0 failed", "redis://:***@127.0.0.1:6379/0 failed"),
    ("https://user:pw@example.com/x and http://plain.example.com/",
     "https://user:***@example.com/x and http://plain.example.com/"),
])
def test_url_userinfo_masked_without_registration(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("GET /ws/notifications/?token=abc123&x=1", "GET /ws/notifications/?token=***&x=1"),
    ("wss://app.example.com/ws/?foo=1&access_token=xyz#f",
     "wss://app.example.com/ws/?foo=1&access_token=***#f"),
    ("https://h/p?password=a&pwd=b&api_key=c", "https://h/p?password=***&pwd=***&api_key=***"),
])
def test_query_secrets_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_jwt_shaped_strings_masked() -> None:
    assert redact(f"token {JWT} rejected") == f"token {MASK} rejected"
    assert JWT not in redact(f"wss://h/ws/?token={JWT}")
    assert redact("eyJ-not-a-jwt") == "eyJ-not-a-jwt"


@pytest.mark.parametrize("text", [
    "Authorization: Bearer abc.def-123",
    "authorization=Bearer abc.def-123",
    "{'Authorization': 'Bearer abc.def-123', 'Accept': '*/*'}",
    '"Authorization": "Basic dXNlcjpwYXNz"',
    "Cookie: sessionid=abc.def-123",
])
def test_authorization_headers_masked(text: str) -> None:
    out = redact(text)
    assert "abc.def-123" not in out and "dXNlcjpwYXNz" not in out
    assert MASK in out


def test_authorization_keeps_other_headers() -> None:
    out = redact("{'Authorization': 'Bearer abc.def-123', 'Accept': 'text/html'}")
    assert out == "{'Authorization': 'Bearer ***', 'Accept': 'text/html'}"


def test_aws_access_key_ids_masked() -> None:
    assert redact("key AKIAIOSFODNN7EXAMPLE used") == f"key {MASK} used"
    assert redact("ASIAY34FZKBOKMUTVV7A") == MASK
    assert redact("AKIA-short") == "AKIA-short"


def test_key_value_secrets_masked() -> None:
    assert redact("password=hunter2 jwt_secret: abc-xyz") == \
        f"password={MASK} jwt_secret: {MASK}"


def test_non_strings_and_empty() -> None:
    assert redact("") == ""
    assert redact(42) == "42"
    assert redact(ValueError("redis://:pw@h")) == "redis://:***@h"


# --- structures --------------------------------------------------------------------------------


def test_redact_obj_nested() -> None:
    register_secret("hunter2-value")
    data = {
        "url": "redis://:pw@h:6379",
        "probes": [{"error": "hunter2-value rejected", "n": 3, "ok": False, "none": None},
                   ("token=abc", 1.5)],
        "password=xyz": True,
    }
    out = redact_obj(data)
    assert out == {
        "url": "redis://:***@h:6379",
        "probes": [{"error": f"{MASK} rejected", "n": 3, "ok": False, "none": None},
                   [f"token={MASK}", 1.5]],
        f"password={MASK}": True,
    }
    assert data["url"] == "redis://:pw@h:6379"  # input untouched


def test_redact_lines() -> None:
    assert redact_lines(["a", "redis://:x@h"]) == ["a", "redis://:***@h"]


# --- what libraries raise ----------------------------------------------------------------------


def test_redis_py_error_wrapped_with_its_url_is_redacted() -> None:
    """A real redis-py failure, re-raised the way frameworks do: with the URL they were given."""
    port = free_port()
    url = f"redis://default:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/0"
    with pytest.raises(redis.ConnectionError) as info:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    wrapped = RuntimeError(f"channel layer at {url} unavailable: {info.value}")
    out = redact(wrapped)
    assert quote(PASSWORD, safe="") not in out
    assert f"redis://default:{MASK}@127.0.0.1:{port}/0" in out
    assert "Connection refused" in out or "Error 111" in out


def test_redis_py_error_with_raw_password_url_is_redacted_when_registered() -> None:
    register_secret(PASSWORD)
    url = f"redis://:{PASSWORD}@127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url)
    except ValueError as exc:
        out = redact(f"{exc} ({url})")
    else:  # pragma: no cover - redis-py changed how it splits the URL
        pytest.fail("redis-py accepted a raw '/' in the password")
    assert PASSWORD not in out
    assert out.startswith("Port could not be cast to integer value as 'w'")


def test_redis_py_http_error_embeds_url() -> None:
    from redis.http.http_client import HttpError

    err = HttpError(500, f"https://admin:{PASSWORD}@db.example.com/v1/health?token={JWT}")
    out = redact(err)
    assert out == f"HTTP 500 for https://admin:{MASK}@db.example.com/v1/health?token={MASK}"


def test_prose_about_tokens_is_not_masked() -> None:
    assert redact("no token: give --token") == "no token: give --token"
    assert redact("token: eyJ0eXAiOiJKV1QifQabcdef") == f"token: {MASK}"
