"""Command-line entry points. Heavy modules are imported inside the commands so ``--help`` is fast.

Every bad input ends in one line on stderr, ``wsmonitor: error: …``, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from wsmonitor import __version__

COMMANDS = ("dashboard", "check", "demo", "replay", "token", "serve")
SECTIONS = ("redis", "handshake", "logs", "http")
"""What ``check --only`` accepts."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("target")
    g.add_argument("--config", metavar="PATH",
                   help="settings file (default ./wsmonitor.toml when present)")
    g.add_argument("--url", help="WebSocket endpoint, e.g. wss://app.example.com/ws/notifications/"
                   " [WSMONITOR_URL]")
    g.add_argument("--origin", help="Origin header sent on probes (default https://<host of "
                   "--url>) [WSMONITOR_ORIGIN]")
    g.add_argument("--token", help="access JWT to probe with [WSMONITOR_TOKEN]")
    g.add_argument("--jwt-secret", help="signing key: mint a token per probe "
                   "[WSMONITOR_JWT_SECRET]")
    g.add_argument("--jwt-user-id", help="user_id claim of minted tokens [WSMONITOR_JWT_USER_ID]")
    g.add_argument("--api-base", help="base URL of the HTTP checks (default https://<host of "
                   "--url>) [WSMONITOR_API_BASE]")
    g.add_argument("--ca-file", metavar="PEM", help="CA bundle for wss:// and the HTTPS checks "
                   "(a private CA)")
    g.add_argument("--polling-path", metavar="PATH", help="path of the HTTP polling fallback "
                   "(default /api/notifications/)")
    g.add_argument("--hold", type=float, metavar="SECONDS",
                   help="how long the stays-open probe keeps a socket (default 30)")
    g.add_argument("--group-template", help="channel-layer group of a user "
                   "(default notifications.user.{user_id})")
    r = parser.add_argument_group("redis")
    r.add_argument("--redis-url", help="Redis the channel layer uses [REDIS_URL, "
                   "WSMONITOR_REDIS_URL]")
    r.add_argument("--redis-ca", metavar="PEM", help="CA bundle for rediss:// "
                   "[WSMONITOR_REDIS_CA]")
    _plan_options(r, "plan limits: upstash-free, upstash-free-2024, upstash-payg, none "
                  "(default: upstash-free for *.upstash.io, else none)")
    lg = parser.add_argument_group("logs")
    lg.add_argument("--log-group", action="append", metavar="NAME",
                    help="CloudWatch log group to tail (repeatable) [WSMONITOR_LOG_GROUP]")
    lg.add_argument("--log-file", metavar="PATH", help="tail a local file instead")
    lg.add_argument("--log-command", metavar="CMD", help="tail a command's output instead")
    lg.add_argument("--apprunner-service", metavar="NAME",
                    help="derive App Runner log groups [WSMONITOR_APPRUNNER_SERVICE]")
    lg.add_argument("--aws-endpoint-url", metavar="URL",
                    help="another CloudWatch endpoint (moto, LocalStack) [AWS_ENDPOINT_URL]")
    d = parser.add_argument_group("display")
    d.add_argument("--theme", help="theme name or file [WSMONITOR_THEME]")
    d.add_argument("--interval", type=float, metavar="SECONDS",
                   help="base probe interval (default 2)")
    d.add_argument("--kiosk", action="store_true", default=None,
                   help="read-only: no writing probes, no actions but quit")
    d.add_argument("--record", metavar="FILE.jsonl", help="append every sample to a JSONL file")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wsmonitor",
        description="Which layer broke the WebSocket notifications — platform, proxy, origin, "
                    "auth, consumer, channel layer, Redis or plan limit — with evidence.",
        epilog="Commands: dashboard (default), check, demo, replay, token, serve. "
               "`wsmonitor COMMAND --help` for each. Exit status: 0 nothing failed, 1 a check "
               "failed, 2 bad input. "
               "Precedence: flag > environment > wsmonitor.toml > default.",
    )
    parser.add_argument("--version", action="version", version=f"wsmonitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    dash = sub.add_parser("dashboard", help="the live dashboard (the default command)",
                          description="The live dashboard.")
    _common(dash)
    check = sub.add_parser(
        "check", help="run every check once, print a report, exit 0/1/2",
        description="Run every configured probe once and print a report. Exit 0 when no check "
                    "failed, 1 when one did, 2 on bad input.")
    _common(check)
    out = check.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine report on stdout")
    out.add_argument("--markdown", action="store_true", help="incident report in markdown")
    check.add_argument("--only", metavar="SECTIONS",
                       help=f"comma-separated subset of {','.join(SECTIONS)}")
    check.add_argument("--samples", type=int, default=3, metavar="N",
                       help="Redis runs to take (two or more give a command rate; default 3)")
    _demo_parser(sub)
    replay = sub.add_parser(
        "replay", help="play a --record FILE.jsonl through the dashboard",
        description="Play a recording made with --record through the same dashboard and checks: "
                    "for review after the incident, or to walk a team through it. p pauses, r "
                    "jumps to the next sample, +/- change the speed.")
    replay.add_argument("file", metavar="FILE.jsonl")
    replay.add_argument("--speed", type=float, default=1.0, metavar="N",
                        help="replay speed (default 1; gaps over 60 s are shortened)")
    replay.add_argument("--theme", help="theme name or file")
    replay.add_argument("--kiosk", action="store_true", default=None, help="read-only")
    token = sub.add_parser(
        "token", help="mint a test access token the way simplejwt does",
        description="Print a fresh HS256 access token (token_type, exp, iat, jti, user_id) "
                    "signed with --jwt-secret, for scripts and curl. With --inspect, describe "
                    "--token instead (type, user, expiry; never the token itself).")
    token.add_argument("--jwt-secret", help="signing key (the service's SECRET_KEY) "
                       "[WSMONITOR_JWT_SECRET]")
    token.add_argument("--jwt-user-id", help="user_id claim [WSMONITOR_JWT_USER_ID]")
    token.add_argument("--lifetime", type=float, default=300.0, metavar="SECONDS",
                       help="seconds until exp (default 300, simplejwt's default)")
    token.add_argument("--inspect", action="store_true",
                       help="describe --token (or WSMONITOR_TOKEN) instead of minting")
    token.add_argument("--token", help="the token to inspect [WSMONITOR_TOKEN]")
    token.add_argument("--config", metavar="PATH", help="settings file")
    serve = sub.add_parser(
        "serve", help="serve the dashboard to a browser (textual-serve)",
        description="Serve the dashboard to a browser through textual-serve: one dashboard, "
                    "with its own probes, per browser tab. textual-serve has no "
                    "authentication: keep the default loopback address, or put an "
                    "authenticating proxy in front. Ctrl+C stops it.")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; anything else warns)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--public-url", metavar="URL",
                       help="the address browsers use, behind a proxy (default: the address "
                            "the browser asked for)")
    return parser


