"""The platform rules on samples as the probes make them (pure): each front SPEC names is told
from its fingerprint, an answer a front made itself is told from the app's, an idle cut is
told from a close, and the limits come with dates and sources."""

from __future__ import annotations

import pytest

from wsmonitor.rules.base import CheckResult
from wsmonitor.rules.diagnosis import diagnose
from wsmonitor.rules.platform import FRONTS, Answer, fingerprint, front_verdict, idle_cut, \
    load_fronts, made_by_front
from wsmonitor.probes.handshake import HandshakeSample
from wsmonitor.probes.http import HttpSample


def shake(status: int, reason: str = "", headers: tuple = (), body: str | None = None,
          variant: str = "token+origin", at: float = 1.0, **kw: object) -> HandshakeSample:
    cls = {101: "ok", 403: "forbidden", 500: "server-error", 502: "bad-gateway",
           503: "server-error", 504: "gateway-timeout"}.get(status, "not-upgraded")
    return HandshakeSample(probe=f"handshake:{variant}", at=at, ok=status == 101,
                           variant=variant, classification=kw.pop("classification", cls),
                           status=status, reason=reason, headers=headers, body_excerpt=body,
                           status_line=f"HTTP/1.1 {status} {reason}", **kw)  # type: ignore[arg-type]


def get(status: int, headers: tuple = (), body: str | None = None) -> HttpSample:
    return HttpSample(probe="http:redis-health", at=2.0, ok=status == 200,
                      endpoint="redis-health", status=status, reason="OK", headers=headers,
                      body_excerpt=body)


@pytest.mark.parametrize(("headers", "front"), [
    ((("Server", "awselb/2.0"),), "alb"),
    ((("Set-Cookie", "AWSALB=***"), ("Server", "daphne")), "alb"),
    ((("Via", "1.1 abc.cloudfront.net (CloudFront)"), ("X-Amz-Cf-Id", "x")), "cloudfront"),
    ((("x-amzn-RequestId", "r"), ("x-amz-apigw-id", "a")), "api-gateway"),
    ((("apigw-requestid", "a"),), "api-gateway"),
    ((("Server", "cloudflare"), ("CF-RAY", "8abc-AMS")), "cloudflare"),
    ((("Server", "nginx/1.22.1"),), "nginx"),
    ((("Server", "Caddy"),), "caddy"),
    ((("server", "envoy"), ("x-envoy-upstream-service-time", "3")), "envoy"),
    ((("Server", "daphne"),), "none"),
    ((), "unknown"),
])
def test_each_front_from_its_headers_on_a_101(headers: tuple, front: str) -> None:
    pf = fingerprint([shake(101, "Switching Protocols", headers)])
    assert pf.front == front, pf
    assert pf.front in FRONTS
    if front not in ("unknown",):
        assert pf.evidence, pf


def test_the_outermost_front_wins() -> None:
    pf = fingerprint([shake(101, "Switching Protocols",
                            (("Via", "1.1 x.cloudfront.net (CloudFront)"),
                             ("Set-Cookie", "AWSALBCORS=***")))])
    assert pf.front == "cloudfront"
    assert any("AWSALB" in e for e in pf.evidence), pf


def test_app_runner_by_host_whatever_the_status() -> None:
    pf = fingerprint([shake(403, "Access denied")], host="abc123.eu-west-1.awsapprunner.com")
    assert pf.front == "app-runner" and "awsapprunner.com" in pf.evidence[0]
    d = front_verdict(pf, shake(403, "Access denied"), upgraded=False)
    assert d is not None and d.layer == "platform"
    assert "ECS Express Mode" in d.remedy and "2026-04-30" in d.remedy


def test_app_runner_by_behaviour_envoy_refusing_upgrades_while_http_passes() -> None:
    refused = shake(403, "Forbidden", (("content-length", "0"), ("server", "envoy"),
                                       ("connection", "close")))
    http = get(200, (("server", "envoy"), ("x-envoy-upstream-service-time", "4")))
    pf = fingerprint([refused, http])
    assert pf.front == "app-runner" and pf.upgrades_refused, pf
    # the same 403 through an Envoy that passed it to the app is the app's answer
    passed = shake(403, "Forbidden", (("server", "envoy"),
                                      ("x-envoy-upstream-service-time", "2")))
    assert made_by_front(Answer.of(passed)) is None  # type: ignore[arg-type]


def test_app_runner_stripping_the_upgrade_is_app_runner() -> None:
    stripped = shake(404, "Not Found", (("server", "envoy"),
                                        ("x-envoy-upstream-service-time", "5")), "not found")
    assert fingerprint([stripped]).front == "app-runner"


