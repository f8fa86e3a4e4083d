"""Access tokens the way djangorestframework-simplejwt makes and checks them.

Decoding without the key shows what a token claims (type, user, expiry); verifying with the key
says whether the service would accept it; minting makes a fresh one per probe. No message raised
here ever contains the token or the key.
"""

from __future__ import annotations

import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import InsecureKeyLengthWarning

ACCESS_LIFETIME_S = 300.0
"""Lifetime of minted tokens: simplejwt's default ``ACCESS_TOKEN_LIFETIME`` (5 minutes)."""

EXPIRY_WARNING_S = 60.0
"""A token with less than this left is worth a warning."""

MIN_HMAC_KEY_BYTES = 32
"""PyJWT warns for HMAC keys shorter than this (RFC 7518 3.2)."""

ALGORITHMS = ("HS256", "HS384", "HS512")
"""Signing algorithms simplejwt offers for a shared key."""

REQUIRED_CLAIMS = ("token_type", "exp", "jti", "user_id")
"""Claims simplejwt needs in an access token (``iat`` is written but not required)."""


class TokenError(ValueError):
    """A token that cannot be used; the message never contains the token or the key.

    Args:
        message: What is wrong, and what to do.
        kind: ``malformed``, ``bad-signature``, ``expired``, ``wrong-type``, ``missing-claim``,
            ``wrong-algorithm`` or ``bad-input``.
    """

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind
        """A stable name of the failure."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What a token claims, read without checking its signature (nothing secret in it)."""

    token_type: str | None
    """The ``token_type`` claim: ``access`` for a token the WebSocket accepts."""
    user_id: str | None
    """The ``user_id`` claim, as a string."""
    exp: float | None
    """Expiry, seconds since the epoch."""
    iat: float | None
    """Issue time, seconds since the epoch."""
    has_jti: bool
    """Whether the token carries the ``jti`` claim simplejwt requires."""
    algorithm: str | None
    """The header's ``alg``."""
    expires_in: float | None
    """Seconds left at decode time (negative once expired); None without ``exp``."""
    claims: tuple[str, ...] = ()
    """Names of every claim (values are not kept)."""
    signature_verified: bool = False
    """True only when `verify_token` checked the signature with the key."""

    @property
    def expired(self) -> bool:
        return self.expires_in is not None and self.expires_in <= 0

    @property
    def is_access(self) -> bool:
        return self.token_type == "access"

    @property
    def expiring_soon(self) -> bool:
        """Under a minute left (and not yet expired)."""
        return self.expires_in is not None and 0 < self.expires_in < EXPIRY_WARNING_S

    @property
    def missing_claims(self) -> tuple[str, ...]:
        """Claims simplejwt requires that the token lacks."""
        present = set(self.claims)
        return tuple(c for c in REQUIRED_CLAIMS if c not in present)

    def summary(self) -> str:
        """One line for a pane: type, user, time left."""
        kind = f"{self.token_type} token" if self.token_type else "token without token_type"
        who = f"user {self.user_id}" if self.user_id is not None else "no user_id"
        if self.expires_in is None:
            left = "no expiry"
        elif self.expired:
            left = f"expired {_duration(-self.expires_in)} ago"
        else:
            left = f"expires in {_duration(self.expires_in)}"
        return f"{kind} for {who}, {left}"


def decode_token(token: str, *, now: float | None = None) -> TokenInfo:
    """Read a JWT's claims without the key.

    Args:
        token: The compact JWT (``header.payload.signature``).
        now: The time to measure expiry against (``time.time()`` by default).

    Raises:
        TokenError: ``malformed``: not three base64url parts of JSON objects.
    """
    if not isinstance(token, str) or not token.strip():
        raise TokenError("the token is empty: give an access JWT (three dot-separated parts)",
                         "malformed")
    token = token.strip()
    if token.count(".") != 2:
        raise TokenError(f"the token is not a JWT: it has {token.count('.') + 1} dot-separated "
                         "part(s), a JWT has 3 (header.payload.signature); copy the whole "
                         "access token", "malformed")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False,
                                            "verify_iat": False, "verify_nbf": False})
    except jwt.PyJWTError as exc:
        raise TokenError(f"the token is not a valid JWT ({_describe_pyjwt(exc, token)}): copy "
                         "the whole access token, without quotes or a 'Bearer ' prefix",
                         "malformed") from None
    if not isinstance(claims, dict):
        raise TokenError("the token's payload is not a JSON object", "malformed")
    return _info(header, claims, now)