def _plan_options(group: Any, plan_help: str) -> None:
    """--redis-plan and the limits that override it (the common list's and demo's)."""
    group.add_argument("--redis-plan", metavar="PLAN", help=f"{plan_help} [WSMONITOR_REDIS_PLAN]")
    group.add_argument("--max-connections", type=_positive_int, metavar="N",
                       help="override the plan's connection cap")
    group.add_argument("--max-commands", metavar="N[/day|/month]",
                       help="override the plan's command quota (N means N/day)")
    group.add_argument("--redis-budget", type=float, metavar="PERCENT",
                       help="share of the plan's command quota wsmonitor may spend (default 5)")


def _demo_parser(sub: Any) -> None:
    from wsmonitor.demo.faults import FAULTS

    demo = sub.add_parser(
        "demo", help="start the built-in demo target (with fault switches) and open the "
                     "dashboard on it",
        description="Start a local target that behaves like the runbook's stack — a WebSocket "
                    "notification endpoint (Origin and JWT checks, connection.ack, ping/pong, "
                    "a notification every few seconds), /api/redis-health/, /api/ws-diagnostic/ "
                    "and the polling endpoint, a Redis (redis-server when installed, else an "
                    "embedded one) and a Daphne-like log — and open the dashboard on it. In the "
                    "dashboard, f opens the fault switches.",
        epilog="Faults: " + "; ".join(f"{f.name} ({f.title})" for f in FAULTS) + ".")
    demo.add_argument("--fault", action="append", metavar="NAME",
                      choices=[f.name for f in FAULTS],
                      help="switch a fault on from the start (repeatable)")
    demo.add_argument("--redis", default="auto", choices=("auto", "redis-server", "embedded"),
                      help="the demo's Redis: redis-server when on PATH (auto, the default), "
                           "or the embedded one (pip install 'wsmonitor[demo]')")
    demo.add_argument("--target-only", action="store_true",
                      help="run the target without the dashboard: print where it is, write a "
                           "wsmonitor.toml for it, take fault commands on stdin")
    d = demo.add_argument_group("display")
    d.add_argument("--config", metavar="PATH", help="settings file for the display options "
                   "(default ./wsmonitor.toml when present; its target settings are replaced)")
    d.add_argument("--theme", help="theme name or file [WSMONITOR_THEME]")
    d.add_argument("--interval", type=float, metavar="SECONDS",
                   help="base probe interval (default 2)")
    d.add_argument("--hold", type=float, metavar="SECONDS",
                   help="how long the stays-open probe keeps a socket (default 30)")
    _plan_options(d, "plan limits to judge the demo's Redis by, e.g. upstash-free-2024")
    d.add_argument("--kiosk", action="store_true", default=None,
                   help="read-only dashboard (no fault keys: use --fault)")
    d.add_argument("--record", metavar="FILE.jsonl", help="append every sample to a JSONL file")


