"""Real fronts before the real target: each yields its front in ``probes.platform`` and the
right layer — App Runner's Envoy (mimicked on loopback from FACTS.md) is ``platform`` whatever
the status, an error a proxy made itself is ``proxy``, never ``redis`` or ``consumer``, and a
path that kills quiet sockets is ``proxy`` with the timeout found."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import App, envoy, free_port, front, judged


async def test_nginx_passing_upgrades_is_a_healthy_nginx_front(app: App, fronts: list,
                                                               tmp_path: Path) -> None:
    f = front(fronts, "nginx", tmp_path, app.port)
    d, r, pf = await judged(**app.flags(f.base, redis_url=app.redis.url + "?socket_timeout=30"))
    assert pf.front == "nginx", pf
    assert any("server: nginx" in e for e in pf.evidence), pf
    assert r["platform-websocket"].status == "pass", r["platform-websocket"]
    assert d.layer == "none", d


async def test_nginx_without_upgrade_headers_is_proxy(app: App, fronts: list,
                                                      tmp_path: Path) -> None:
    f = front(fronts, "nginx", tmp_path, app.port, upgrade_headers=False)
    d, r, pf = await judged(**app.flags(f.base))
    assert pf.front == "nginx", pf
    assert r["handshake-101"].status == "fail"
    assert "not-upgraded" in r["handshake-101"].summary
    assert r["platform-websocket"].status == "fail"
    assert d.layer == "proxy", d
    assert "Upgrade" in d.remedy


async def test_nginx_short_read_timeout_is_proxy_with_the_timeout_found(
        app: App, fronts: list, tmp_path: Path) -> None:
    # The held socket pings at once and every 10 s, the app answers at once: the socket then
    # lies quiet until nginx's 4 s proxy_read_timeout cuts it.
    f = front(fronts, "nginx", tmp_path, app.port, read_timeout=4)
    d, r, pf = await judged(**app.flags(f.base), hold=9.0)
    assert pf.front == "nginx"
    stays = r["stays-open"]
    assert stays.status == "fail" and "without traffic" in stays.summary, stays
    assert "proxy_read_timeout" in stays.remedy
    assert d.layer == "proxy", d
    # nginx's clock starts at its last read, ours when the probe read the same bytes: a loaded
    # host shortens what is measured a little, never lengthens it.
    assert re.search(r"cut after [34] s without traffic", d.summary), d
    assert "nginx" in d.summary and "ping" in d.remedy


async def test_haproxy_with_its_backend_down_is_proxy(fronts: list, tmp_path: Path) -> None:
    f = front(fronts, "haproxy", tmp_path, free_port())
    d, r, pf = await judged(url=f.url, jwt_secret="x" * 40, jwt_user_id="1",
                            redis_url="redis://127.0.0.1:1/0")
    assert pf.front == "haproxy", pf
    assert pf.front_error_by == "haproxy" and "no server is available" in pf.front_error.lower(), pf
    assert r["handshake-101"].status == "fail"
    assert d.layer == "proxy", d  # never redis, though Redis is unreachable too
    assert "Redis is failing too" in d.summary
    assert "health check" in d.remedy


async def test_haproxy_tunnel_timeout_is_proxy_with_the_timeout_found(
        app: App, fronts: list, tmp_path: Path) -> None:
    f = front(fronts, "haproxy", tmp_path, app.port, tunnel_timeout=3)
    d, r, pf = await judged(**app.flags(f.base), hold=9.0)
    assert r["stays-open"].status == "fail", r["stays-open"]
    assert d.layer == "proxy", d
    assert re.search(r"cut after [23] s without traffic", d.summary), d
    # HAProxy shows no header of its own: the path hides it, so the verdict is likely.
    assert pf.front == "none" and d.confidence == "likely", (pf, d)
    assert "timeout tunnel" in d.remedy


async def test_caddy_with_its_upstream_refusing_is_proxy(fronts: list, tmp_path: Path) -> None:
    f = front(fronts, "caddy", tmp_path, free_port())
    d, r, pf = await judged(url=f.url, jwt_secret="x" * 40, jwt_user_id="1")
    assert pf.front == "caddy", pf
    assert pf.front_error_by == "caddy", pf
    assert r["handshake-101"].status == "fail" and "bad-gateway" in r["handshake-101"].summary
    assert d.layer == "proxy", d
    assert "reverse_proxy" in d.remedy


async def test_caddy_passing_upgrades_shows_caddy_and_the_app(app: App, fronts: list,
                                                              tmp_path: Path) -> None:
    f = front(fronts, "caddy", tmp_path, app.port)
    d, r, pf = await judged(**app.flags(f.base))
    assert pf.front == "caddy", pf
    assert d.layer == "none", d


async def test_app_runners_envoy_is_platform_and_platform_websocket_fails(
        app: App, fronts: list) -> None:
    e = envoy(fronts, app.port)
    d, r, pf = await judged(**app.flags(e.base))
    assert pf.front == "app-runner", pf
    assert pf.upgrades_refused
    assert r["handshake-101"].status == "fail" and "forbidden" in r["handshake-101"].summary
    assert r["platform-websocket"].status == "fail", r["platform-websocket"]
    assert d.layer == "platform", d  # never origin or auth, though every upgrade gets a 403
    assert "ECS Express Mode" in d.remedy and "API Gateway WebSocket API" in d.remedy
    assert "2026-04-30" in d.remedy


async def test_app_runners_envoy_with_the_app_down_is_still_platform(fronts: list) -> None:
    e = envoy(fronts, free_port())
    d, r, pf = await judged(url=e.url, jwt_secret="x" * 40, jwt_user_id="1")
    assert pf.front == "app-runner", pf
    assert any("upstream connect error" in line or "x-envoy" in line or "envoy" in line
               for line in pf.evidence), pf
    assert r["polling-fallback"].status == "fail"
    assert d.layer == "platform", d


async def test_envoy_upgrades_alone_are_likely_platform(app: App, fronts: list) -> None:
    # Only the handshake is probed: Envoy refusing every upgrade is App Runner's shape, but
    # unproven without plain HTTP through it.
    e = envoy(fronts, app.port)
    d, r, pf = await judged(**app.flags(e.base), only="handshake")
    assert pf.front == "envoy", pf
    assert r["platform-websocket"].status == "fail"
    assert d.layer == "platform" and d.confidence == "likely", d
    assert "--api-base" in d.summary


async def test_a_quiet_hold_measures_how_long_a_quiet_socket_lives(app: App, fronts: list,
                                                                   tmp_path: Path) -> None:
    from wsmonitor.rules.platform import fingerprint, idle_cut, quiet_hold_options
    from wsmonitor.probes.handshake import probe_handshake
    from wsmonitor.tokens import mint_access_token

    f = front(fronts, "nginx", tmp_path, app.port, read_timeout=3)
    s = await probe_handshake(f.url, origin=f.base, token=mint_access_token(
        app.secret_key, app.user_id), **quiet_hold_options(8.0))
    assert s.classification == "closed-after-accept" and s.close_code == 1006, s
    assert s.pings_sent == 1 and not s.app_ping_sent
    quiet = idle_cut(s)
    assert quiet is not None and 2.5 <= quiet <= 4.5, (quiet, s)
    pf = fingerprint([s])
    assert pf.front == "nginx" and pf.idle_timeout_s == quiet
