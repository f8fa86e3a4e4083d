"""Command-line entry points. Heavy modules are imported inside the commands so ``--help`` is fast.

Every bad input ends in one line on stderr, ``wsmonitor: error: …``, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from wsmonitor import __version__
# Shared with wsmonitor.serve (its app subprocess): kept under the names cli has always used.
from wsmonitor.apprun import EXIT_USAGE, UsageError, run_app
from wsmonitor.apprun import fail as _fail
from wsmonitor.apprun import make_recorder as _recorder

COMMANDS = ("dashboard", "check", "demo", "replay", "token", "serve", "watch")
SECTIONS = ("redis", "handshake", "logs", "http", "browser")
"""What ``check --only`` accepts."""

EXIT_OK, EXIT_FAILED = 0, 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("target")
    g.add_argument("--config", metavar="PATH",
                   help="settings file (default ./wsmonitor.toml when present)")
    g.add_argument("--url", help="WebSocket endpoint, e.g. wss://app.example.com/ws/notifications/"
                   " [WSMONITOR_URL]")
    g.add_argument("--origin", help="Origin header sent on probes (default: the origin of "
                   "--page-url, else https://<host of --url>) [WSMONITOR_ORIGIN]")
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
    g.add_argument("--notify-type", metavar="TYPE",
                   help="type of the probe's group_send: your consumer's handler, e.g. "
                   "notification.message for notification_message(self, event) (default notify)")
    g.add_argument("--target", action="append", metavar="NAME", dest="target_names",
                   help="with [[targets]] in the config: only this target (repeatable)")
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
    b = parser.add_argument_group("browser")
    b.add_argument("--page-url", metavar="URL",
                   help="a page of the frontend that opens the WebSocket: loaded in headless "
                        "Chromium every 6 intervals; its origin becomes the default --origin "
                        "[WSMONITOR_PAGE_URL]")
    b.add_argument("--chromium", metavar="PATH",
                   help="the browser for --page-url (default: chromium on PATH) "
                        "[WSMONITOR_CHROMIUM]")
    d = parser.add_argument_group("display")
    d.add_argument("--theme", help="theme name or file [WSMONITOR_THEME]")
    d.add_argument("--interval", type=float, metavar="SECONDS",
                   help="base probe interval (default 2)")
    d.add_argument("--kiosk", action="store_true", default=None,
                   help="read-only: no writing probes, no actions but quit")
    d.add_argument("--record", metavar="FILE.jsonl", help="append every sample to a JSONL file")
    _export_option(d)


def _export_option(group: Any) -> None:
    group.add_argument("--export-dir", metavar="DIR",
                       help="where e (export) writes its SVG and markdown (default: the "
                            "current directory)")


def _value_options() -> frozenset[str]:
    """Option strings of every subcommand that take a value: to find the command word in
    ``wsmonitor --config X check`` without mistaking X for it."""
    parser = build_parser()
    found: set[str] = set()
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            for sub in choices.values():
                found.update(s for a in sub._actions if a.nargs != 0  # noqa: SLF001
                             for s in a.option_strings)
    return frozenset(found)


def _command_first(args: list[str]) -> list[str]:
    """Move the command word to the front: common options go before or after it alike.

    Options given before the command are placed right after it, so that one repeated after the
    command (later on the line) still wins, as it would with both on the same side.
    """
    takes_value = _value_options()
    i = 0
    while i < len(args):
        word = args[i]
        if word in COMMANDS:
            return [word, *args[:i], *args[i + 1:]]
        if word == "--" or not word.startswith("-"):
            break
        i += 2 if word in takes_value else 1
    return ["dashboard", *args]


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
        epilog="Commands: dashboard (default), check, demo, replay, token, serve, watch. "
               "`wsmonitor COMMAND --help` for each. Exit status: 0 nothing failed, 1 a check "
               "failed, 2 bad input. Common options go before or after the command alike "
               "(`wsmonitor --config X check` = `wsmonitor check --config X`). "
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
    _export_option(replay)
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
    _watch_parser(sub)
    return parser


def _watch_parser(sub: Any) -> None:
    watch = sub.add_parser(
        "watch", help="the probes and checks with no screen, until SIGINT/SIGTERM; "
                      "--metrics for Prometheus",
        description="Run the probes and checks of every target (see [[targets]] in "
                    "wsmonitor.toml) with no screen until SIGINT or SIGTERM (exit 0): for a "
                    "server, a container, a CI runner. Prints one logfmt line on stdout per "
                    "change of diagnosis (time, target, layer, confidence, failing checks, "
                    "summary). With --metrics HOST:PORT, serves Prometheus metrics at "
                    "/metrics (every series labelled with its target).",
        epilog="The alerting rules and Grafana dashboard for these metrics ship with the "
               "package: --print-alerts, --print-alert-tests, --print-dashboard.")
    _common(watch)
    watch.add_argument("--metrics", metavar="HOST:PORT",
                       help="serve Prometheus metrics at http://HOST:PORT/metrics "
                            "(e.g. 127.0.0.1:9464; 0.0.0.0:9464 in a container)")
    shipped = watch.add_mutually_exclusive_group()
    shipped.add_argument("--print-alerts", action="store_true",
                         help="print the Prometheus alerting rules and exit")
    shipped.add_argument("--print-alert-tests", action="store_true",
                         help="print the rules' promtool unit tests and exit")
    shipped.add_argument("--print-dashboard", action="store_true",
                         help="print the Grafana dashboard JSON and exit")


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
                           "or the embedded one (fakeredis, installed with wsmonitor)")
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
    _export_option(d)


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
    try:
        if not args or args[0] not in ("-h", "--help", "--version"):
            args = _command_first(args)
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


def _load(ns: argparse.Namespace) -> Any:
    """The settings of the one target a screen shows."""
    targets = _load_targets(ns)
    if len(targets) > 1:
        names = ", ".join(t.name for t in targets)
        raise UsageError(f"{ns.command} shows one target and the config names "
                         f"{len(targets)} ({names}): pick one with --target NAME, or use "
                         "`wsmonitor watch` / `wsmonitor check` for all of them")
    return targets[0].settings


def _load_targets(ns: argparse.Namespace) -> Any:
    """Every target to run: the config's [[targets]] (those --target names), or the one."""
    from wsmonitor.config import load_targets

    return load_targets(_settings_flags(ns), config_path=ns.config,
                        names=getattr(ns, "target_names", None))


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
    if ns.command == "watch":
        return cmd_watch(ns)
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
    targets = _load_targets(ns)
    import time

    from wsmonitor.report import render_json, render_markdown, render_text

    if len(targets) == 1:
        report = _check_run(targets[0].settings, ns, only)
        text = render_json(report) if ns.json else render_markdown(report) if ns.markdown \
            else render_text(report)
        print(text)
        return report.exit_code
    from concurrent.futures import ThreadPoolExecutor

    from wsmonitor.watch import record_paths

    records = record_paths(targets[0].settings.record, [t.name for t in targets]) \
        if targets[0].settings.record else {}
    started = time.time()
    # Every target at once, each on its own event loop: a slow one never delays the others.
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        futures = [pool.submit(_check_run, _with_record(t.settings, records.get(t.name)), ns,
                               only, False) for t in targets]
        reports = [f.result() for f in futures]
    finished = time.time()
    print(_render_targets(ns, targets, reports, started, finished))
    return max(r.exit_code for r in reports)


