"""The companion's pure parts: the Origin rule against Channels' own validator, the token bucket,
the round-trip gate; and what importing it pulls in."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from urllib.parse import urlparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsmonitor.django.diagnostics import RoundTrip, RoundTripGate, TokenBucket
from wsmonitor.origins import origin_allowed

from .harness import ROOT

CASES = [
    ("https://app.example.com", ["app.example.com"]),
    ("https://app.example.com:8443", ["app.example.com"]),
    ("https://APP.example.com", ["app.example.com"]),
    ("https://api.example.com", [".example.com"]),
    ("https://example.com", [".example.com"]),
    ("https://evil-example.com", [".example.com"]),
    ("https://app.example.com", ["https://app.example.com"]),
    ("http://app.example.com", ["https://app.example.com"]),
    ("https://app.example.com:444", ["https://app.example.com"]),
    ("https://app.example.com:443", ["https://app.example.com"]),
    ("https://app.example.com:8443", ["https://app.example.com:8443"]),
    ("https://app.example.com", ["http://.example.com", "https://.example.com"]),
    ("http://127.0.0.1:8000", ["127.0.0.1", "localhost"]),
    ("http://[::1]:8000", ["[::1]"]),
    ("https://anything.invalid", ["*"]),
    ("https://app.example.com", []),
    ("null", ["app.example.com"]),
    (None, ["app.example.com"]),
    (None, ["*"]),
]


def channels_says(origin: str | None, patterns: list[str]) -> bool:
    from channels.security.websocket import OriginValidator

    validator = OriginValidator(None, patterns)
    return validator.valid_origin(urlparse(origin) if origin is not None else None)


@pytest.mark.parametrize("origin,patterns", CASES)
def test_origin_rule_matches_channels(origin: str | None, patterns: list[str]) -> None:
    assert origin_allowed(origin, patterns) == channels_says(origin, patterns)


hosts = st.sampled_from(["app.example.com", "example.com", "api.example.com", "127.0.0.1",
                         "localhost", "evil.com", "x.app.example.com"])
patterns = st.lists(st.one_of(
    hosts, hosts.map(lambda h: "." + h), hosts.map(lambda h: "https://" + h),
    st.just("*"), hosts.map(lambda h: f"http://{h}:8000")), max_size=4)


@settings(max_examples=300, deadline=None)
@given(scheme=st.sampled_from(["http", "https"]), host=hosts,
       port=st.sampled_from(["", ":80", ":443", ":8000"]), allowed=patterns)
def test_origin_rule_matches_channels_generated(scheme: str, host: str, port: str,
                                                allowed: list[str]) -> None:
    origin = f"{scheme}://{host}{port}"
    assert origin_allowed(origin, allowed) == channels_says(origin, allowed)


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(3, 0.5, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(2.0)
    now[0] = 1.0
    assert bucket.take() == pytest.approx(1.0)
    now[0] = 2.0
    assert bucket.take() == 0.0 and bucket.take() > 0
    now[0] = 1000.0  # refills to the burst, not beyond
    assert [bucket.take() == 0.0 for _ in range(4)] == [True, True, True, False]
    assert bucket.granted == 7 and bucket.refused == 4


def test_gate_caches_and_shares_one_round_trip() -> None:
    now = [0.0]
    started = []

    async def runner(seq: int) -> RoundTrip:
        started.append(seq)
        await asyncio.sleep(0.05)
        return RoundTrip(ok=True, backend="x", redis=True, at=0.0, round_trip_ms=1.0,
                         commands=10, seq=seq)

    gate = RoundTripGate(cache_seconds=5, runner=runner, clock=lambda: now[0])

    async def main() -> None:
        results = await asyncio.gather(*(gate.get() for _ in range(50)))
        assert started == [1] and sum(1 for _, shared in results if not shared) == 1
        now[0] = 4.9
        assert (await gate.get())[1] is True and started == [1]
        now[0] = 5.1
        result, cached = await gate.get()
        assert not cached and result.seq == 2 and started == [1, 2]

    asyncio.run(main())
    assert gate.round_trips == 2 and gate.commands == 20


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_importing_the_companion_pulls_in_no_textual() -> None:
    code = ("import sys\n"
            "import wsmonitor.django, wsmonitor.django.diagnostics, wsmonitor.django.consumers\n"
            "import wsmonitor.origins\n"
            "import django; from django.conf import settings; settings.configure()\n"
            "import wsmonitor.django.views, wsmonitor.django.urls, wsmonitor.django.apps\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual')\n"
            "assert not bad, bad\n")
    out = _run(code)
    assert out.returncode == 0, out.stderr


def test_health_check_class_is_import_guarded() -> None:
    code = ("import sys\n"
            "sys.modules['health_check'] = None\n"
            "sys.modules['health_check.base'] = None\n"
            "try:\n"
            "    import wsmonitor.django.health\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
            "else:\n"
            "    raise SystemExit('imported without django-health-check')\n")
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert "pip install 'wsmonitor[django-health-check]'" in out.stdout


def test_mixin_refuses_a_sync_consumer() -> None:
    code = ("import django; from django.conf import settings; settings.configure()\n"
            "from channels.generic.websocket import WebsocketConsumer\n"
            "from wsmonitor.django.consumers import LoggedConsumerMixin\n"
            "try:\n"
            "    class C(LoggedConsumerMixin, WebsocketConsumer): pass\n"
            "except TypeError as exc:\n"
            "    print(exc)\n")
    out = _run(code)
    assert out.returncode == 0 and "is for async consumers" in out.stdout, out.stderr
