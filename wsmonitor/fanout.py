"""One list of subscribers, safe across threads: the engine's samples and the pipeline's
verdicts both reach their subscribers through it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class Fanout(Generic[T]):
    """Hands each published item to every subscriber, in the publisher's thread.

    Args:
        what: Names the items in the log line of a failing subscriber.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[T], None]] = []

    def subscribe(self, subscriber: Callable[[T], None]) -> Callable[[], None]:
        """Receive every item published from now on; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, item: T) -> None:
        """Hand `item` to every subscriber; one that raises is logged and the others still run."""
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(item)
            except Exception:  # noqa: BLE001 - one bad subscriber must not stop the others
                log.exception("%s subscriber %r failed", self.what, subscriber)