def _with_record(settings: Any, path: str | None) -> Any:
    from dataclasses import replace

    return replace(settings, record=path)


def _render_targets(ns: argparse.Namespace, targets: Any, reports: Any, started: float,
                    finished: float) -> str:
    """Several targets: SPEC's ``{"version", "started_at", "finished_at", "targets"}`` for
    --json, else each target's report under its name."""
    import json

    from wsmonitor import __version__
    from wsmonitor.report import _iso, render_markdown, render_text, to_json_obj
    from wsmonitor.secrets import redact, redact_obj

    if ns.json:
        return json.dumps(redact_obj({
            "version": __version__, "started_at": _iso(started), "finished_at": _iso(finished),
            "targets": [{"name": t.name, **to_json_obj(r)} for t, r in zip(targets, reports)],
        }), indent=2, ensure_ascii=False)
    parts = []
    for t, r in zip(targets, reports):
        if ns.markdown:
            parts.append(render_markdown(r).replace("# wsmonitor incident report",
                                                    f"# wsmonitor incident report: {t.name}", 1))
        else:
            parts.append(f"== {t.name} ==\n{render_text(r)}")
    return redact("\n\n".join(parts))


def _check_run(settings: Any, ns: argparse.Namespace, only: set[str] | None,
               progress: bool = True) -> Any:
    """Run one target's probes once (Redis ``--samples`` times) and judge: its CheckRun.

    ``progress``: the progress line on a terminal's stderr (one target only: the lines of
    targets checked at once would overwrite each other)."""
    import asyncio
    import time

    from wsmonitor.report import CheckRun
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
        from wsmonitor.progress import Progress, wanted

        others = [n for n in engine.probes if n != "redis"]
        shown = asyncio.create_task(Progress(engine, sys.stderr).run()) \
            if progress and wanted(sys.stderr) else None
        try:
            await asyncio.gather(
                redis_runs() if "redis" in engine.probes else asyncio.sleep(0),
                engine.run_once(others) if others else asyncio.sleep(0))
        finally:
            if shown is not None:
                shown.cancel()
                await asyncio.gather(shown, return_exceptions=True)
            await engine.close_probes()
            if recorder is not None:
                recorder.close()

    if engine.probes:
        asyncio.run(run())
    verdict = pipeline.judge_now()
    target = {"url": redact(settings.url) if settings.url else None,
              "redis": redact(_masked_redis(settings.redis_url)) if settings.redis_url else None}
    return CheckRun.from_verdict(verdict, started, settings.plan, target)


