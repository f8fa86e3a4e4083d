"""The time written in a log line: Daphne/Django, access logs, ISO-8601, syslog.

An event is judged at the time it was logged, never at the time wsmonitor read it: a tail that
starts two minutes after an outage must see its errors as two minutes old. Lines with no time
keep the time they were read, except those read at start-up (the backlog a tail prints first),
whose age nobody knows: they are history.

Times without a zone are local time (the machine wsmonitor runs on). A source whose lines, read
as they are written, show another zone a whole number of quarter hours off (pods logging UTC,
read from a laptop in Europe; Django logging in its TIME_ZONE) is corrected for, by `ZoneGuess`:
from lines read as they are written, and at start-up from a log file's modification time when
its last line is a whole number of quarter hours off it, to the second (every zone's offset is).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from functools import lru_cache

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_MON = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"

HEAD_CHARS = 96
"""Only the start of a line is searched: a time further in is part of the message (a token's
``exp``, a date a user typed), not the time the line was written."""

_TIME = re.compile(
    # ISO-8601 and Python logging's asctime: 2026-11-26T10:00:03.377Z, 2026-11-26 10:00:03,377,
    # hypercorn's [2026-11-26 10:00:03 +0000], docker/kubectl --timestamps' nanoseconds.
    r"(?<!\d)(?P<iso>(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[T ](?P<h>\d{2}):(?P<mi>\d{2})"
    r":(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?(?: ?(?P<z>Z|[+-]\d{2}:?\d{2})(?!\d))?)"
    # Access logs (Daphne, nginx, common log format): [26/Nov/2026:10:00:02] or with +0000.
    rf"|\[(?P<clf>(?P<cd>\d{{2}})/(?P<cmo>{_MON})/(?P<cy>\d{{4}}):(?P<ch>\d{{2}}):(?P<cmi>\d{{2}})"
    r":(?P<cs>\d{2})(?: (?P<cz>[+-]\d{4}))?)\]"
    # Syslog and journalctl's short format: Nov 26 10:00:03 (no year).
    rf"|(?<![\w/])(?P<sys>(?P<smo>{_MON}) {{1,2}}(?P<sd>\d{{1,2}}) (?P<sh>\d{{2}}):(?P<smi>\d{{2}})"
    r":(?P<ss>\d{2}))(?![\d:])"
)

_CLOCK = re.compile(r":\d\d:\d\d")

FUTURE_SLACK = 300.0
"""Seconds a written time may lie ahead of the moment it was read (clocks drift a little). A
time further ahead is not believed: the line's zone was misread."""


def line_time(text: str, read_at: float | None = None) -> tuple[float, bool] | None:
    """The time written at the start of a log line.

    Args:
        text: The line (only its first `HEAD_CHARS` characters are searched).
        read_at: When it was read (epoch seconds): a syslog time, which has no year, takes the
            year that puts it not after this moment.

    Returns:
        ``(epoch seconds, naive)`` — naive when the line named no zone (then it was read as
        local time) — or None when the line carries no time.
    """
    end = text.find("\n", 0, HEAD_CHARS)
    if end < 0:
        end = HEAD_CHARS
    # Every format has a clock (10:00:03), and most lines have none: finding ":dd:dd" is a quick
    # scan (its first character is a literal). The formats are then tried where each would
    # start: ISO and syslog dates end just before the hour, an access log's before its ':'.
    clock = _CLOCK.search(text, 0, end)
    m = None
    while clock is not None:
        at = clock.start()
        for start in (at - 13, at - 12, at - 9, at - 8):
            if start >= 0:
                m = _TIME.match(text, start, end)
                if m is not None:
                    break
        if m is not None:
            break
        clock = _CLOCK.search(text, at + 1, end)
    if m is None:
        return None
    if m.group("iso"):
        return _iso(m.group("iso"))
    if m.group("clf"):
        return _clf(m.group("clf"))
    year = time.localtime(read_at if read_at is not None else time.time()).tm_year
    when = _syslog(m.group("sys"), year)
    if when is not None and read_at is not None and when[0] > read_at + 86_400:
        when = _syslog(m.group("sys"), year - 1)  # December's lines read in January
    return when


@lru_cache(maxsize=4096)
def _iso(text: str) -> tuple[float, bool] | None:
    # Lines of one second share their text up to the fraction: cache on the whole match.
    m = _TIME.match(text)
    if m is None:  # pragma: no cover - `text` is a match of the same pattern
        return None
    frac = m.group("f") or ""
    micro = int((frac + "000000")[:6]) if frac else 0
    return _epoch(int(m.group("y")), int(m.group("mo")), int(m.group("d")), int(m.group("h")),
                  int(m.group("mi")), int(m.group("s")), micro, m.group("z"))


@lru_cache(maxsize=4096)
def _clf(text: str) -> tuple[float, bool] | None:
    m = re.fullmatch(rf"(\d{{2}})/({_MON})/(\d{{4}}):(\d{{2}}):(\d{{2}}):(\d{{2}})(?: ([+-]\d{{4}}))?",
                     text)
    if m is None:  # pragma: no cover - `text` is a match of the same pattern
        return None
    return _epoch(int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)), int(m.group(4)),
                  int(m.group(5)), int(m.group(6)), 0, m.group(7))


