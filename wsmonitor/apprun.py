"""What the commands that run a dashboard share: bad input as one line, the recorder, the app run.

`wsmonitor.cli` and `wsmonitor.serve` (whose per-browser subprocess runs the app) both import
this module, so neither imports the other. Light on purpose: ``--help`` imports it.
"""

from __future__ import annotations

import sys
from typing import Any

EXIT_USAGE = 2
"""Exit status of bad input."""


class UsageError(Exception):
    """Bad input: one line, exit 2."""


def fail(message: str) -> int:
    """Print ``wsmonitor: error: <message>`` (redacted, one line) on stderr; `EXIT_USAGE`."""
    from wsmonitor.secrets import redact

    line = redact(message).replace("\n", " ").strip()
    print(f"wsmonitor: error: {line}", file=sys.stderr)
    return EXIT_USAGE


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


def make_recorder(settings: Any, engine: Any) -> Any:
    """A recorder of the engine's samples to ``settings.record``, subscribed; None without one.

    Raises:
        UsageError: The file cannot be written.
    """
    if not settings.record:
        return None
    from wsmonitor.recorder import Recorder, RecordError, recording_header

    try:
        recorder = Recorder(settings.record, recording_header(settings, engine))
    except RecordError as exc:
        raise UsageError(str(exc)) from None
    engine.subscribe(recorder)
    return recorder
