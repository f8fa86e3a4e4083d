"""wsmonitor: which layer broke the WebSocket notifications, with evidence."""

from __future__ import annotations

__version__ = "0.1.0"
