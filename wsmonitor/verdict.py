"""One verdict pipeline: samples → pure rules → one `Verdict`, published to every subscriber.

The engine publishes samples; `VerdictPipeline` subscribes to it, judges the history once per
change of evidence (a burst of samples is coalesced into one judgement) and hands the same
immutable `Verdict` to every subscriber: the screen, ``check``, ``watch``, the recorder, exports
and the metrics exporter. Nothing downstream judges again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from wsmonitor.checks import FAIL, CheckResult, Diagnosis
from wsmonitor.samples import Sample


@dataclass(frozen=True, slots=True)
class Verdict:
    """Everything the rules settled at one moment: every check and the diagnosis above them."""

    at: float
    """When it was judged (the replay clock when replaying)."""
    diagnosis: Diagnosis
    """The raw verdict of the rules on this evidence."""
    checks: tuple[CheckResult, ...]
    shown: Diagnosis
    """What the banner shows: `diagnosis` once confirmed; while a new layer is being
    confirmed, that candidate with ``confirmed=False`` — never an older, greener verdict."""
    confirmed: bool = True
    """False while `shown` is a candidate still being confirmed."""
    since: float | None = None
    """When the shown layer was first reached."""
    history: Mapping[str, Sequence[Sample]] = field(default_factory=dict)
    """The samples it was judged on (per probe, oldest first)."""
    seq: int = 0
    """Counts verdicts published by one pipeline."""

    @property
    def failing(self) -> tuple[str, ...]:
        """Ids of the checks that fail."""
        return tuple(c.id for c in self.checks if c.status == FAIL)

    @property
    def exit_code(self) -> int:
        """1 when any check failed, else 0."""
        return 1 if self.failing else 0

    def check(self, cid: str) -> CheckResult | None:
        """One check's result by id."""
        return next((c for c in self.checks if c.id == cid), None)


VerdictSubscriber = Callable[[Verdict], None]
"""Called with every published verdict; must be quick and thread-safe."""

