"""Messages that carry data from the engine's thread into the app (past tense: it happened)."""

from __future__ import annotations

from textual.message import Message

from wsmonitor.samples import Sample


class SampleReceived(Message):
    """The engine published a sample."""

    def __init__(self, sample: Sample) -> None:
        super().__init__()
        self.sample = sample
