"""The demo's fault switches: one per failure of the runbook, with what wsmonitor should say.

The expectations are data, so the tests, the soak and the fault menu all read the same table:
switched on, the ``token+origin`` handshake gets `Fault.classification`, the check
`Fault.check` fails and the diagnosis names `Fault.layer`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fault:
    """One failure the demo can reproduce."""

    name: str
    """The switch's name (``--fault NAME``)."""
    key: str
    """Its key in the dashboard's fault menu."""
    title: str
    """What breaks, in the runbook's words."""
    how: str
    """How the demo plays it."""
    classification: str
    """The ``token+origin`` handshake's classification while it is on."""
    check: str
    """The check that fails while it is on."""
    layer: str
    """The diagnosis layer that names it."""


FAULTS: tuple[Fault, ...] = (
    Fault("platform-cut", "1", "the platform blocks the upgrade",
          "upgrades are closed before any status line (App Runner); plain HTTP answers",
          "no-status-line", "platform-websocket", "platform"),
    Fault("proxy-502", "2", "the proxy answers 502",
          "a proxy in front answers 502 Bad Gateway to everything", "bad-gateway",
          "handshake-101", "proxy"),
    Fault("gateway-504", "3", "the gateway answers 504",
          "a gateway in front times out on the upgrade and answers 504; plain HTTP answers",
          "gateway-timeout", "handshake-101", "proxy"),
    Fault("origin-rejected", "4", "the Origin is rejected",
          "ALLOWED_HOSTS lists only app.example.com, not the demo's host", "forbidden",
          "allowed-hosts", "origin"),
    Fault("token-expired", "5", "the token is expired",
          "wsmonitor is handed expired access tokens", "forbidden", "jwt-valid", "auth"),
    Fault("consumer-stall", "6", "the consumer's connect() stalls",
          "connect() hangs on a slow call, Redis fine; Daphne drops it at 5 s (no status line)",
          "connect-stalled", "handshake-101", "consumer"),
    Fault("redis-down", "7", "Redis is down",
          "Redis stops listening and drops every connection", "server-error",
          "redis-reachable", "redis"),
    Fault("redis-max-clients", "8", "Redis is at its connection cap",
          "the cap is held where it is: new connections get 'max number of clients reached'",
          "ok", "redis-connections", "plan-limit"),
    Fault("quota-exceeded", "9", "the command quota is spent",
          "every command gets Upstash's 'ERR max daily request limit exceeded'",
          "server-error", "redis-commands", "plan-limit"),
    Fault("consumer-errors", "0", "the consumer raises",
          "every notification fails in its serializer: tracebacks in the log", "ok",
          "consumer-errors", "consumer"),
)
"""Every fault, in the order of the runbook's layers."""

FAULT_NAMES: tuple[str, ...] = tuple(f.name for f in FAULTS)
BY_NAME: dict[str, Fault] = {f.name: f for f in FAULTS}


def fault(name: str) -> Fault:
    """The fault called `name`.

    Raises:
        ValueError: Not a fault's name (the message lists them).
    """
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown fault {name!r}: use one of {', '.join(FAULT_NAMES)}") \
            from None
