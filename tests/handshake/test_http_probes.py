"""HTTP probes: the runbook's diagnostic endpoints and the polling fallback on the real target,
and every transport failure against misbehaving servers."""

from __future__ import annotations

import asyncio
import json

import pytest

from wsmonitor.config import load_settings
from wsmonitor.probes.http import HttpProbe, HttpSample, http_probes
from wsmonitor.samples import sample_from_dict
from wsmonitor.tokens import TokenSource

from .processes import Target


async def run(probe: HttpProbe) -> HttpSample:
    try:
        return await probe.run()
    finally:
        await probe.close()


async def test_target_endpoints_healthy(target: Target, tmp_path) -> None:
    settings = load_settings({"url": target.url, "jwt_secret": target.secret_key,
                              "jwt_user_id": target.user_id}, environ={}, cwd=str(tmp_path))
    probes = http_probes(settings)
    assert [p.name for p in probes] == ["http:redis-health", "http:ws-diagnostic",
                                        "http:polling"]
    samples = {s.endpoint: s for s in await asyncio.gather(*(run(p) for p in probes))}
    health, diag, polling = samples["redis-health"], samples["ws-diagnostic"], samples["polling"]
    assert health.ok and health.status == 200 and health.healthy is True
    assert health.value("status") == "ok" and not health.auth_sent
    assert health.server == "daphne" and health.content_type == "application/json"
    assert diag.ok and diag.healthy is True and diag.auth_sent
    assert diag.value("redis_connected") is True and diag.value("channel_layer_available")
    assert polling.ok and polling.healthy is None and polling.value("count") == 0
    for sample in samples.values():
        text = json.dumps(sample.to_dict())
        assert target.secret_key not in text and "eyJ" not in text
        assert sample_from_dict(json.loads(text)) == sample


async def test_target_rejects_missing_and_expired_tokens(target: Target) -> None:
    no_token = await run(HttpProbe("ws-diagnostic", target.api_base))
    assert no_token.status == 401 and no_token.error_kind == "auth" and not no_token.auth_sent
    expired = target.token(lifetime=-10)
    polling = await run(HttpProbe("polling", target.api_base, tokens=TokenSource(expired)))
    assert polling.status == 401 and polling.error_kind == "auth" and polling.auth_sent
    assert expired not in json.dumps(polling.to_dict())


async def test_polling_path_is_configurable(target: Target) -> None:
    s = await run(HttpProbe("polling", target.api_base, path="/api/no-such-fallback/",
                            tokens=TokenSource(target.token())))
    assert s.status == 404 and s.error_kind == "not-found"
    assert s.url.endswith("/api/no-such-fallback/")


@pytest.mark.parametrize("path, kind", [
    ("/close", "closed"), ("/reset", "closed"), ("/garbage", "protocol"),
    ("/status/502", "server-error"), ("/status/301", "redirect"),
])
async def test_transport_and_status_failures(misbehaving, path: str, kind: str) -> None:
    s = await run(HttpProbe("redis-health", misbehaving.http(""), path=path))
    assert s.error_kind == kind and not s.ok, s.error


async def test_non_json_answer_keeps_an_excerpt(misbehaving) -> None:
    s = await run(HttpProbe("polling", misbehaving.http(""), path="/status/200"))
    assert s.ok and s.status == 200 and not s.json_ok and "200 OK" in s.body_excerpt


async def test_timeout(misbehaving) -> None:
    s = await run(HttpProbe("redis-health", misbehaving.http(""), path="/silent", timeout=0.5))
    assert s.error_kind == "timeout"


async def test_refused_and_dns(refused_port: int) -> None:
    refused = await run(HttpProbe("redis-health", f"http://127.0.0.1:{refused_port}"))
    assert refused.error_kind == "refused" and refused.status is None
    dns = await run(HttpProbe("redis-health", "http://nosuchhost.invalid"))
    assert dns.error_kind == "dns"


async def test_tls_verified_and_private_ca(misbehaving) -> None:
    base = f"https://127.0.0.1:{misbehaving.tls_port}"
    untrusted = await run(HttpProbe("polling", base, path="/status/200"))
    assert untrusted.error_kind == "tls" and untrusted.tls
    trusted = await run(HttpProbe("polling", base, path="/status/200",
                                  ca_file=str(misbehaving.ca_file)))
    assert trusted.ok and trusted.status == 200
