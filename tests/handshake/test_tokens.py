"""Tokens: decode without the key, verify with it, mint what simplejwt accepts."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from wsmonitor.tokens import (TokenError, TokenSource, decode_token, key_is_short,
                              mint_access_token, verify_token)

KEY = "k" * 50


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_mint_has_simplejwt_claims() -> None:
    now = 1_800_000_000
    token = mint_access_token(KEY, 42, now=now)
    claims = jwt.decode(token, KEY, algorithms=["HS256"],
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["token_type"] == "access"
    assert claims["user_id"] == "42"  # simplejwt writes it as a string
    assert claims["iat"] == now and claims["exp"] == now + 300
    assert len(claims["jti"]) == 32
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert mint_access_token(KEY, 42, now=now) != token  # a fresh jti each time


def test_decode_without_key() -> None:
    token = mint_access_token(KEY, "7", lifetime=120, now=1000)
    info = decode_token(token, now=1055)
    assert (info.token_type, info.user_id, info.algorithm) == ("access", "7", "HS256")
    assert info.expires_in == 65
    assert not info.expired and info.is_access and not info.signature_verified
    assert info.missing_claims == ()
    assert info.summary().startswith("access token for user 7, expires in 1m 05s")


def test_decode_expiring_soon_and_expired() -> None:
    assert decode_token(mint_access_token(KEY, 1, lifetime=30)).expiring_soon
    info = decode_token(mint_access_token(KEY, 1, lifetime=-90, now=1000), now=1000)
    assert info.expired and not info.expiring_soon
    assert "expired 1m 30s ago" in info.summary()


def test_verify_accepts_good_token() -> None:
    info = verify_token(mint_access_token(KEY, 3), KEY)
    assert info.signature_verified and info.user_id == "3"


@pytest.mark.parametrize("token_factory, kind", [
    (lambda: mint_access_token("another-key-" + "x" * 40, 3), "bad-signature"),
    (lambda: mint_access_token(KEY, 3, lifetime=-5), "expired"),
    (lambda: jwt.encode({"token_type": "refresh", "exp": time.time() + 60, "jti": "a",
                         "user_id": "3"}, KEY, algorithm="HS256"), "wrong-type"),
    (lambda: jwt.encode({"token_type": "access", "exp": time.time() + 60, "user_id": "3"},
                        KEY, algorithm="HS256"), "missing-claim"),
    (lambda: jwt.encode({"token_type": "access"}, None, algorithm="none"), "wrong-algorithm"),
])
def test_verify_rejects(token_factory, kind: str) -> None:
    token = token_factory()
    with pytest.raises(TokenError) as info:
        verify_token(token, KEY)
    assert info.value.kind == kind
    assert token not in str(info.value) and KEY not in str(info.value)


@pytest.mark.parametrize("bad", [
    "", "   ", "not-a-token", "a.b", "a.b.c.d", "eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln",
    "eyJhbGciOiJIUzI1NiJ9.!!!notbase64!!!.sig",
    _b64({"alg": "HS256"}) + "." + _b64(["a", "list"]) + ".sig",
    _b64({"alg": "HS256"}) + ".c2VjcmV0LXBheWxvYWQtbm90LWpzb24.sig",
    "%%%%.%%%%.%%%%",
])
def test_malformed_raises_without_echoing(bad: str) -> None:
    with pytest.raises(TokenError) as info:
        decode_token(bad)
    assert info.value.kind == "malformed"
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    for part in (bad.strip(), *bad.strip().split(".")):
        if len(part) >= 4:
            assert part not in message


def test_mint_rejects_missing_input() -> None:
    with pytest.raises(TokenError, match="--jwt-secret"):
        mint_access_token("", 1)
    with pytest.raises(TokenError, match="--jwt-user-id"):
        mint_access_token(KEY, "")


def test_short_key_mints_and_verifies_without_warning(recwarn: pytest.WarningsRecorder) -> None:
    token = mint_access_token("short", 1)
    verify_token(token, "short")
    assert key_is_short("short") and not key_is_short(KEY)
    assert not [w for w in recwarn if "key" in str(w.message).lower()]


def test_token_source() -> None:
    given = mint_access_token(KEY, 1)
    assert TokenSource(given).get() == given
    assert TokenSource(given, secret=KEY, user_id=2).kind == "given"  # given wins
    minting = TokenSource(secret=KEY, user_id=2)
    first, second = minting.get(), minting.get()
    assert minting.kind == "minted" and first != second
    assert decode_token(first).user_id == "2"
    assert TokenSource(secret=KEY).get() is None and TokenSource().kind is None
    assert KEY not in repr(minting)
