"""``wsmonitor serve``: the dashboard in a browser, through textual-serve.

textual-serve starts one app subprocess per browser connection, from a shell command line that
``ps`` shows to every user of the machine. The settings, secrets included, therefore travel to
that subprocess in its environment (readable by the same user only), never in its command line:
the command is always ``python -m wsmonitor.serve``, and the subprocess removes the variable
from its environment before anything else runs.

textual-serve has no authentication, and every browser tab runs its own probes: its own Redis
connection, its own handshakes, its own share of the plan's command quota. It is bound to
loopback unless told otherwise, and says so loudly when it is not.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shlex
import socket
import sys
import threading
import time
from dataclasses import fields, replace
from typing import Any

from wsmonitor.config import Settings

SETTINGS_ENV = "WSMONITOR_SERVE_SETTINGS"
"""The environment variable that carries the settings to each app subprocess (JSON)."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

SHUTDOWN_WAIT = 10.0
"""Seconds the server waits for the open dashboards to quit when it is stopped."""

ORPHAN_POLL = 1.0
"""Seconds between the app subprocess's checks that the server is still there."""

INSTALL_HINT = "textual-serve is not installed: install wsmonitor[serve] " \
               "(pip install 'wsmonitor[serve]')"


class ServeError(Exception):
    """Serving cannot start (missing extra, bad host or port): one line, exit 2."""


def app_command() -> str:
    """The command textual-serve runs per connection: no setting, no secret in it."""
    # exec: the app replaces textual-serve's shell, so no shell outlives a stopped app.
    return f"exec {shlex.quote(sys.executable)} -m wsmonitor.serve"


def encode_settings(settings: Settings) -> str:
    """Settings as the JSON the app subprocess reads from `SETTINGS_ENV`."""
    values: dict[str, Any] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        values[f.name] = list(value) if isinstance(value, tuple) else value
    return json.dumps(values)


def decode_settings(text: str, environ: dict[str, str] | None = None) -> Settings:
    """Settings back from `encode_settings`, validated again and their secrets registered.

    Raises:
        ConfigError: The text is not what `encode_settings` wrote, or no longer validates.
    """
    from wsmonitor.config import ConfigError, load_settings, setting_names

    try:
        values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError("not an object")
    except ValueError:
        raise ConfigError(f"{SETTINGS_ENV} is not what `wsmonitor serve` writes: start the "
                          "dashboard with `wsmonitor serve`") from None
    sources = values.pop("sources", None) or {}
    config = values.pop("config", None)
    names = setting_names()
    flags = {k: v for k, v in values.items() if k in names}
    # Every value is given as a flag, so the config file and the environment cannot change
    # it; reading them again only registers their secrets for redaction.
    settings = load_settings(flags, environ=environ, config_path=config)
    return replace(settings, sources=dict(sources))


def is_loopback(host: str) -> bool:
    """Whether every address `host` stands for is a loopback address."""
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback
                               for i in infos)


def exposure_warning(settings: Settings, host: str, port: int) -> str:
    """The warning printed when the dashboard is served beyond loopback."""
    keys = "" if settings.kiosk else " and can press its keys (pause, interval, export)"
    return (f"wsmonitor: warning: serving on {host}:{port}, beyond loopback. textual-serve has "
            f"no authentication: anyone who can reach this address sees the dashboard{keys}. "
            "Every browser tab runs its own probes, with its own Redis connection and its own "
            f"command budget ({settings.redis_budget:g}% of the plan's quota per tab): N tabs "
            "spend N times the Redis commands and open N times the handshakes. Prefer "
            "--host 127.0.0.1 with an SSH tunnel, or an authenticating proxy in front"
            + ("." if settings.kiosk else "; --kiosk makes it read-only."))


