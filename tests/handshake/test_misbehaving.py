"""Every classification the Django target cannot produce, against misbehaving loopback servers."""

from __future__ import annotations

import asyncio
import json

import pytest

from wsmonitor.probes.handshake import (CLASSIFICATIONS, STALL_MAX_S, HandshakeSample,
                                        classify_drop, classify_status, probe_handshake)

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.c2lnbmF0dXJlLXZhbHVl"


async def probe(url: str, **kwargs: object) -> HandshakeSample:
    kwargs.setdefault("origin", "http://127.0.0.1")
    kwargs.setdefault("token", TOKEN)
    kwargs.setdefault("open_timeout", 3.0)
    sample = await probe_handshake(url, **kwargs)  # type: ignore[arg-type]
    assert sample.classification in CLASSIFICATIONS
    assert sample.ok == (sample.classification == "ok")
    assert TOKEN not in json.dumps(sample.to_dict())
    return sample


@pytest.mark.parametrize("path", ["/close", "/reset"])
async def test_closed_before_status_line(misbehaving, path: str) -> None:
    s = await probe(misbehaving.url(path))
    assert s.classification == "no-status-line"
    assert s.status is None and s.status_line is None and s.phase == "upgrade"
    assert s.timings_ms.tcp is not None and s.timings_ms.upgrade is None
    assert "no HTTP status line" in s.error and s.error_kind == "no-status-line"


async def test_closed_on_accept(misbehaving) -> None:
    s = await probe(f"ws://127.0.0.1:{misbehaving.close_port}/ws/notifications/")
    assert s.classification == "no-status-line" and s.status is None


async def test_garbage_keeps_raw_line(misbehaving) -> None:
    s = await probe(misbehaving.url("/garbage"))
    assert s.classification == "no-status-line"
    assert s.status_line == "SSH-2.0-OpenSSH_9.2"
    assert "not HTTP" in s.error


async def test_never_answers_is_timeout(misbehaving) -> None:
    s = await probe(misbehaving.url("/silent"), open_timeout=1.0)
    assert s.classification == "timeout" and s.phase == "upgrade"
    assert s.status is None and s.timings_ms.tcp is not None


@pytest.mark.parametrize("code, classification", [
    (401, "unauthorized"), (500, "server-error"), (501, "server-error"), (503, "server-error"),
    (502, "bad-gateway"), (504, "gateway-timeout"), (200, "not-upgraded"),
    (404, "not-upgraded"), (400, "not-upgraded"), (426, "not-upgraded"),
    (301, "not-upgraded"), (403, "forbidden"),
])
async def test_status_answers(misbehaving, code: int, classification: str) -> None:
    s = await probe(misbehaving.url(f"/status/{code}"))
    assert s.classification == classification
    assert s.status == code and s.status_line.startswith(f"HTTP/1.1 {code} ")
    assert s.server == "misbehaving-proxy"
    assert ("Content-Type", "text/html") in s.headers
    assert str(code) in (s.body_excerpt or "")
    assert s.timings_ms.upgrade is not None and s.held_s is None
    assert s.error_kind == classification


async def test_101_then_drop(misbehaving) -> None:
    s = await probe(misbehaving.url("/101-drop"), hold=2.0)
    assert s.classification == "closed-after-accept"
    assert s.status == 101 and s.close_code == 1006 and s.closed_by == "drop"
    assert s.closed_at_s is not None and s.closed_at_s < 2.0


async def test_101_then_close_frame(misbehaving) -> None:
    s = await probe(misbehaving.url("/101-close/4500"), hold=2.0)
    assert s.classification == "closed-after-accept"
    assert (s.close_code, s.close_reason, s.closed_by) == (4500, "server going away", "server")
    assert 0.1 < s.closed_at_s < 2.0
    assert "4500" in s.error


async def test_101_then_protocol_violation(misbehaving) -> None:
    s = await probe(misbehaving.url("/101-bad-frame"), hold=2.0)
    assert s.classification == "closed-after-accept"
    assert (s.close_code, s.closed_by) == (1002, "client")
    assert "protocol error" in s.error


async def test_101_with_wrong_accept_is_not_upgraded(misbehaving) -> None:
    s = await probe(misbehaving.url("/101-bad-accept"), hold=1.0)
    assert s.classification == "not-upgraded" and s.status == 101
    assert "Sec-WebSocket-Accept" in s.error


async def test_late_403_and_late_drop_are_connect_stalled(misbehaving) -> None:
    # The one place a clock is the point: Daphne's handshake timeouts fire at 4-6 s.
    late_403, late_drop = await asyncio.gather(
        probe(misbehaving.url("/slow-403/4.3"), open_timeout=8.0),
        probe(misbehaving.url("/slow-drop/4.3"), open_timeout=8.0))
    assert late_403.classification == "connect-stalled" and late_403.status == 403
    assert late_403.elapsed_s >= 4.0 and "connect() hung" in late_403.error
    assert late_drop.classification == "connect-stalled" and late_drop.status is None
    assert late_drop.elapsed_s >= 4.0


def test_stall_window_rules() -> None:
    assert classify_status(403, 0.01) == "forbidden"
    assert classify_status(403, 5.2) == "connect-stalled"
    assert classify_drop(0.1) == "no-status-line"
    assert classify_drop(4.6) == "connect-stalled"
    assert classify_drop(STALL_MAX_S + 1) == "no-status-line"


async def test_refused(refused_port: int) -> None:
    s = await probe(f"ws://127.0.0.1:{refused_port}/ws/notifications/")
    assert s.classification == "refused" and s.phase == "tcp"
    assert s.timings_ms.dns is None  # an IP literal is not resolved
    assert s.timings_ms.tcp is None


async def test_unresolvable_name() -> None:
    s = await probe("ws://nosuchhost.invalid/ws/notifications/")
    assert s.classification == "dns-error" and s.phase == "dns"
    assert "nosuchhost.invalid" in s.error


async def test_tls_untrusted_ca(misbehaving) -> None:
    s = await probe(misbehaving.wss("/status/404"))
    assert s.classification == "tls-error" and s.phase == "tls"
    assert "certificate" in s.error


async def test_tls_cut_during_handshake(misbehaving) -> None:
    s = await probe(f"wss://127.0.0.1:{misbehaving.close_port}/ws/notifications/")
    assert s.classification == "tls-error" and s.phase == "tls"


async def test_tls_trusted_with_ca_file_times_each_phase(misbehaving) -> None:
    url = f"wss://localhost:{misbehaving.tls_port}/101-close/1011"
    s = await probe(url, ca_file=str(misbehaving.ca_file), hold=2.0)
    assert s.tls and s.classification == "closed-after-accept" and s.close_code == 1011
    t = s.timings_ms
    assert None not in (t.dns, t.tcp, t.tls, t.upgrade)
    assert s.url.startswith("wss://localhost:") and "token=***" in s.url
    assert s.address in (f"127.0.0.1:{misbehaving.tls_port}", f"[::1]:{misbehaving.tls_port}")
