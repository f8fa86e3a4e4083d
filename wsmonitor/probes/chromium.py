"""The system's Chromium, headless, driven over the DevTools Protocol (CDP) with `websockets`.

Why plain CDP rather than Playwright: wsmonitor needs a dozen CDP calls and six event types
(FACTS.md: about 40 lines over the `websockets` library it already depends on); Playwright's
wheel is ~160 MB, its protocol version may drift from the system browser's, and it would be a
new core dependency for one probe.

One browser process serves every load (each in a fresh browser context, so no cookie, cache
or service worker carries over). It is bounded:

- in time: every CDP call has a timeout; a browser that does not start in `START_TIMEOUT` is
  killed;
- in memory: V8's heap per renderer is capped (``--js-flags=--max-old-space-size``) and the
  owner restarts the browser when the resident memory of its processes passes a bound;
- in lifetime: Chromium runs in its own process group, stopped by that id on close and on every
  fault; and a tiny reaper process, which reads a pipe only the owner holds, kills the group
  when the owner dies in any way (even SIGKILL), so no chromium is ever orphaned.

I/O only: no Textual here.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

log = logging.getLogger(__name__)

CANDIDATES = ("chromium", "chromium-browser")
"""Names looked up on PATH when ``--chromium`` is not given (Debian's, Ubuntu's)."""

INSTALL_HINT = "install it (apt-get install chromium) or give --chromium PATH"

START_TIMEOUT = 20.0
"""Seconds Chromium may take to open its DevTools port."""

CALL_TIMEOUT = 10.0
"""Seconds a CDP call may take."""

STOP_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when stopping the browser."""

SOCKET_DIR_MAX = 60
"""Longest $TMPDIR given to Chromium (its ``org.chromium.Chromium.XXXXXX/SingletonSocket``
must fit a Unix socket path)."""

MAX_OLD_SPACE_MB = 128
"""V8 heap cap per renderer, MiB: a page that leaks dies alone, not the monitor's host."""

BASE_FLAGS = (
    "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--disable-breakpad", "--disable-dev-shm-usage",
    "--mute-audio", "--hide-scrollbars", "--metrics-recording-only",
    "--password-store=basic", "--use-mock-keychain",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
)
"""Headless, quiet, and nothing that phones home (FACTS.md: otherwise it tries the network
for updates, sync and field trials)."""

REAPER = r"""
import os, shutil, signal, sys, time
for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
    signal.signal(sig, signal.SIG_IGN)
groups = {}
for line in sys.stdin:
    cmd, _, rest = line.strip().partition(" ")
    if cmd == "add":
        pid, _, path = rest.partition(" ")
        groups[int(pid)] = path
    elif cmd == "done":
        groups.pop(int(rest), None)
def alive(g):
    try:
        os.killpg(g, 0)
        return True
    except OSError:
        return False
for sig in (signal.SIGTERM, signal.SIGKILL):
    for g in groups:
        try:
            os.killpg(g, sig)
        except OSError:
            pass
    deadline = time.monotonic() + 3
    while any(alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.1)
for path in groups.values():
    if path:
        shutil.rmtree(path, ignore_errors=True)
"""
"""The reaper: reads ``add PGID DIR`` / ``done PGID`` lines from a pipe whose other end only
the owner holds; at end of file — the owner closed it, or died however it died — it kills
every group still listed and removes its profile directory. It ignores the terminal's signals
so a Ctrl+C that kills the owner cannot kill it first."""


class ChromiumError(Exception):
    """The browser could not be started, or stopped answering (message already safe)."""


def resolve_chromium(spec: str | None) -> str | None:
    """The browser's executable: ``--chromium PATH`` (a path or a name on PATH), else the
    first of `CANDIDATES` on PATH; None when there is none."""
    if spec:
        if os.sep in spec:
            return spec if os.path.isfile(spec) and os.access(spec, os.X_OK) else None
        return shutil.which(spec)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after its last ')'.
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) > 2 and rest[0] != b"Z" and int(rest[2]) == pgid:
            out.append(int(entry))
    return out


def group_memory_kib(pgid: int) -> tuple[int, int]:
    """``(rss, anonymous)`` of a process group, KiB.

    RSS is what ``ps`` adds up (pages shared between Chromium's processes count in each);
    anonymous memory is each process's own heap, which is what grows when a page leaks, so
    the memory bound is judged on it.
    """
    rss = anon = 0
    for pid in group_members(pgid):
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith(b"RssAnon:"):
                        anon += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return rss, anon


