"""Helpers shared by the channel-layer tests (also imported by tests/handshake/test_delivery_*)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from typing import Any

import jsonschema


def run_wsmonitor(*args: str, env: dict[str, str] | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m wsmonitor ARGS`` without the caller's WSMONITOR_*/REDIS_URL environment."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("WSMONITOR_") and k not in ("REDIS_URL", "AWS_ENDPOINT_URL")}
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "wsmonitor", *args], capture_output=True,
                          text=True, env=base, timeout=timeout, stdin=subprocess.DEVNULL)


def report_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package."""
    text = resources.files("wsmonitor").joinpath("report.schema.json").read_text("utf-8")
    return json.loads(text)


def validate_report(report: dict[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` unless the report matches the shipped schema."""
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(report)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["checks"]}
