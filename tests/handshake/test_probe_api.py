"""The probe objects the engine schedules: names, intervals, timeouts, input checks."""

from __future__ import annotations

import pytest

from wsmonitor.config import load_settings
from wsmonitor.probes.handshake import (MEANING, CLASSIFICATIONS, HandshakeProbe,
                                        HandshakeSample, PhaseTimings, handshake_probes,
                                        probe_handshake, url_with_token)
from wsmonitor.probes.http import HttpProbe, http_probes
from wsmonitor.samples import sample_from_dict


def test_variant_probes_from_settings(tmp_path) -> None:
    settings = load_settings({"url": "wss://app.example.com/ws/notifications/"}, environ={},
                             cwd=str(tmp_path))
    probes = handshake_probes(settings, hold=12)
    held = probes[-1]
    assert held.name == "hold" and held.variant == "token+origin" and held.hold == 12
    assert held.timeout > 12 + 10  # hold + open timeout fit
    assert held.interval(2.0) == 5.0  # after its hold ends
    by_variant = {p.variant: p for p in probes[:-1]}
    assert by_variant["token+origin"].origin == "https://app.example.com"
    assert by_variant["no-token"].origin == "https://app.example.com"
    assert by_variant["no-origin"].origin is None
    assert by_variant["wrong-origin"].origin.endswith(".invalid")
    # every variant on a fresh socket, token+origin too: a hold never delays its handshakes
    assert by_variant["token+origin"].hold == 1.0 and by_variant["no-token"].hold == 1.0
    assert by_variant["token+origin"].interval(2.0) == 5.0
    # the fast probe never backs off beyond its interval; the others take the engine's cap
    assert by_variant["token+origin"].backoff_intervals == 1.0
    assert by_variant["no-token"].backoff_intervals is None and held.backoff_intervals is None
    assert by_variant["wrong-origin"].interval(2.0) == 10.0
    assert by_variant["no-origin"].interval(60.0) == 60.0
    http = http_probes(settings)
    assert [p.url for p in http] == ["https://app.example.com/api/redis-health/",
                                     "https://app.example.com/api/ws-diagnostic/",
                                     "https://app.example.com/api/notifications/"]
    assert all(p.interval(2.0) >= 15.0 for p in http)


def test_no_token_variant_strips_a_token_written_into_the_url() -> None:
    url = "ws://h/ws/?token=eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.sig&x=1"
    assert HandshakeProbe(url, variant="no-token").url == "ws://h/ws/?x=1"
    assert url_with_token("ws://h/ws/?x=1", "T") == "ws://h/ws/?x=1&token=T"


def test_bad_input_is_rejected_without_echoing_secrets() -> None:
    with pytest.raises(ValueError, match="unknown handshake variant"):
        HandshakeProbe("ws://h/", variant="sideways")
    with pytest.raises(ValueError) as info:
        HandshakeProbe("http://h/?token=abcdefsecret")
    assert "abcdefsecret" not in str(info.value)
    with pytest.raises(ValueError, match="unknown HTTP endpoint"):
        HttpProbe("metrics", "https://h")


async def test_probe_handshake_bad_url_does_not_echo_token() -> None:
    with pytest.raises(ValueError) as info:
        await probe_handshake("https://h/ws/", token="zzzsecretzzz")
    assert "zzzsecretzzz" not in str(info.value)


def test_vocabulary_is_spec() -> None:
    assert set(MEANING) == set(CLASSIFICATIONS) and len(CLASSIFICATIONS) == 14


def test_sample_round_trip_rebuilds_nested_records() -> None:
    sample = HandshakeSample(probe="handshake:no-token", at=1.0, ok=False, error="x",
                             error_kind="forbidden", variant="no-token",
                             classification="forbidden", status=403,
                             headers=(("Server", "daphne"),),
                             timings_ms=PhaseTimings(dns=0.1, tcp=0.2, upgrade=3.0))
    data = sample.to_dict()
    assert data["timings_ms"] == {"dns": 0.1, "tcp": 0.2, "tls": None, "upgrade": 3.0,
                                  "first_message": None}
    again = sample_from_dict(data)
    assert again == sample and again.timings_ms.upgrade == 3.0
    assert again.meaning.startswith("403 at once")
