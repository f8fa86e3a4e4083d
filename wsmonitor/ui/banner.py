"""The verdict banner: the broken layer in large letters, in colour with its icon, its one-line
"do first" beside it, its confidence and its age — the first thing read on a wall at three
metres, and still whole at 80x24.

Three rows in every layout. Wide enough, the layer is drawn in a 3-row block font (half-block
characters: they scale with the terminal's font, in every theme and in ANSI colours); narrower,
it is one bold word on a coloured band, with the "do first" wrapped over the two rows under it.
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass

from textual.content import Content
from textual.markup import escape
from textual.widgets import Static

from wsmonitor.rules.base import Diagnosis
from wsmonitor.secrets import redact
from wsmonitor.ui.format import age_text

# A 3x5 pixel font, drawn two pixel rows per character row with half blocks.
_FONT: dict[str, tuple[str, ...]] = {
    "A": (".#.", "#.#", "###", "#.#", "#.#"), "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": (".##", "#..", "#..", "#..", ".##"), "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"), "F": ("###", "#..", "##.", "#..", "#.."),
    "G": (".##", "#..", "#.#", "#.#", ".##"), "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"), "J": ("..#", "..#", "..#", "#.#", ".#."),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"), "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#.#", "###", "###", "#.#", "#.#"), "N": ("##.", "#.#", "#.#", "#.#", "#.#"),
    "O": (".#.", "#.#", "#.#", "#.#", ".#."), "P": ("##.", "#.#", "##.", "#..", "#.."),
    "Q": (".#.", "#.#", "#.#", "##.", ".##"), "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": (".##", "#..", ".#.", "..#", "##."), "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"), "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#.#", "#.#", "###", "###", "#.#"), "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."), "Z": ("###", "..#", ".#.", "#..", "###"),
    "-": ("...", "...", "###", "...", "..."), "?": ("##.", "..#", ".#.", "...", ".#."),
    " ": ("...", "...", "...", "...", "..."),
}
_HALF = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def big_text(word: str) -> tuple[str, str, str]:
    """`word` in the block font: three rows of equal width (4 columns a letter)."""
    rows = ["", "", ""]
    for ch in word.upper():
        glyph = _FONT.get(ch, _FONT["?"])
        pixels = [*glyph, "..."]
        for r in range(3):
            top, bottom = pixels[2 * r], pixels[2 * r + 1]
            rows[r] += "".join(_HALF[(top[c] == "#", bottom[c] == "#")] for c in range(3)) + " "
    return rows[0], rows[1], rows[2]


WORD = {"none": "OK", "unknown": "UNKNOWN"}
"""What the large word says for the two verdicts that are not a layer."""

ICON = {"none": "✔", "unknown": "?"}
"""The icon beside the word (✖ for every broken layer)."""

STYLE = {"none": "success", "unknown": "secondary"}
"""The theme colour of the band (error for every broken layer)."""

HEADLINE = {"none": "nothing broken found", "unknown": "not decided yet"}

WIDE = 100
"""Columns from which the large word is always drawn."""

TEXT_ROOM = 56
"""Columns the text beside the large word needs; with less, the compact layout is used."""


@dataclass(frozen=True, slots=True)
class BannerState:
    """What the banner was last asked to show (redrawn from it on resize)."""

    diagnosis: Diagnosis
    confirmed: bool
    since: float | None
    now: float
    paused: bool
    pending: str | None = None


class VerdictBanner(Static):
    """The diagnosis, as the most visible element on the screen."""

    DEFAULT_CSS = """
    VerdictBanner {
        height: 3;
        padding: 0 1 0 0;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    _state: BannerState | None = None

    def show(self, diagnosis: Diagnosis, *, confirmed: bool, since: float | None, now: float,
             paused: bool, pending: str | None = None) -> None:
        """Draw a verdict.

        Args:
            diagnosis: The verdict shown (``layer``, ``confidence``, ``summary``, ``remedy``).
            confirmed: False while it is a candidate still being confirmed.
            since: When the shown layer was first reached.
            now: The clock of the evidence (the replay's when replaying).
            paused: The probes are paused: the verdict is as it stood when they stopped.
            pending: While `diagnosis` is a candidate (not `confirmed`), the layer it would
                replace.
        """
        self._state = BannerState(diagnosis, confirmed, since, now, paused, pending)
        self._draw()

    def on_resize(self) -> None:
        if self._state is not None:
            self._draw()

    def plain(self) -> str:
        """The banner's text without markup (for tests)."""
        visual = self.visual
        return getattr(visual, "plain", str(visual))

    def _draw(self) -> None:
        state = self._state
        assert state is not None
        d = state.diagnosis
        layer = d.layer
        broken = layer not in WORD
        # A candidate still being confirmed is drawn in the warning colour, whatever its layer.
        colour = STYLE.get(layer, "error") if state.confirmed else "warning"
        icon = ICON.get(layer, "✖")
        word = WORD.get(layer, layer.upper())
        headline = HEADLINE.get(layer, f"broken layer: {layer}")
        remedy = escape(redact(d.remedy))
        summary = escape(redact(d.summary))
        status = self._status(state, broken)
        width = self.content_size.width or self.size.width or 80
        band = f"[b $background on ${colour}]"
        big = big_text(word)
        beside = width - (len(big[0]) + 5)
        # The large word when there is room beside it for the text: on a wide screen, or when
        # the "do first" fits whole on its row (else the compact layout gives it two rows).
        if beside >= TEXT_ROOM and (width >= WIDE or len(d.remedy) + 10 <= beside):
            # The icon on a band of the verdict's colour, the word in that colour beside it.
            rows = [(f"{band} {icon} [/]" if r == 1 else f"[on ${colour}]   [/]")
                    + f" [b ${colour}]{escape(big[r])}[/]" for r in range(3)]
            room = max(20, beside - 1)
            texts = self._beside(d, room, 4 if self._tall() else 3,
                                 f"[b]Diagnosis[/] [${colour}]{escape(headline)}[/] · {status}")
            # A fourth row starts under the text, not under the large word.
            lines = [f"{rows[r] if r < 3 else ' ' * (len(big[0]) + 4)} {text}"
                     for r, text in enumerate(texts)]
        else:
            # The headline in words too ("broken layer: redis"): what scripts and screen readers
            # find on every layout; the clock goes first when the row is short of room.
            words = f" [${colour}]{escape(headline)}[/] ·"
            head = f"{band} {icon} {escape(word)} [/] [b]Diagnosis[/]{words} {status}"
            if Content.from_markup(head).cell_length > width:
                short = self._status(state, broken, clock=False)
                head = f"{band} {icon} {escape(word)} [/] [b]Diagnosis[/]{words} {short}"
            room = max(20, width - 11)
            wrapped = textwrap.wrap(redact(d.remedy), room) or [""]
            if len(wrapped) == 1:
                lines = [head, f"[b]Do first:[/] {remedy}", f"[$text-muted]{summary}[/]"]
            else:
                rest = " ".join(redact(d.remedy).split()[len(wrapped[0].split()):])
                lines = [head, f"[b]Do first:[/] {escape(wrapped[0])}",
                         f"           {escape(rest)}"]
        self.styles.height = len(lines)
        self.update("\n".join(lines))
        for name in ("none", "unknown", "broken"):
            self.set_class((layer if not broken else "broken") == name, f"-layer-{name}")
        self.set_class(state.paused, "-paused")
        self.set_class(not state.confirmed, "-unconfirmed")

    @staticmethod
    def _beside(d: Diagnosis, room: int, most: int, diagnosis_line: str) -> list[str]:
        """The text beside the large word: the "do first", the diagnosis line, the summary —
        the first and last wrapped at `room` over the rows left (`most` in all), cut with an
        ellipsis only when they do not fit."""
        remedy = textwrap.wrap("Do first: " + redact(d.remedy), room) or ["Do first:"]
        summary = textwrap.wrap(redact(d.summary), room) or [""]
        do_rows = min(len(remedy), max(1, most - 2))
        summary_rows = max(1, min(len(summary), most - 1 - do_rows))

        def cut(lines: list[str], n: int) -> list[str]:
            shown = lines[:n]
            if len(lines) > n:
                shown[-1] = shown[-1][:room - 1].rstrip() + "…"
            return shown

        first, *more = cut(remedy, do_rows)
        out = ["[b]Do first:[/]" + escape(first[len("Do first:"):])]
        out += [escape(line) for line in more]
        out.append(diagnosis_line)
        out += [f"[$text-muted]{escape(line)}[/]" for line in cut(summary, summary_rows)]
        return out

    def _tall(self) -> bool:
        """The screen has 40 lines or more: the banner may take a fourth."""
        try:
            return self.screen.size.height >= 40
        except Exception:  # noqa: BLE001 - not mounted yet
            return False

    @staticmethod
    def _status(state: BannerState, broken: bool, clock: bool = True) -> str:
        d = state.diagnosis
        parts = []
        if not state.confirmed:
            parts.append("[$warning]unconfirmed[/]")
        elif broken or d.confidence != "confirmed":
            parts.append(escape(d.confidence))
        if state.since is not None:
            age = age_text(state.now - state.since)
            if clock:
                at = time.strftime("%H:%M:%S", time.localtime(state.since))
                parts.append(f"since {at} ({age})")
            else:
                parts.append(f"for {age}")
        if state.pending:
            parts.append(f"was {escape(state.pending)}, confirming")
        if state.paused:
            parts.append("[b $warning]PAUSED[/] verdict as the probes left it · p resumes")
        return " · ".join(parts)