def verify_token(token: str, key: str, *, algorithms: tuple[str, ...] = ALGORITHMS,
                 now: float | None = None) -> TokenInfo:
    """Check a token the way simplejwt's ``AccessToken`` does.

    Args:
        token: The compact JWT.
        key: The signing key (Django's ``SECRET_KEY`` unless ``SIMPLE_JWT`` says otherwise).
        algorithms: Algorithms accepted.
        now: The time to measure expiry against.

    Returns:
        The claims, with ``signature_verified`` set.

    Raises:
        TokenError: with ``kind`` ``malformed``, ``wrong-algorithm``, ``bad-signature``,
            ``expired``, ``wrong-type`` or ``missing-claim`` (checked in that order).
    """
    info = decode_token(token, now=now)
    if info.algorithm not in algorithms:
        raise TokenError(f"the token is signed with {info.algorithm!r}, not one of "
                         f"{', '.join(algorithms)}: mint it with HS256", "wrong-algorithm")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            jwt.decode(token.strip(), key, algorithms=list(algorithms),
                       options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                "verify_aud": False, "verify_iss": False})
    except jwt.InvalidSignatureError:
        raise TokenError("the token's signature does not match the signing key: it was "
                         "signed with another key (check --jwt-secret against the service's "
                         "SECRET_KEY / SIMPLE_JWT['SIGNING_KEY'])", "bad-signature") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"the token cannot be verified ({_describe_pyjwt(exc, token)})",
                         "malformed") from None
    if info.expired:
        raise TokenError(f"the token expired {_duration(-(info.expires_in or 0))} ago: get a "
                         "fresh one, or give --jwt-secret and --jwt-user-id to mint one per "
                         "probe", "expired")
    if not info.is_access:
        shown = info.token_type or "none"
        raise TokenError(f"the token's token_type is {shown!r}, not 'access': the WebSocket "
                         "needs an access token, not a refresh token", "wrong-type")
    if info.missing_claims:
        raise TokenError(f"the token lacks the claim(s) {', '.join(info.missing_claims)} that "
                         "simplejwt requires", "missing-claim")
    return _replace_verified(info)


def mint_access_token(key: str, user_id: str | int, *, lifetime: float = ACCESS_LIFETIME_S,
                      now: float | None = None, algorithm: str = "HS256") -> str:
    """Make an access token simplejwt accepts: ``token_type``, ``exp``, ``iat``, ``jti``,
    ``user_id`` (a string, as simplejwt writes it), signed with ``key``.

    Args:
        key: The service's signing key.
        user_id: The user the token is for.
        lifetime: Seconds until it expires (negative gives an expired token, for tests).
        now: Issue time (``time.time()`` by default).
        algorithm: An HMAC algorithm.

    Raises:
        TokenError: ``bad-input``: no key, no user id or an unknown algorithm.
    """
    if not key:
        raise TokenError("no signing key: give --jwt-secret (the service's SECRET_KEY)",
                         "bad-input")
    if user_id is None or str(user_id).strip() == "":
        raise TokenError("no user id: give --jwt-user-id (the user_id claim)", "bad-input")
    if algorithm not in ALGORITHMS:
        raise TokenError(f"algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}",
                         "bad-input")
    issued = time.time() if now is None else now
    claims = {
        "token_type": "access",
        "exp": int(issued + lifetime),
        "iat": int(issued),
        "jti": uuid.uuid4().hex,
        "user_id": str(user_id).strip(),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=algorithm)


def key_is_short(key: str) -> bool:
    """Whether an HMAC key is under 32 bytes (PyJWT warns; worth telling the user)."""
    return len(key.encode("utf-8")) < MIN_HMAC_KEY_BYTES


class TokenSource:
    """The token each probe sends: the one given, or a fresh one minted per call.

    A given token wins over minting (``--jwt-secret`` then only verifies it).

    Args:
        token: ``--token``.
        secret: ``--jwt-secret``.
        user_id: ``--jwt-user-id``.
        lifetime: Lifetime of minted tokens, seconds.
    """

    def __init__(self, token: str | None = None, *, secret: str | None = None,
                 user_id: str | int | None = None,
                 lifetime: float = ACCESS_LIFETIME_S) -> None:
        self._token = token.strip() if token else None
        self._secret = secret or None
        self._user_id = None if user_id is None or str(user_id) == "" else str(user_id)
        self.lifetime = lifetime

    @classmethod
    def from_settings(cls, settings: Any) -> TokenSource:
        """From `wsmonitor.config.Settings` (``token``, ``jwt_secret``, ``jwt_user_id``)."""
        return cls(settings.token, secret=settings.jwt_secret, user_id=settings.jwt_user_id)

    @property
    def kind(self) -> str | None:
        """``given``, ``minted`` or None (no token to send)."""
        if self._token:
            return "given"
        if self._secret and self._user_id is not None:
            return "minted"
        return None

    def get(self) -> str | None:
        """The token for one probe (a fresh one each call when minting)."""
        if self._token:
            return self._token
        if self._secret and self._user_id is not None:
            return mint_access_token(self._secret, self._user_id, lifetime=self.lifetime)
        return None

    def __repr__(self) -> str:
        return f"TokenSource(kind={self.kind!r})"


def _info(header: dict[str, Any], claims: dict[str, Any], now: float | None) -> TokenInfo:
    now = time.time() if now is None else now
    exp = _number(claims.get("exp"))
    user_id = claims.get("user_id")
    token_type = claims.get("token_type")
    alg = header.get("alg")
    return TokenInfo(
        token_type=str(token_type) if token_type is not None else None,
        user_id=str(user_id) if user_id is not None else None,
        exp=exp,
        iat=_number(claims.get("iat")),
        has_jti=bool(claims.get("jti")),
        algorithm=str(alg) if alg is not None else None,
        expires_in=None if exp is None else exp - now,
        claims=tuple(sorted(str(k) for k in claims)),
    )


def _replace_verified(info: TokenInfo) -> TokenInfo:
    return TokenInfo(info.token_type, info.user_id, info.exp, info.iat, info.has_jti,
                     info.algorithm, info.expires_in, info.claims, signature_verified=True)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _describe_pyjwt(exc: jwt.PyJWTError, token: str) -> str:
    # PyJWT's messages name the problem ("Invalid header padding") without echoing the token;
    # still, strip every part of it, and keep one short line.
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for part in sorted({token, token.strip(), *token.strip().split(".")}, key=len, reverse=True):
        if len(part) >= 4:
            text = text.replace(part, "***")
    return text[:80]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"