@lru_cache(maxsize=4096)
def _syslog(text: str, year: int) -> tuple[float, bool] | None:
    mon, day, clock = text.split()
    h, mi, s = (int(x) for x in clock.split(":"))
    return _epoch(year, _MONTHS[mon], int(day), h, mi, s, 0, None)


def _epoch(y: int, mo: int, d: int, h: int, mi: int, s: int, micro: int,
           zone: str | None) -> tuple[float, bool] | None:
    tz = None
    if zone:
        if zone == "Z":
            tz = timezone.utc
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 23 or minutes > 59:
                return None
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        # A leap second (:60) is the next second's start.
        extra = 1 if s == 60 else 0
        when = datetime(y, mo, d, h, mi, s - extra, micro, tzinfo=tz)
        return when.timestamp() + extra, tz is None
    except (ValueError, OverflowError, OSError):
        return None  # 2026-13-45: a number that looks like a date, not a time


class ZoneGuess:
    """The correction for a source whose zone-less times are not local time.

    Lines read as they are written (after the start-up backlog) were written moments before:
    when their zone-less times are off from the moment they were read by close to a whole
    number of quarter hours (at least one), the source logs in another zone, and that offset is
    added to its zone-less times from then on. Backlog lines teach nothing (their age is
    unknown).
    """

    QUARTER = 900.0
    TOLERANCE = 120.0
    """How far from a whole quarter hour the gap may be (a busy log is read a little late)."""
    MAX_GAP = 26 * 3600 + 120.0
    """Zones lie at most 26 hours apart (UTC-12 to UTC+14)."""

    def __init__(self) -> None:
        self.offset = 0.0
        """Seconds added to zone-less times."""
        self._candidate: float | None = None

    def observe(self, naive_time: float, read_at: float) -> None:
        """Learn from a zone-less time read live (`read_at` is when it was read).

        An offset is adopted when two lines in a row agree on it, so one line a process kept
        in a buffer for a quarter of an hour does not shift the source.
        """
        gap = read_at - naive_time
        if abs(gap) > self.MAX_GAP:
            return  # a day and more: no zone is that far
        quarters = round(gap / self.QUARTER)
        if abs(gap - quarters * self.QUARTER) > self.TOLERANCE:
            return  # not a zone: a late line, or a time that is not the line's
        offset = quarters * self.QUARTER
        if offset == self._candidate:
            self.offset = offset
        self._candidate = offset

    def unexplained(self, corrected: float, read_at: float) -> bool:
        """Whether a live line's corrected zone-less time is still off from the moment it was
        read by whole quarter hours (a zone not learned yet)."""
        gap = read_at - corrected
        if gap <= self.TOLERANCE and gap >= -self.TOLERANCE or abs(gap) > self.MAX_GAP:
            return False
        quarters = round(gap / self.QUARTER)
        return abs(gap - quarters * self.QUARTER) <= self.TOLERANCE

    ANCHOR_TOLERANCE = 3.0
    """Seconds between a file's last line and its modification time (the line is the write)."""
    MIN_UTC_OFFSET = -12 * 3600.0
    MAX_UTC_OFFSET = 14 * 3600.0
    """The UTC offsets zones have (UTC-12 to UTC+14): a fit outside them is no zone."""

    def anchor(self, naive_time: float, written_at: float) -> None:
        """Learn from the backlog's last zone-less time (read as local time) and the moment the
        file was last written (the line is that write).

        When the two differ by a whole number of quarter hours to within `ANCHOR_TOLERANCE`
        seconds, and that makes the writer's UTC offset one a zone can have, the file is in
        that zone: every zone's offset is a whole number of quarter hours, whatever its name
        (UTC in a container, Django's TIME_ZONE, India's +5:30). Any other gap is the line's
        age: a file whose last line is old keeps being read in local time.
        """
        gap = written_at - naive_time
        if abs(gap) <= self.ANCHOR_TOLERANCE:
            return
        quarters = round(gap / self.QUARTER)
        shift = quarters * self.QUARTER
        if abs(gap - shift) > self.ANCHOR_TOLERANCE:
            return  # not a zone: the last line is that old
        try:
            local = datetime.fromtimestamp(naive_time).astimezone().utcoffset()
        except (OverflowError, OSError, ValueError):
            return
        # naive_time read the writer's wall clock as local time: the writer's UTC offset is
        # local's less the shift that puts the line at its write.
        writer = (local or timedelta(0)).total_seconds() - shift
        if self.MIN_UTC_OFFSET <= writer <= self.MAX_UTC_OFFSET:
            self.offset = self._candidate = shift

    def correct(self, naive_time: float) -> float:
        return naive_time + self.offset


__all__ = ["FUTURE_SLACK", "HEAD_CHARS", "ZoneGuess", "line_time"]
