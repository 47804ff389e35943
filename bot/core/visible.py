"""Stored text shown to a person (a moderator's terminal, an audit card in Discord): control and bidi characters
rendered visibly, so that text a member typed can neither drive the reader's terminal (ESC sequences, BEL, BS, a
CR that overwrites the line) nor reorder what is read (U+202E and the other bidi overrides and isolates).

The database keeps what was typed, raw: this is only how it is shown. Zero-width characters stay as they are (the
mention defusing in bot/core/admission.py relies on U+200B).
"""

from __future__ import annotations

from typing import TextIO

BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""The Unicode bidi controls: marks, embeddings, overrides and isolates."""
SEPARATORS = frozenset("\u2028\u2029")


def _shown(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␛ ␇ ␀ ␈ ␍ …
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


_TABLE = {code: _shown(chr(code)) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_TABLE.update({ord(char): _shown(char) for char in BIDI | SEPARATORS})
_TABLE_KEEPING_LINES = {code: shown for code, shown in _TABLE.items() if chr(code) not in "\n\t"}
_TABLE_KEEPING_TABS = {code: shown for code, shown in _TABLE.items() if chr(code) != "\t"}


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control and bidi character shown as a symbol (`␛`, `<U+202E>`); tabs kept, and newlines
    kept where `keep_newlines` (a CR LF pair read as one newline), else shown as `␊` (one line stays one line)."""
    if keep_newlines:
        return text.replace("\r\n", "\n").translate(_TABLE_KEEPING_LINES)
    return text.translate(_TABLE_KEEPING_TABS)


class VisibleWriter:
    """A text stream that writes through `visible(..., keep_newlines=True)`: for terminals."""

    def __init__(self, out: TextIO) -> None:
        self.raw = out

    def write(self, text: str) -> int:
        return self.raw.write(visible(text, keep_newlines=True))

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()


def for_terminal(out: TextIO) -> TextIO:
    """`out` wrapped in a `VisibleWriter` (once)."""
    return out if isinstance(out, VisibleWriter) else VisibleWriter(out)  # type: ignore[return-value]