def cmd_watch(ns: argparse.Namespace) -> int:
    if ns.print_alerts or ns.print_alert_tests or ns.print_dashboard:
        from wsmonitor.prometheus import shipped_text

        kind = "alerts" if ns.print_alerts else "alert-tests" if ns.print_alert_tests \
            else "dashboard"
        sys.stdout.write(shipped_text(kind))
        return EXIT_OK
    if ns.metrics:
        from wsmonitor.metrics import MetricsError, parse_listen

        try:  # the address first: a bad one is the error to report, whatever else is wrong
            parse_listen(ns.metrics)
        except MetricsError as exc:
            raise UsageError(str(exc)) from None
    targets = _load_targets(ns)
    for t in targets:
        if not (t.settings.redis_url or t.settings.url or t.settings.page_url):
            raise UsageError(f"nothing to watch for target {t.name!r}: give --redis-url (or "
                             "REDIS_URL), --url and/or --page-url")
    import signal
    import threading

    from wsmonitor.metrics import MetricsError, serve_metrics
    from wsmonitor.watch import Watch, record_paths

    first = targets[0].settings
    watch = Watch([(t.name, t.settings) for t in targets], sys.stdout)
    server = None
    if ns.metrics:
        try:
            server = serve_metrics(watch.runs, ns.metrics)
        except MetricsError as exc:
            raise UsageError(str(exc)) from None
    if first.record:
        from wsmonitor.recorder import Recorder, RecordError, recording_header

        paths = record_paths(first.record, [t.name for t in targets])
        try:
            for run in watch.runs:
                recorder = Recorder(paths[run.name], recording_header(run.settings, run.engine))
                run.engine.subscribe(recorder)
                run.recorder = recorder
        except RecordError as exc:
            for run in watch.runs:
                if run.recorder is not None:
                    run.recorder.close()
            if server is not None:
                server.shutdown()
                server.server_close()
            raise UsageError(str(exc)) from None
    stop = threading.Event()

    def stopping(*_: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, stopping) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        where = f"; metrics at http://{ns.metrics}/metrics" if ns.metrics else ""
        print(f"wsmonitor: watching {len(targets)} target(s) "
              f"({', '.join(t.name for t in targets)}){where}", file=sys.stderr, flush=True)
        watch.start()
        while not stop.wait(0.5):
            pass
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        watch.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def _masked_redis(url: str) -> str:
    from wsmonitor.redis_url import RedisUrlError, parse_redis_url

    try:
        return parse_redis_url(url).masked()
    except RedisUrlError:
        return "(malformed)"


def cmd_dashboard(ns: argparse.Namespace, settings: Any = None) -> int:
    if settings is None:
        targets = _load_targets(ns)
        if len(targets) > 1:
            return _dashboard_tabs(targets)
        settings = targets[0].settings
    if not (settings.redis_url or settings.url or settings.page_url):
        raise UsageError("nothing to watch: give --redis-url (or REDIS_URL), --url and/or "
                         "--page-url, or run `wsmonitor demo` to see it on a local target")
    from wsmonitor.runtime import build_engine
    from wsmonitor.ui.app import create_app

    engine = build_engine(settings)
    recorder = _recorder(settings, engine)
    return run_app(create_app(settings, engine), recorder)


def _dashboard_tabs(targets: Any) -> int:
    """Several targets: one tab each (wsmonitor/ui/tabs.py), each with its own engine."""
    from dataclasses import replace

    from wsmonitor.runtime import build_engine
    from wsmonitor.ui.tabs import create_tabbed_app
    from wsmonitor.watch import record_paths

    for t in targets:
        if not (t.settings.redis_url or t.settings.url or t.settings.page_url):
            raise UsageError(f"nothing to watch for target {t.name!r}: give --redis-url (or "
                             "REDIS_URL), --url and/or --page-url")
    first = targets[0].settings
    paths = record_paths(first.record, [t.name for t in targets]) if first.record else {}
    recorders, tabs = [], []
    for t in targets:
        settings = replace(t.settings, record=paths.get(t.name))
        engine = build_engine(settings)
        recorder = _recorder(settings, engine)
        if recorder is not None:
            recorders.append(recorder)
        tabs.append((t.name, settings, engine))
    try:
        return run_app(create_tabbed_app(tabs, kiosk=first.kiosk))
    finally:
        for recorder in recorders:
            recorder.close()


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
    if ns.theme or ns.kiosk or ns.export_dir:
        from wsmonitor.config import with_overrides

        settings = with_overrides(settings, theme=ns.theme or settings.theme,
                                  kiosk=bool(ns.kiosk), export_dir=ns.export_dir or ".")
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
