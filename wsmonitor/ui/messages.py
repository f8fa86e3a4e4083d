"""Messages that carry data from other threads into the app (past tense: it happened)."""

from __future__ import annotations

from textual.message import Message

from wsmonitor.verdict import Verdict


class VerdictReady(Message):
    """The verdict pipeline judged new evidence: every pane draws this one verdict."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__()
        self.verdict = verdict