_LIVE: set[Chromium] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _kill_live() -> None:
    """Interpreter exit without close(): stop whatever is still running (the reaper would too,
    a moment later)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for browser in live:
        browser.kill()


class Chromium:
    """One headless Chromium process and its DevTools connection.

    Args:
        binary: The executable.
        extra_args: More command-line flags.
        max_old_space_mb: V8 heap cap per renderer, MiB.
        start_timeout: Seconds to wait for the DevTools port.
    """

    def __init__(self, binary: str, *, extra_args: tuple[str, ...] = (),
                 max_old_space_mb: int = MAX_OLD_SPACE_MB,
                 start_timeout: float = START_TIMEOUT) -> None:
        self.binary = binary
        self.extra_args = tuple(extra_args)
        self.max_old_space_mb = max_old_space_mb
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.reaper: subprocess.Popen[bytes] | None = None
        self.profile: str | None = None
        self.version = ""
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[str, Callable[[str, dict[str, Any]], None]] = {}
        self._lost: str | None = None

    @property
    def pid(self) -> int | None:
        """The browser's PID, which is also its process group's id."""
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        """Running and connected."""
        return (self.proc is not None and self.proc.poll() is None and self._ws is not None
                and self._lost is None)

    def args(self) -> list[str]:
        """The command line (without the binary)."""
        args = list(BASE_FLAGS)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        args += [f"--js-flags=--max-old-space-size={self.max_old_space_mb}",
                 f"--user-data-dir={self.profile}", *self.extra_args, "about:blank"]
        return args

    async def start(self) -> None:
        """Launch the browser and connect to it.

        Raises:
            ChromiumError: it did not start, or its DevTools port did not open in time.
        """
        self.profile = tempfile.mkdtemp(prefix="wsmonitor-chromium-")
        self.reaper = subprocess.Popen(
            [sys.executable, "-c", REAPER], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        stderr_path = os.path.join(self.profile, "stderr.log")
        env = dict(os.environ)
        # Chromium's singleton socket lives in $TMPDIR and a Unix socket path has 107 bytes at
        # most: a long TMPDIR kills it at start ("Socket path too long"). Its own profile
        # directory is private and removed with it; /tmp when even that is too long.
        env["TMPDIR"] = self.profile if len(self.profile) <= SOCKET_DIR_MAX else "/tmp"
        try:
            with open(stderr_path, "wb") as err:
                self.proc = subprocess.Popen(
                    [self.binary, *self.args()], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                    close_fds=True, env=env)
        except OSError as exc:
            self.kill()
            raise ChromiumError(f"cannot run {self.binary}: {exc.strerror or exc}") from None
        self._tell_reaper(f"add {self.proc.pid} {self.profile}")
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            url = await self._devtools_url(stderr_path)
            self._ws = await asyncio.wait_for(
                connect(url, max_size=32 * 1024 * 1024, ping_interval=None, open_timeout=None,
                        close_timeout=1), CALL_TIMEOUT)
            self._reader = asyncio.create_task(self._read(), name="chromium-cdp")
            version = await self.call("Browser.getVersion")
            self.version = str(version.get("product", ""))
            # The start-up about:blank tab keeps a renderer awake between loads (~0.4 % of a
            # core, two processes): each load opens a tab of its own, so close it.
            targets = await self.call("Target.getTargets")
            for info in targets.get("targetInfos", []):
                if info.get("type") == "page":
                    with contextlib.suppress(ChromiumError):
                        await self.call("Target.closeTarget", targetId=info["targetId"])
        except BaseException:
            self.kill()
            raise

    async def _devtools_url(self, stderr_path: str) -> str:
        assert self.proc is not None and self.profile is not None
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + self.start_timeout
        while True:
            with contextlib.suppress(OSError):
                with open(port_file, encoding="ascii") as fh:
                    lines = fh.read().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            code = self.proc.poll()
            if code is not None:
                raise ChromiumError(f"{self.binary} exited with status {code} at start"
                                    f"{_tail(stderr_path)}")
            if time.monotonic() > deadline:
                raise ChromiumError(f"{self.binary} did not open its DevTools port within "
                                    f"{self.start_timeout:g} s{_tail(stderr_path)}")
            await asyncio.sleep(0.05)

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                mid = message.get("id")
                if mid is not None:
                    future = self._pending.pop(mid, None)
                    if future is not None and not future.done():
                        future.set_result(message)
                    continue
                listener = self._listeners.get(message.get("sessionId", ""))
                if listener is not None:
                    try:
                        listener(str(message.get("method", "")), message.get("params") or {})
                    except Exception:  # noqa: BLE001 - a bad event must not stop the reader
                        log.debug("CDP listener failed", exc_info=True)
        except (WebSocketException, OSError, ValueError) as exc:
            self._lost = f"the DevTools connection was lost ({type(exc).__name__})"
        finally:
            self._lost = self._lost or "the DevTools connection was closed"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ChromiumError(self._lost))
            self._pending.clear()

    async def call(self, method: str, session: str | None = None, *,
                   timeout: float = CALL_TIMEOUT, **params: Any) -> dict[str, Any]:
        """Send one CDP command and wait for its result.

        Raises:
            ChromiumError: the browser answered with an error, or not in time, or is gone.
        """
        if self._ws is None or self._lost is not None:
            raise ChromiumError(self._lost or "the browser is not running")
        mid = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[mid] = future
        message: dict[str, Any] = {"id": mid, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        try:
            await self._ws.send(json.dumps(message))
            answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ChromiumError(f"no answer to {method} within {timeout:g} s") from None
        except (WebSocketException, OSError) as exc:
            raise ChromiumError(f"the DevTools connection failed ({type(exc).__name__})") \
                from None
        finally:
            self._pending.pop(mid, None)
        if "error" in answer:
            error = answer["error"]
            raise ChromiumError(f"{method}: {error.get('message', error)}")
        return answer.get("result") or {}

    def listen(self, session: str, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Receive the events of one session (``listener(method, params)``)."""
        self._listeners[session] = listener

    def unlisten(self, session: str) -> None:
        self._listeners.pop(session, None)

    def memory_kib(self) -> tuple[int, int] | None:
        """``(rss, anonymous)`` memory of the browser's processes, KiB (see
        `group_memory_kib`)."""
        return group_memory_kib(self.proc.pid) if self.proc is not None else None

    def _tell_reaper(self, line: str) -> None:
        reaper = self.reaper
        if reaper is None or reaper.stdin is None:
            return
        try:
            reaper.stdin.write(line.encode() + b"\n")
            reaper.stdin.flush()
        except (OSError, ValueError):
            pass

    async def close(self) -> None:
        """Stop the browser: close the connection, then its process group by id."""
        ws, self._ws = self._ws, None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        self.kill()

    def kill(self) -> None:
        """Stop everything now, synchronously: the group by SIGKILL, the reaper, the profile.

        Safe to call more than once, from any thread, and from a ``finally`` of a cancelled
        task.
        """
        proc, self.proc = self.proc, None
        if self._ws is not None:
            self._lost = self._lost or "the browser was stopped"
            transport = getattr(self._ws, "transport", None)
            with contextlib.suppress(Exception):
                if transport is not None:
                    transport.abort()
            self._ws = None
        if proc is not None:
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_GRACE)
            # Its children are in the group too: wait until the kernel has taken them.
            deadline = time.monotonic() + STOP_GRACE
            while group_members(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            self._tell_reaper(f"done {proc.pid}")
        reaper, self.reaper = self.reaper, None
        if reaper is not None:
            with contextlib.suppress(OSError, ValueError):
                if reaper.stdin is not None:
                    reaper.stdin.close()
            try:
                reaper.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                reaper.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    reaper.wait(1)
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None
        with _LIVE_LOCK:
            _LIVE.discard(self)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, sig)


def _tail(path: str, limit: int = 300) -> str:
    """The last line of the browser's stderr, for a start-up error (redacted by the caller)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            lines = [ln for ln in fh.read().decode("utf-8", "replace").splitlines()
                     if ln.strip()]
    except OSError:
        return ""
    # Chromium logs noise (dbus, crashpad) before the line that says why it died.
    fatal = [ln for ln in lines if "FATAL" in ln]
    line = (fatal or lines or [""])[-1]
    return f": {line[-limit:]}" if line else ""
