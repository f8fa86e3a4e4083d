"""No token and no signing key in any sample, even when the server echoes them back."""

from __future__ import annotations

import json

from wsmonitor.probes.handshake import probe_handshake
from wsmonitor.probes.http import HttpProbe
from wsmonitor.tokens import TokenSource, mint_access_token

KEY = "the-service-signing-key-" + "s" * 30


async def test_echoed_token_is_masked_in_handshake_sample(misbehaving) -> None:
    token = mint_access_token(KEY, 1)  # minted: never registered, masked by value and shape
    s = await probe_handshake(misbehaving.url("/echo"), origin="http://127.0.0.1", token=token)
    assert s.classification == "not-upgraded" and s.status == 400
    text = json.dumps(s.to_dict())
    assert token not in text and "eyJ" not in text and KEY not in text
    assert "token=***" in s.status_line and "token=***" in s.url
    # The cookie's name is kept (an ALB's AWSALB tells the front), never its value (issue 13).
    assert dict(s.headers)["Set-Cookie"] == "session=***"
    assert "token=***" in dict(s.headers)["X-Original-URI"]


async def test_echoed_bearer_is_masked_in_http_sample(misbehaving) -> None:
    tokens = TokenSource(secret=KEY, user_id="1")
    probe = HttpProbe("polling", misbehaving.http(""), path="/echo?token=abc123secret",
                      tokens=tokens)
    try:
        s = await probe.run()
    finally:
        await probe.close()
    assert s.status == 400 and s.error_kind == "status" and s.auth_sent
    text = json.dumps(s.to_dict())
    assert "eyJ" not in text and KEY not in text and "abc123secret" not in text
    assert "authorization: Bearer ***" in s.body_excerpt


async def test_url_with_password_and_token_is_masked(refused_port: int) -> None:
    token = mint_access_token(KEY, 1)
    s = await probe_handshake(f"ws://user:hunter2pw@127.0.0.1:{refused_port}/ws/?a=1",
                              token=token)
    assert s.classification == "refused"
    text = json.dumps(s.to_dict())
    assert "hunter2pw" not in text and token not in text
    assert s.url == f"ws://user:***@127.0.0.1:{refused_port}/ws/?a=1&token=***"
