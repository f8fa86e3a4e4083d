"""The channel-layer probe's samples and vocabulary.

Beside `wsmonitor.samples` so that the rules, the UI and replay read them without importing the
probe; `wsmonitor.probes.channel_layer` re-exports them. Importing this module registers
`ChannelLayerSample` for replay.
"""

from __future__ import annotations

from dataclasses import dataclass

from wsmonitor.samples import Sample, register_sample_type

NAME = "channel-layer"
"""The probe's name, and the check it feeds."""

EXTRA_HINT = "install wsmonitor[channels]"
"""What to do when channels_redis is missing."""

NOTIFY_EVENT_TYPE = "notify"
"""The default ``type`` of the group message (``--notify-type``): Channels dispatches it to the
consumer's handler method (``notify(self, event)``), which forwards (part of) the event to the
socket, as the runbook's notification consumer forwards ``event["message"]``."""

PROBE_MESSAGE_TYPE = "wsmonitor.probe"
"""The ``type`` of the notification the socket should receive (``event["message"]``)."""

ERROR_TEXT = {
    "out-of-memory": "Redis is out of memory (used_memory > maxmemory): writes are refused",
    "lost": "sent, but nothing came back on the channel",
    "mismatch": "another message came back than the one sent",
    "channel-full": "the channel is at capacity (ChannelFull)",
}
"""Failure kinds of the round trip besides `classify_redis_error`'s."""



@register_sample_type
@dataclass(frozen=True, slots=True)
class ChannelLayerSample(Sample):
    """One send → receive round trip on a fresh channel."""

    server: str = ""
    """host:port of the first Redis host (never the password)."""
    tls: bool = False
    """``rediss://``."""
    phase: str = "send"
    """The last phase reached: ``send``, ``receive`` or ``done``."""
    channel: str | None = None
    """The fresh channel the message went through."""
    send_ms: float | None = None
    """``send()``, connection set-up included on the first run."""
    receive_ms: float | None = None
    """``receive()`` of the message just sent."""
    round_trip_ms: float | None = None
    """Send and receive together."""
    delivery_group: str | None = None
    """The group the held socket's notifications go to (None: delivery is not wired)."""
    commands: int = 0
    """Commands this run sent (about)."""
    own_commands_total: int = 0
    """Commands the probe and its deliveries have sent since it started (about)."""


@dataclass(frozen=True, slots=True)
class ChannelLayerFacts:
    """What the checks need to know of the channel-layer wiring (no secrets)."""

    round_trip: str | None = None
    """Why the round trip is not probed; None when it is."""
    delivery: str | None = None
    """Why notification delivery is not probed; None when it is."""
    group: str | None = None
    """The probe user's group."""
    notify_type: str = NOTIFY_EVENT_TYPE
    """The ``type`` of the delivery's ``group_send`` (``--notify-type``)."""
