"""The built-in demo target: the runbook's stack on loopback, with a switch for every failure.

`DemoStack` starts it (Redis, the WebSocket/HTTP service, its log) and points wsmonitor at it;
`FAULTS` lists the switches with what wsmonitor should say about each. Importing this package
is cheap (``wsmonitor --help`` reads the fault names); the rest loads on first use.
"""

from __future__ import annotations

from typing import Any

from wsmonitor.demo.faults import BY_NAME, FAULT_NAMES, FAULTS, Fault, fault

_LAZY = {
    "DemoStack": "wsmonitor.demo.stack", "DemoTokens": "wsmonitor.demo.stack",
    "BACKENDS": "wsmonitor.demo.target", "DemoRedis": "wsmonitor.demo.target",
    "DemoUnavailable": "wsmonitor.demo.target",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BACKENDS", "BY_NAME", "FAULTS", "FAULT_NAMES", "DemoRedis", "DemoStack",
           "DemoTokens", "DemoUnavailable", "Fault", "fault"]
