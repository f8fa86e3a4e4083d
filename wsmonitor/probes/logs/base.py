"""What every log source shares: the batch it hands the probe, its protocol, bounded buffers."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wsmonitor.log_rules import RawLine

AT_STARTUP = 0.0
"""The timestamp a source gives a line it read at start-up (the backlog a file or a command
shows first): the probe takes the time written in the line, and a line with none is history of
unknown age, never a recent error."""


@dataclass(slots=True)
class Batch:
    """What a source hands the probe in one run."""

    lines: list[RawLine] = field(default_factory=list)
    """``(location, timestamp, event_id, text)`` in arrival order per location. The timestamp
    is the event's own (CloudWatch), or when the line was read (file, command: see
    `LogSource.read_times`), or `AT_STARTUP`."""
    error: str | None = None
    """Redacted description of a fault (the source keeps going)."""
    error_kind: str | None = None


class LogSource(Protocol):
    """Where log lines come from."""

    kind: str
    """``cloudwatch``, ``file`` or ``command``."""
    timeout: float
    read_times: bool
    """True when the timestamps handed over are the moments lines were read: the time written
    in a line then wins (file, command). False when they are the events' own (CloudWatch)."""

    def interval(self, base: float) -> float: ...

    async def fetch(self) -> Batch: ...

    def describe(self) -> dict[str, Any]:
        """Extra `LogsSample` fields (mode, target …)."""
        ...

    async def close(self) -> None: ...


class _BoundedQueue:
    """A thread-safe FIFO that drops its oldest lines when full, counting them."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[Any] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._lock:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)

    def extend(self, items: Sequence[Any]) -> None:
        with self._lock:
            room = (self._items.maxlen or 0) - len(self._items)
            if len(items) > room:
                self.dropped += len(items) - room
            self._items.extend(items)

    def drain(self, limit: int) -> list[Any]:
        with self._lock:
            n = min(limit, len(self._items))
            return [self._items.popleft() for _ in range(n)]

    def __len__(self) -> int:
        return len(self._items)


class _Seen:
    """A set that forgets its oldest keys beyond `maxlen` (dedupe without unbounded growth)."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._set: set[Any] = set()
        self._order: deque[Any] = deque()

    def add(self, key: Any) -> bool:
        """Remember `key`; True when it was new."""
        if key in self._set:
            return False
        self._set.add(key)
        self._order.append(key)
        if len(self._order) > self.maxlen:
            self._set.discard(self._order.popleft())
        return True

    def __contains__(self, key: Any) -> bool:
        return key in self._set

    def __len__(self) -> int:
        return len(self._set)
