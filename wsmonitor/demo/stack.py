"""The demo stack: Redis, its front, the service and its log, on a thread of their own.

``DemoStack.start()`` is the one entry point, for ``wsmonitor demo`` and for harnesses
(benchmarks, soak) alike::

    with DemoStack.start(faults=["redis-down"]) as demo:
        settings = demo.monitor_settings()          # wsmonitor pointed at the demo
        engine = demo.build_engine(settings)
        demo.set_fault("redis-down", False)

The service runs on its own event loop in a daemon thread, so it keeps serving while the
dashboard or a test drives wsmonitor. Fault switches take effect before `set_fault` returns.
"""

from __future__ import annotations

import asyncio
import os
import secrets as pysecrets
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Iterable
from typing import Any

from wsmonitor.demo.faults import FAULT_NAMES, fault
from wsmonitor.demo.logbook import DemoLog
from wsmonitor.demo.redis_front import SETTLED_S, RedisFront
from wsmonitor.demo.service import WS_PATH, DemoService
from wsmonitor.demo.target import MAXCLIENTS, DemoRedis, DemoUnavailable
from wsmonitor.tokens import TokenSource, mint_access_token

USER_ID = "1"
"""The demo user wsmonitor's tokens are for."""

EXPIRED_AGO_S = 600.0
"""Under ``token-expired``, tokens handed to wsmonitor expired this long ago."""

LOG_WINDOW_S = 60.0
"""The demo's logs probe counts events over this window, so a fault switched off leaves the
consumer-errors check within a minute (the default window is 15 minutes)."""

START_TIMEOUT = 20.0


class DemoTokens(TokenSource):
    """The tokens wsmonitor probes the demo with: fresh ones, or expired ones under
    ``token-expired`` (then as if given with ``--token``)."""

    def __init__(self, stack: DemoStack) -> None:
        super().__init__(secret=stack.secret, user_id=stack.user_id)
        self._stack = stack

    @property
    def kind(self) -> str | None:
        return "given" if "token-expired" in self._stack.faults else "minted"

    def get(self) -> str | None:
        if "token-expired" in self._stack.faults:
            return self._stack.expired_token()
        return super().get()