def _server_class() -> type:
    try:
        from aiohttp import web
        from textual_serve.app_service import AppService
        from textual_serve.server import Server, log, to_int
    except ImportError:
        raise ServeError(INSTALL_HINT) from None

    class DashboardServer(Server):  # type: ignore[misc,valid-type]
        """textual-serve's server, with two changes.

        The page's WebSocket URL follows the address the browser used (``localhost``, a LAN
        name, a proxy's host) unless a public URL is given. And on shutdown every open session
        is closed first, the way a browser closing its tab does — so its app quits, its probes
        stop and its Redis connection closes — instead of aiohttp waiting for each app to
        hang up (10 s per session: the close handshake of a socket nobody reads any more).
        """

        derive_public_url = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sockets: set[Any] = set()

        async def on_startup(self, app: Any) -> None:
            mode = " (kiosk: read-only)" if self.title.endswith("(kiosk)") else ""
            self.console.print(f"wsmonitor: serving the dashboard{mode} on {self.public_url} "
                               "— one dashboard, with its own probes, per browser tab. "
                               "Ctrl+C stops it.", highlight=False, markup=False)

        async def handle_index(self, request: Any) -> Any:
            if self.derive_public_url:
                self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def handle_websocket(self, request: Any) -> Any:
            # textual-serve 1.1's handler, with the socket kept in `sockets`.
            websocket = web.WebSocketResponse(heartbeat=15)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            app_service = None
            self.sockets.add(websocket)
            try:
                await websocket.prepare(request)
                app_service = AppService(
                    self.command, write_bytes=websocket.send_bytes,
                    write_str=websocket.send_str, close=websocket.close,
                    download_manager=self.download_manager, debug=self.debug)
                await app_service.start(width, height)
                try:
                    await self._process_messages(websocket, app_service)
                finally:
                    await app_service.stop()
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:  # noqa: BLE001 - as textual-serve: log, end the session
                log.exception(error)
            finally:
                self.sockets.discard(websocket)
                if app_service is not None:
                    await app_service.stop()
            return websocket

        async def on_shutdown(self, app: Any) -> None:
            sockets = list(self.sockets)
            if sockets:
                await asyncio.wait([asyncio.ensure_future(ws.close()) for ws in sockets],
                                   timeout=SHUTDOWN_WAIT)

    return DashboardServer


def serve(settings: Settings, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          public_url: str | None = None) -> int:
    """Serve the dashboard until SIGINT or SIGTERM; returns the exit status.

    Raises:
        ServeError: textual-serve is missing, or the address cannot be listened on.
    """
    if not 0 < port < 65536:
        raise ServeError(f"--port {port} is outside 1-65535: e.g. --port 8000")
    if not host.strip():
        raise ServeError("--host is empty: e.g. --host 127.0.0.1")
    server_class = _server_class()
    try:
        socket.getaddrinfo(host.strip("[]"), port)
    except OSError:
        raise ServeError(f"--host {host!r} does not resolve: give an address such as "
                         "127.0.0.1 or 0.0.0.0") from None
    if not is_loopback(host):
        print(exposure_warning(settings, host, port), file=sys.stderr, flush=True)
    os.environ[SETTINGS_ENV] = encode_settings(settings)
    title = "wsmonitor (kiosk)" if settings.kiosk else "wsmonitor"
    server = server_class(app_command(), host=host.strip("[]"), port=port, title=title,
                          public_url=public_url)
    server.derive_public_url = public_url is None
    try:
        server.serve()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ServeError(f"cannot listen on {host}:{port} ({reason}): pick another --port, "
                         "or stop what listens there") from None
    finally:
        os.environ.pop(SETTINGS_ENV, None)
    return 0


def app_main() -> int:
    """The app subprocess textual-serve starts per browser connection."""
    from wsmonitor.apprun import UsageError, make_recorder, run_app
    from wsmonitor.apprun import fail as _fail
    from wsmonitor.config import ConfigError

    text = os.environ.pop(SETTINGS_ENV, None)
    if not text:
        return _fail(f"{SETTINGS_ENV} is not set: this module is started by "
                     "`wsmonitor serve`, run that instead")
    try:
        settings = decode_settings(text)
        from wsmonitor.runtime import build_engine
        from wsmonitor.ui.app import create_app

        engine = build_engine(settings)
        recorder = make_recorder(settings, engine)
    except (ConfigError, UsageError) as exc:
        return _fail(str(exc))
    parent = os.getppid()

    def watch(app: Any) -> None:
        threading.Thread(target=_quit_when_orphaned, args=(app, parent),
                         name="wsmonitor-serve-watchdog", daemon=True).start()

    return run_app(create_app(settings, engine), recorder, on_start=watch)


def _quit_when_orphaned(app: Any, parent: int) -> None:
    """Quit when the server is gone (killed, say): nobody can see this dashboard any more, and
    its probes must not go on touching the service for ever."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL)
    try:
        app.call_from_thread(app.exit)
    except Exception:  # noqa: BLE001 - the app is already gone
        return
    time.sleep(SHUTDOWN_WAIT)
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover - run by textual-serve
    raise SystemExit(app_main())
