"""Probes, checks and the engine never import Textual: they serve check, record and metrics too."""

from __future__ import annotations

import subprocess
import sys


def test_core_modules_import_without_textual() -> None:
    code = (
        "import sys\n"
        "import wsmonitor.engine, wsmonitor.checks, wsmonitor.probes.redis, wsmonitor.report\n"
        "import wsmonitor.runtime, wsmonitor.config, wsmonitor.recorder\n"
        "import pkgutil, importlib, wsmonitor.probes\n"
        "for m in pkgutil.iter_modules(wsmonitor.probes.__path__):\n"
        "    importlib.import_module('wsmonitor.probes.' + m.name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from wsmonitor.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('textual', 'redis', 'boto3', 'websockets', 'httpx') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