class DemoStack:
    """A running demo target. Use `start`; stop it with `stop` (or a ``with`` block).

    Attributes:
        url: The WebSocket endpoint, ``ws://127.0.0.1:PORT/ws/notifications/``.
        api_base: ``http://127.0.0.1:PORT``: the HTTP endpoints.
        redis_url: The Redis everyone uses (through the front), with ``socket_timeout=10``.
        log_file: The service's log.
        redis_kind: ``redis-server`` or ``embedded``.
        layer_kind: ``channels_redis`` or ``plain redis``.
    """

    def __init__(self, *, redis: str = "auto", layer: str = "auto", workers: int = 2,
                 notify_every: float | None = None, log_window: float = LOG_WINDOW_S) -> None:
        self._backend_choice = redis
        self._layer_choice = layer
        self._workers = workers
        self._notify_every = notify_every
        self.log_window = log_window
        self.user_id = USER_ID
        self.secret = pysecrets.token_urlsafe(32)
        """The demo's JWT signing key: not a user secret, but never shown either."""
        self._faults: set[str] = set()
        self.workdir = ""
        self.url = self.api_base = self.redis_url = self.log_file = ""
        self.redis_kind = self.layer_kind = ""
        self.redis: DemoRedis | None = None
        self.front: RedisFront | None = None
        self.service: DemoService | None = None
        self.log: DemoLog | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._layer: Any = None

    # --- life cycle -------------------------------------------------------------------------

    @classmethod
    def start(cls, faults: Iterable[str] = (), *, redis: str = "auto", layer: str = "auto",
              workers: int = 2, notify_every: float | None = None,
              log_window: float = LOG_WINDOW_S) -> DemoStack:
        """Start the demo target.

        Args:
            faults: Fault names switched on from the start.
            redis: ``auto``, ``redis-server`` or ``embedded`` (see `DemoRedis.start`).
            layer: The service's channel layer: ``auto`` (channels_redis when installed),
                ``channels_redis`` or ``plain`` (see `wsmonitor.demo.layer`).
            workers: Simulated idle channels_redis workers on the Redis.
            notify_every: Seconds between notifications (default 3).
            log_window: Window of the logs probe `build_engine` makes.

        Raises:
            DemoUnavailable: No Redis can run here, or the service did not start.
            ValueError: An unknown fault name.
        """
        wanted = [fault(name).name for name in faults]
        stack = cls(redis=redis, layer=layer, workers=workers, notify_every=notify_every,
                    log_window=log_window)
        from wsmonitor.secrets import register_secret

        register_secret(stack.secret)
        try:
            stack._start()
            for name in wanted:
                stack.set_fault(name, True)
        except BaseException:
            stack.stop()
            raise
        return stack

    def _start(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="wsmonitor-demo-")
        self.log = DemoLog(os.path.join(self.workdir, "daphne.log"))
        self.log_file = self.log.path
        self.redis = DemoRedis.start(workers=0, backend=self._backend_choice)
        self.redis_kind = self.redis.kind
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            # The Runner cancels what is left (connections accepted as the front closed) and
            # closes the loop, as asyncio.run does.
            with asyncio.Runner() as runner:
                self._loop = runner.get_loop()
                try:
                    runner.run(self._main(ready, failure))
                finally:
                    ready.set()

        self._thread = threading.Thread(target=main, name="wsmonitor-demo", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT) or failure:
            why = f": {failure[0]}" if failure else ""
            raise DemoUnavailable(f"the demo service did not start{why}")
        self.redis.start_workers(self.redis_url, self._workers)

    async def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        from wsmonitor.demo.layer import close_layer, make_layer

        self._stopping = asyncio.Event()
        assert self.redis is not None and self.log is not None
        log = self.log
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, context: log.app("error", "asyncio", str(context.get("message"))))
        front: RedisFront | None = None
        try:
            front = RedisFront(self.redis.port, synthesize_info=self.redis.synthesizes_info,
                               maxclients=MAXCLIENTS, server_version=_embedded_version()
                               if self.redis.synthesizes_info else "7.4.0")
            await front.start()
            self.front = front
            self.redis_url = f"redis://127.0.0.1:{front.port}/0?socket_timeout=10"
            self._layer, self.layer_kind = make_layer(self.redis_url, self._layer_choice)
            kwargs = {"notify_every": self._notify_every} if self._notify_every else {}
            service = DemoService(self._layer, self.log, self.secret, self._faults,
                                  redis_url=self.redis_url, **kwargs)
            await service.start()
            self.service = service
            self.api_base = f"http://127.0.0.1:{service.port}"
            self.url = f"ws://127.0.0.1:{service.port}{WS_PATH}"
        except Exception as exc:  # noqa: BLE001 - reported to start()
            failure.append(exc)
            if front is not None:
                await front.stop()
            ready.set()
            return
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            await service.stop()
            await front.stop()
            await close_layer(self._layer)

    def stop(self) -> None:
        """Stop everything this stack started (the redis-server by PID) and remove its files."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.log is not None:
            self.log.close()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = ""

    def __enter__(self) -> DemoStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            raise RuntimeError("the demo is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    # --- faults -----------------------------------------------------------------------------

    @property
    def faults(self) -> frozenset[str]:
        """The faults switched on."""
        return frozenset(self._faults)

    def set_fault(self, name: str, on: bool = True) -> None:
        """Switch a fault on or off; it is in force when this returns.

        Raises:
            ValueError: Not a fault's name.
        """
        fault(name)
        self._run(self._apply(name, on))

    def toggle(self, name: str) -> bool:
        """Switch a fault over; returns whether it is now on."""
        on = name not in self._faults
        self.set_fault(name, on)
        return on

    def clear_faults(self) -> None:
        """Switch every fault off."""
        for name in FAULT_NAMES:
            if name in self._faults:
                self.set_fault(name, False)

    async def _apply(self, name: str, on: bool) -> None:
        front, service = self.front, self.service
        assert front is not None and service is not None
        if on:
            self._faults.add(name)
        else:
            self._faults.discard(name)
        if name == "redis-down":
            await front.set_down(on)
        elif name == "redis-max-clients":
            if on:
                # The service holds its pools, as a running one does: at the cap, what is
                # refused is what comes new (a worker, a pool growing), not every handshake.
                await service.warm_up()
                await asyncio.sleep(SETTLED_S + 0.05)
            front.set_capped(on)
        elif name == "quota-exceeded":
            front.quota = on
        if name in ("redis-down", "redis-max-clients", "quota-exceeded"):
            service.kick()
        if not on:
            # What started under the fault finishes (and logs its failure) before this returns,
            # and the service starts afresh on the healthy Redis.
            await service.drain()
            if name in ("redis-down", "redis-max-clients", "quota-exceeded"):
                from wsmonitor.demo.layer import drop_idle_connections

                await drop_idle_connections(self._layer)

    # --- wsmonitor's side -------------------------------------------------------------------

    def expired_token(self) -> str:
        """An access token for the demo user that expired `EXPIRED_AGO_S` ago."""
        return mint_access_token(self.secret, self.user_id, lifetime=-EXPIRED_AGO_S)

    def token_source(self) -> DemoTokens:
        """The tokens wsmonitor's probes should send (they follow ``token-expired``)."""
        return DemoTokens(self)

    def monitor_settings(self, base: Any = None, **changes: Any) -> Any:
        """Settings for wsmonitor pointed at this demo (url, token, Redis, log file).

        Args:
            base: Settings to keep the display options of (theme, interval, plan …).
            changes: More settings to change (e.g. ``hold=2``).
        """
        from wsmonitor.config import Settings, with_overrides

        expired = "token-expired" in self._faults
        values: dict[str, Any] = dict(
            url=self.url, origin=None, api_base=None, ca_file=None,
            redis_url=self.redis_url, redis_ca=None,
            token=self.expired_token() if expired else None,
            jwt_secret=self.secret, jwt_user_id=self.user_id,
            log_file=self.log_file, log_command=None, log_group=(), apprunner_service=None,
            aws_endpoint_url=None, polling_path="/api/notifications/",
        )
        values.update(changes)
        return with_overrides(base if base is not None else Settings(), **values)

    def build_probes(self, settings: Any, rate: float = 1.0) -> list[Any]:
        """wsmonitor's probes for `settings`, with the demo's tokens and log window (divided
        by `rate`, see `build_engine`)."""
        from wsmonitor.log_rules import build_rules
        from wsmonitor.probes.logs import FileSource, LogsProbe
        from wsmonitor.runtime import build_probes

        tokens = self.token_source()
        probes = build_probes(settings)
        for i, probe in enumerate(probes):
            if hasattr(probe, "tokens"):
                probe.tokens = tokens
            if self.layer_kind == "plain redis" and getattr(probe, "on_open", None) is not None:
                # The plain layer's wire format is its own: wsmonitor's channels_redis
                # group_send cannot reach its sockets, so there is no delivery to probe.
                probe.on_open = None
                probe.no_delivery = ("the demo's plain channel layer has a wire format of its "
                                     "own: channels_redis's group_send cannot reach it")
            if probe.name == "logs" and settings.log_file == self.log_file:
                # The demo's log is new: nothing from before the start to show, and a short
                # window so the check follows the fault switches.
                probes[i] = LogsProbe(FileSource(self.log_file, initial_lines=0),
                                      rules=build_rules(settings.log_rules or None),
                                      window=self.log_window / rate)
        return probes

    def build_engine(self, settings: Any, rate: float = 1.0) -> Any:
        """An engine over `build_probes` (what ``wsmonitor demo`` runs).

        Args:
            rate: Time compression for soaks and benchmarks: every probe's least interval,
                the engine's backoff cap and the logs window are divided by it (the base
                interval and the hold are the settings'). Only for the demo: it has no quota
                a faster monitor could spend.
        """
        from wsmonitor.engine import Engine

        probes = self.build_probes(settings, rate)
        engine = Engine(probes, interval=settings.interval)
        if rate != 1.0:
            engine.max_backoff /= rate
            for probe in probes:
                if hasattr(probe, "min_interval"):
                    probe.min_interval /= rate
        return engine

    def describe(self) -> list[str]:
        """What runs, for a person (no secret in it)."""
        return [
            f"WebSocket  {self.url}",
            f"HTTP       {self.api_base}/api/redis-health/, /api/ws-diagnostic/, "
            "/api/notifications/",
            f"Redis      {self.redis_url}  ({self.redis_kind}, channel layer: "
            f"{self.layer_kind})",
            f"log        {self.log_file}",
        ]


def _embedded_version() -> str:
    try:
        from importlib.metadata import version

        return f"fakeredis-{version('fakeredis')}"
    except Exception:  # noqa: BLE001
        return "fakeredis"


__all__ = ["DemoStack", "DemoTokens", "DemoUnavailable", "EXPIRED_AGO_S", "LOG_WINDOW_S",
           "USER_ID"]