DEMO_ENVIRONMENT = ("WSMONITOR_THEME", "WSMONITOR_REDIS_PLAN")
"""The only variables ``demo`` reads: the target's come from the demo itself."""


def _settings_flags(ns: argparse.Namespace) -> dict[str, Any]:
    from wsmonitor.config import setting_names

    flags = {name: getattr(ns, name) for name in setting_names() if hasattr(ns, name)}
    if flags.get("log_group"):
        flags["log_group"] = tuple(flags["log_group"])
    return flags


def main(argv: Sequence[str] | None = None) -> int:
    """Run wsmonitor; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "dashboard")
    try:
        ns = build_parser().parse_args(args)
        return _dispatch(ns)
    except UsageError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001
        from wsmonitor.config import ConfigError

        if isinstance(exc, ConfigError):
            return _fail(str(exc))
        raise


def _fail(message: str) -> int:
    from wsmonitor.secrets import redact

    line = redact(message).replace("\n", " ").strip()
    print(f"wsmonitor: error: {line}", file=sys.stderr)
    return EXIT_USAGE


def _load(ns: argparse.Namespace) -> Any:
    from wsmonitor.config import load_settings

    return load_settings(_settings_flags(ns), config_path=ns.config)


def _dispatch(ns: argparse.Namespace) -> int:
    if ns.command == "check":
        return cmd_check(ns)
    if ns.command == "demo":
        return cmd_demo(ns)
    if ns.command == "replay":
        return cmd_replay(ns)
    if ns.command == "token":
        return cmd_token(ns)
    if ns.command == "serve":
        return cmd_serve(ns)
    return cmd_dashboard(ns)


def _parse_only(text: str | None) -> set[str] | None:
    if not text:
        return None
    parts = {p.strip() for p in text.split(",") if p.strip()}
    bad = sorted(parts - set(SECTIONS))
    if bad or not parts:
        raise UsageError(f"--only {text!r}: unknown section {', '.join(bad) or '(none)'}; use a "
                         f"comma-separated subset of {','.join(SECTIONS)}")
    return parts


def cmd_check(ns: argparse.Namespace) -> int:
    only = _parse_only(ns.only)
    if ns.samples < 1:
        raise UsageError(f"--samples {ns.samples} must be at least 1")
    settings = _load(ns)
    import asyncio
    import time

    from wsmonitor.report import CheckRun, render_json, render_markdown, render_text
    from wsmonitor.runtime import build_engine
    from wsmonitor.secrets import redact
    from wsmonitor.verdict import VerdictPipeline

    engine = build_engine(settings, only)
    recorder = _recorder(settings, engine)
    pipeline = VerdictPipeline(engine, settings, only=only)
    started = time.time()

    async def redis_runs() -> None:
        for i in range(ns.samples):
            if i:
                await asyncio.sleep(min(1.0, settings.interval))
            await engine.run_once(["redis"])

    async def run() -> None:
        others = [n for n in engine.probes if n != "redis"]
        try:
            await asyncio.gather(
                redis_runs() if "redis" in engine.probes else asyncio.sleep(0),
                engine.run_once(others) if others else asyncio.sleep(0))
        finally:
            await engine.close_probes()
            if recorder is not None:
                recorder.close()

    if engine.probes:
        asyncio.run(run())
    verdict = pipeline.judge_now()
    target = {"url": redact(settings.url) if settings.url else None,
              "redis": redact(_masked_redis(settings.redis_url)) if settings.redis_url else None}
    report = CheckRun.from_verdict(verdict, started, settings.plan, target)
    text = render_json(report) if ns.json else render_markdown(report) if ns.markdown else \
        render_text(report)
    print(text)
    return report.exit_code


def _masked_redis(url: str) -> str:
    from wsmonitor.redis_url import RedisUrlError, parse_redis_url

    try:
        return parse_redis_url(url).masked()
    except RedisUrlError:
        return "(malformed)"


def cmd_dashboard(ns: argparse.Namespace, settings: Any = None) -> int:
    settings = settings or _load(ns)
    if not (settings.redis_url or settings.url):
        raise UsageError("nothing to watch: give --redis-url (or REDIS_URL) and/or --url, or "
                         "run `wsmonitor demo` to see it on a local target")
    from wsmonitor.runtime import build_engine
    from wsmonitor.ui.app import create_app

    engine = build_engine(settings)
    recorder = _recorder(settings, engine)
    return run_app(create_app(settings, engine), recorder)


def run_app(app: Any, recorder: Any = None, on_start: Any = None) -> int:
    """Run a dashboard app until it quits, closing the recorder after; its exit status.

    Args:
        app: The Textual app.
        recorder: A `wsmonitor.recorder.Recorder` subscribed to the app's engine, or None.
        on_start: Called with the app just before it runs (the serve watchdog uses it).
    """
    if on_start is not None:
        on_start(app)
    try:
        app.run()
    finally:
        if recorder is not None:
            recorder.close()
    return app.return_code or 0


def _recorder(settings: Any, engine: Any) -> Any:
    if not settings.record:
        return None
    from wsmonitor.recorder import Recorder, RecordError, recording_header

    try:
        recorder = Recorder(settings.record, recording_header(settings, engine))
    except RecordError as exc:
        raise UsageError(str(exc)) from None
    engine.subscribe(recorder)
    return recorder



def cmd_replay(ns: argparse.Namespace) -> int:
    import math
    from dataclasses import replace

    from wsmonitor.replay import ReplayEngine, ReplayError, load_recording, replay_settings

    if not math.isfinite(ns.speed) or ns.speed <= 0:
        raise UsageError(f"--speed {ns.speed:g} must be a positive number (2 = twice as fast)")
    try:
        recording = load_recording(ns.file)
    except ReplayError as exc:
        raise UsageError(str(exc)) from None
    settings = replay_settings(recording)
    if ns.theme or ns.kiosk:
        from wsmonitor.config import with_overrides

        settings = with_overrides(settings, theme=ns.theme or settings.theme,
                                  kiosk=bool(ns.kiosk))
    settings = replace(settings, record=None)
    from wsmonitor.ui.app import create_app

    app = create_app(settings, ReplayEngine(recording, speed=ns.speed))
    app.run()
    return app.return_code or 0


def cmd_token(ns: argparse.Namespace) -> int:
    import math

    from wsmonitor.config import load_settings
    from wsmonitor.tokens import TokenError, decode_token, mint_access_token, verify_token

    flags = {"jwt_secret": ns.jwt_secret, "jwt_user_id": ns.jwt_user_id, "token": ns.token}
    if ns.inspect:
        settings = load_settings(flags, config_path=ns.config)
        if not settings.token:
            raise UsageError("--inspect needs --token (or WSMONITOR_TOKEN)")
        info = decode_token(settings.token)
        line = info.summary()
        bad = info.expired or not info.is_access
        if settings.jwt_secret:
            try:
                verify_token(settings.token, settings.jwt_secret)
                line += "; signature verified"
            except TokenError as exc:
                line += f"; {exc}"
                bad = True
        print(line)
        return EXIT_FAILED if bad else EXIT_OK
    if not math.isfinite(ns.lifetime) or ns.lifetime <= 0:
        raise UsageError(f"--lifetime {ns.lifetime:g} must be a positive number of seconds")
    settings = load_settings({k: v for k, v in flags.items() if k != "token"},
                             config_path=ns.config)
    if not settings.jwt_secret or not settings.jwt_user_id:
        raise UsageError("token needs --jwt-secret (the service's SECRET_KEY) and "
                         "--jwt-user-id (a real user's id)")
    # The one place wsmonitor prints a secret: on purpose, to stdout, for a script to use.
    print(mint_access_token(settings.jwt_secret, settings.jwt_user_id, lifetime=ns.lifetime))
    return EXIT_OK


def cmd_serve(ns: argparse.Namespace) -> int:
    settings = _load(ns)
    if not (settings.redis_url or settings.url):
        raise UsageError("nothing to serve: give --redis-url (or REDIS_URL) and/or --url")
    from wsmonitor.serve import ServeError, serve

    try:
        return serve(settings, host=ns.host, port=ns.port, public_url=ns.public_url)
    except ServeError as exc:
        raise UsageError(str(exc)) from None


def cmd_demo(ns: argparse.Namespace) -> int:
    import os
    import signal

    from wsmonitor.config import load_settings
    from wsmonitor.demo.stack import DemoStack
    from wsmonitor.demo.target import DemoUnavailable

    environ = {k: v for k, v in os.environ.items() if k in DEMO_ENVIRONMENT}
    base = load_settings(_settings_flags(ns), environ=environ, config_path=ns.config)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM, and SIGHUP (the terminal closed), stop the demo like Ctrl+C: the redis-server it
    # started is stopped by PID rather than left behind.
    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        try:
            stack = DemoStack.start(ns.fault or (), redis=ns.redis)
        except DemoUnavailable as exc:
            raise UsageError(str(exc)) from None
        try:
            if ns.target_only:
                from wsmonitor.demo.headless import serve

                return serve(stack, sys.stdin, sys.stdout)
            settings = stack.monitor_settings(base)
            engine = stack.build_engine(settings)
            recorder = _recorder(settings, engine)
            if settings.kiosk:
                from wsmonitor.ui.app import create_app

                app = create_app(settings, engine)
            else:
                from wsmonitor.demo.app import DemoApp

                app = DemoApp(settings, engine, stack)
            try:
                app.run()
            finally:
                if recorder is not None:
                    recorder.close()
            return app.return_code or 0
        finally:
            stack.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