@pytest.mark.parametrize(("status", "headers", "body", "by"), [
    (502, (("Server", "awselb/2.0"),), "<html>502 Bad Gateway</html>", "alb"),
    (503, (("Server", "awselb/2.0"),), "", "alb"),
    (503, (("content-type", "text/html"),),
     "<html><body><h1>503 Service Unavailable</h1> No server is available to handle this "
     "request. </body></html>", "haproxy"),
    (502, (("Server", "Caddy"), ("Content-Length", "0")), None, "caddy"),
    (502, (("Server", "nginx/1.22.1"),),
     "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
     "</center><hr><center>nginx/1.22.1</center></body></html>", "nginx"),
    (504, (("Server", "nginx"),), "", "nginx"),
    (503, (("server", "envoy"),),
     "upstream connect error or disconnect/reset before headers. reset reason: connection "
     "failure", "envoy"),
])
def test_errors_a_proxy_made_itself_read_as_proxy(status: int, headers: tuple,
                                                  body: str | None, by: str) -> None:
    s = shake(status, "x", headers, body)
    pf = fingerprint([s])
    assert pf.front_error_by == by, pf
    results = [CheckResult("redis-reachable", "fail", "unreachable from here: refused",
                           at=1.0)]
    d = diagnose(results, {"token+origin": s}, platform=pf)
    assert d.layer == "proxy", d  # never redis, though Redis fails too


def test_the_apps_own_500_through_nginx_is_not_the_proxys() -> None:
    s = shake(500, "Internal Server Error", (("Server", "nginx/1.22.1"),), "Server Error")
    assert fingerprint([s]).front_error is None


def test_idle_cut_needs_a_quiet_spell_and_a_drop() -> None:
    base = dict(classification="closed-after-accept", close_code=1006, closed_by="drop",
                last_rx_s=1.0, last_tx_s=0.9)
    assert idle_cut(shake(101, "Switching Protocols", closed_at_s=5.0, **base)) == 4.0
    # a drop right after traffic is no idle timeout
    assert idle_cut(shake(101, "Switching Protocols", closed_at_s=1.5, **base)) is None
    # a close frame is the server's, not the path's
    closed = dict(base, closed_by="server", close_code=1011)
    assert idle_cut(shake(101, "Switching Protocols", closed_at_s=5.0, **closed)) is None


def test_every_front_has_its_limits_with_a_date_and_a_source() -> None:
    fronts = load_fronts()
    assert set(fronts) == set(FRONTS) - {"none", "unknown"}
    for name, f in fronts.items():
        assert f.websocket in ("yes", "no", "config"), name
        assert f.websocket_source.as_of and f.websocket_source.source, name
        for fig in (f.idle_timeout_s, f.max_connection_s, f.max_request_s):
            if fig.value is not None:
                assert fig.as_of and fig.source, name
    assert fronts["app-runner"].websocket == "no"
    assert fronts["alb"].idle_timeout_s.value == 60
    assert fronts["api-gateway"].idle_timeout_s.value == 600
    assert fronts["api-gateway"].max_connection_s.value == 7200


def test_the_websocket_pane_line_names_front_and_app() -> None:
    from wsmonitor.ui.handshake_pane import HandshakePaneState, front_line

    def state(history: dict) -> HandshakePaneState:
        return HandshakePaneState(history=history, endpoint="wss://app.example.com/ws/",
                                  interval=5.0, stale_after=60.0, paused=False, now=3.0)

    nginx = shake(101, "Switching Protocols", (("Server", "nginx/1.22.1"),))
    uvicorn = get(200, (("server", "uvicorn"),))
    line = front_line(state({"handshake:token+origin": [nginx], "http:redis-health": [uvicorn]}))
    assert "front: nginx · app: uvicorn" in line
    assert front_line(state({})) == ""  # nothing known yet: no line


@pytest.mark.parametrize(("headers", "layer", "fix"), [
    ((("Via", "1.1 x.cloudfront.net (CloudFront)"), ("X-Amz-Cf-Id", "i")), "proxy",
     "Sec-WebSocket-Key"),
    ((("x-amzn-RequestId", "r"), ("x-amz-apigw-id", "a")), "platform", "WebSocket API"),
    ((("Server", "nginx/1.22.1"),), "proxy", "proxy_set_header Upgrade"),
])
def test_a_known_front_answering_plain_http_names_its_own_fix(headers: tuple, layer: str,
                                                              fix: str) -> None:
    variants = {v: shake(404, "Not Found", headers, "not found", variant=v)
                for v in ("token+origin", "no-token", "no-origin", "wrong-origin")}
    pf = fingerprint(list(variants.values()))
    d = diagnose([], variants, platform=pf)
    assert d.layer == layer, d
    assert fix in d.remedy, d
