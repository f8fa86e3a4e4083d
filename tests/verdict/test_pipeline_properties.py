"""The verdict pipeline over random sample sequences (Hypothesis): at every step the banner's
verdict agrees with the checks — green only when no check fails, and the shown layer is the
rules' layer on the evidence now (confirmed, or as an unconfirmed candidate), never an older
one. Plus the confirmation itself: a new layer is confirmed within two samples of the fast
probes, and one odd sample never passes for a confirmed layer.

The samples go through a real `Engine` (probes built from settings, never run: the test
publishes what they would) into a real `VerdictPipeline`, judged by the real rules.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsmonitor.rules.base import FAIL
from wsmonitor.config import load_settings
from wsmonitor.probes.handshake import CLASSIFICATIONS, HOLD_PROBE, VARIANTS, HandshakeSample
from wsmonitor.probes.http import HttpSample
from wsmonitor.runtime import build_engine
from wsmonitor.samples import RedisSample
from wsmonitor.verdict import Verdict, VerdictPipeline

URL = "ws://127.0.0.1:9/ws/notifications/"
REDIS = "redis://127.0.0.1:9/0"
T0 = 1_800_000_000.0

STATUS = {"ok": 101, "forbidden": 403, "connect-stalled": 403, "unauthorized": 401,
          "server-error": 500, "bad-gateway": 502, "gateway-timeout": 504, "not-upgraded": 200,
          "closed-after-accept": 101}

REDIS_KINDS = (None, None, None, "refused", "timeout", "max-clients", "plan-quota",
               "auth-wrong-password")


def handshake(probe: str, variant: str, classification: str, close_code: int | None,
              interim: bool, at: float) -> HandshakeSample:
    ok = classification == "ok"
    upgraded = classification in ("ok", "closed-after-accept")
    return HandshakeSample(
        probe=probe, at=at, ok=ok, error=None if ok else classification,
        error_kind=None if ok else classification, variant=variant,
        classification=classification, status=STATUS.get(classification),
        elapsed_s=4.8 if classification == "connect-stalled" else 0.01,
        close_code=close_code if classification == "closed-after-accept" else None,
        closed_by="server" if classification == "closed-after-accept" else None,
        closed_at_s=0.4 if classification == "closed-after-accept" else None,
        hold_s=30.0 if probe == HOLD_PROBE else 1.0,
        held_s=(0.5 if interim else 30.0) if upgraded else None,
        ack_received=upgraded, pings_sent=1 if upgraded and not interim else 0,
        pongs_received=1 if upgraded and not interim else 0,
        interim=interim and classification == "ok", phase="done" if upgraded else "upgrade")


@st.composite
def sample(draw: st.DrawFn, at: float):  # noqa: ANN201
    kind = draw(st.sampled_from(("fresh", "fresh", "fresh", "variant", "hold", "redis",
                                 "http")))
    if kind in ("fresh", "variant", "hold"):
        variant = "token+origin" if kind != "variant" else draw(st.sampled_from(VARIANTS[1:]))
        probe = HOLD_PROBE if kind == "hold" else f"handshake:{variant}"
        classification = draw(st.sampled_from(CLASSIFICATIONS))
        code = draw(st.sampled_from((1006, 1011, 4401, 4500, 1001)))
        return handshake(probe, variant, classification, code, kind == "hold"
                         and draw(st.booleans()), at)
    if kind == "redis":
        err = draw(st.sampled_from(REDIS_KINDS))
        return RedisSample(probe="redis", at=at, ok=err is None, error=err, error_kind=err,
                           info_ok=err is None, connected_clients=3, maxclients=100,
                           rejected_connections=0, total_commands_processed=1000)
    endpoint = draw(st.sampled_from(("redis-health", "ws-diagnostic", "polling")))
    status = draw(st.sampled_from((200, 200, 500, 502, 404)))
    healthy = None if endpoint == "polling" else (status == 200)
    return HttpSample(probe=f"http:{endpoint}", at=at, ok=status == 200,
                      error=None if status == 200 else str(status),
                      error_kind=None if status == 200 else "server-error",
                      endpoint=endpoint, status=status, healthy=healthy)


@st.composite
def sequences(draw: st.DrawFn) -> list[list]:  # noqa: ANN201
    """Bursts of samples, each burst judged once (as the pipeline coalesces them)."""
    bursts, at = [], T0
    for _ in range(draw(st.integers(1, 25))):
        burst = []
        for _ in range(draw(st.integers(1, 4))):
            at += draw(st.floats(0.05, 6.0))
            burst.append(draw(sample(at)))
        bursts.append(burst)
    return bursts


def pipeline_over_a_clock(**more: object) -> tuple[VerdictPipeline, list[float]]:
    flags = {"url": URL, "redis_url": REDIS, "jwt_secret": "k" * 40, "jwt_user_id": "1",
             "hold": 30.0, **more}
    s = load_settings(flags, environ={})
    engine = build_engine(s)
    clock = [T0]
    engine.now = lambda: clock[0]  # type: ignore[method-assign]
    pipeline = VerdictPipeline(engine, s)
    pipeline.attach()
    return pipeline, clock


def assert_agrees(v: Verdict) -> None:
    failing = [c.id for c in v.checks if c.status == FAIL]
    # green only when every check that ran passed
    if v.shown.layer == "none":
        assert not failing, (v.shown, failing)
    assert v.diagnosis.layer != "none" or not failing, (v.diagnosis, failing)
    # the banner's layer is the rules' layer now, confirmed or as a candidate
    assert v.shown.layer == v.diagnosis.layer, (v.shown.layer, v.diagnosis.layer)
    if v.confirmed:
        assert v.previous is None
    else:
        assert v.previous is not None and v.previous.layer != v.shown.layer
    assert v.since is not None and v.since <= v.at


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sequences())
def test_the_banner_never_contradicts_the_checks(bursts: list[list]) -> None:
    pipeline, clock = pipeline_over_a_clock()
    seen: list[Verdict] = []
    pipeline.subscribe(seen.append)
    for burst in bursts:
        for s in burst:
            pipeline.engine.publish(s)
        clock[0] = burst[-1].at + 0.01
        v = pipeline.flush()
        assert v is seen[-1] and v.seq == len(seen)
        assert_agrees(v)
    # time alone (staleness, patience) moves the verdict too
    clock[0] += 120.0
    assert_agrees(pipeline.judge_now())


def http_ok(endpoint: str, at: float) -> HttpSample:
    return HttpSample(probe=f"http:{endpoint}", at=at, ok=True, endpoint=endpoint, status=200,
                      healthy=None if endpoint == "polling" else True)


def test_a_new_layer_is_confirmed_on_the_second_fast_sample() -> None:
    # kiosk: no writing probes, so a healthy history is judged "none"
    pipeline, clock = pipeline_over_a_clock(kiosk=True)
    engine = pipeline.engine
    at = T0

    def step(*samples) -> Verdict:  # noqa: ANN002
        nonlocal at
        for s in samples:
            engine.publish(s)
        clock[0] = max(s.at for s in samples) + 0.01
        return pipeline.flush()

    def ok_redis(t: float) -> RedisSample:
        return RedisSample(probe="redis", at=t, ok=True, info_ok=True, connected_clients=3,
                           maxclients=100, rejected_connections=0,
                           total_commands_processed=int(t - T0) * 10,
                           commands_per_second=2.0, own_commands_per_second=0.1)

    for i in range(3):
        at += 5
        v = step(*(handshake(f"handshake:{var}", var, "ok" if var == "token+origin"
                             else "forbidden", None, False, at) for var in VARIANTS),
                 handshake(HOLD_PROBE, "token+origin", "ok", None, False, at),
                 ok_redis(at), *(http_ok(e, at) for e in ("redis-health", "ws-diagnostic",
                                                           "polling")))
    first = v.shown.layer
    assert first == "none" and v.confirmed, v.shown
    # the proxy answers 502 to every fresh handshake: shown at once, as a candidate
    at += 5
    v = step(*(handshake(f"handshake:{var}", var, "bad-gateway", None, False, at)
               for var in VARIANTS))
    assert v.shown.layer == "proxy" and not v.confirmed and v.previous.layer == first
    assert v.since == clock[0]
    # other probes' samples in between renew nothing: still a candidate
    at += 1
    v = step(ok_redis(at))
    assert v.shown.layer == "proxy" and not v.confirmed
    # the second 502 of the fast probe confirms it, with the time it was first reached
    since = v.since
    at += 4
    v = step(*(handshake(f"handshake:{var}", var, "bad-gateway", None, False, at)
               for var in VARIANTS))
    assert v.shown.layer == "proxy" and v.confirmed and v.since == since
    # one odd sample is shown for what it is, and the next 502 restores the confirmed proxy
    at += 5
    v = step(handshake("handshake:token+origin", "token+origin", "connect-stalled", None,
                       False, at))
    assert v.shown.layer != "proxy" and not v.confirmed and v.previous.layer == "proxy"
    at += 5
    v = step(handshake("handshake:token+origin", "token+origin", "bad-gateway", None, False,
                       at))
    assert v.shown.layer == "proxy" and v.confirmed and v.since == since


def test_bursts_are_judged_once() -> None:
    pipeline, clock = pipeline_over_a_clock()
    pipeline.coalesce = 0.2
    seen: list[Verdict] = []
    pipeline.subscribe(seen.append)
    pipeline.start()
    try:
        deadline = T0 + 1
        import time

        end = time.monotonic() + 30
        while not seen and time.monotonic() < end:
            time.sleep(0.02)
        assert seen, "no first verdict"
        before, judged = len(seen), pipeline.judgements
        for i in range(20):  # one burst: twenty samples within a few milliseconds
            pipeline.engine.publish(RedisSample(probe="redis", at=deadline + i * 0.001,
                                                ok=True, info_ok=True))
        clock[0] = deadline + 1
        end = time.monotonic() + 30
        while len(seen) == before and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.5)
        assert len(seen) - before <= 2 and pipeline.judgements - judged <= 2
        assert len(seen[-1].history["redis"]) == 20
    finally:
        pipeline.stop()
