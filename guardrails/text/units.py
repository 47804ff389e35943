"""Sentence units: text cut into the sentences (lines, for poems and lyrics) every rail scores one by one.

Quoted dialogue stays in one unit with its speaker tag: "'I will find you,' the Lich King hissed" is a story;
"I will find you" alone is a threat.
"""

from __future__ import annotations

import re

MIN_UNIT_CHARS = 40
"""A piece shorter than this that does not end a sentence (a poem's half line, a screenplay heading) joins the
next one: alone it carries no context, and a classifier trained on short tweets reads fragments as tweets."""
MIN_SENTENCE_CHARS = 15
"""A complete sentence shorter than this ("He smiled.", "Run!") joins the next one too. Longer complete sentences
stand alone, so a short abusive sentence cannot be diluted by padding it with a harmless one."""
MAX_UNIT_CHARS = 400
"""Longer units are cut again so the encoder's 256-token window never truncates away the end of one."""

_TERMINATORS = ".!?…"
_CLOSERS = "\"'”’)]»"
_OPEN_QUOTES = "“«„"
_CLOSE_QUOTES = "”»"
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st prof sr jr vs etc mt capt gen sgt lt col rev fr no vol ch fig approx e.g i.e".split()
)
_LIST_MARKER_DIGITS = 3


def _sentence_spans(text: str, start: int, end: int, *, respect_quotes: bool) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    in_quote = False
    seg_start = i = start
    while i < end:
        ch = text[i]
        closes = respect_quotes and ((ch == '"' and in_quote) or ch in _CLOSE_QUOTES)
        if closes:
            in_quote = False
            # A quote that ends its own sentence ("I will find you." The Duke smiled.) ends the unit, unless the
            # narration continues it ("Run!" she said.): a new sentence must not hide behind dialogue.
            j = i + 1
            if text[i - 1 : i] in _TERMINATORS and j < end and text[j].isspace():
                k = j
                while k < end and text[k].isspace():
                    k += 1
                if k < end and (text[k].isupper() or text[k] in '"“'):
                    spans.append((seg_start, j))
                    seg_start = j
        elif respect_quotes and (ch == '"' or ch in _OPEN_QUOTES):
            in_quote = True
        elif ch in _TERMINATORS and not in_quote:
            j = i + 1
            while j < end and text[j] in _TERMINATORS:
                j += 1
            while j < end and text[j] in _CLOSERS:
                j += 1
            if (j >= end or text[j].isspace()) and not _is_abbreviation(text, seg_start, i):
                spans.append((seg_start, j))
                seg_start = j
            i = j
            continue
        i += 1
    if seg_start < end:
        spans.append((seg_start, end))
    return spans


def _is_abbreviation(text: str, seg_start: int, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word_start = dot
    while word_start > seg_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot].lower().lstrip("(\"'“")
    # A number opening its segment is a list's marker ("1. Fill the jar."), not a sentence: cut there, the marker
    # joined a heading before it ("Ingredients:\n1.") and the item lost its number.
    list_marker = word.isdigit() and len(word) <= _LIST_MARKER_DIGITS and not text[seg_start:word_start].strip()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()) or list_marker


def _cut_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut an over-long span: first at sentence ends ignoring quotes, then at spaces."""
    pieces: list[tuple[int, int]] = []
    for s, e in _sentence_spans(text, start, end, respect_quotes=False):
        while e - s > MAX_UNIT_CHARS:
            cut = text.rfind(" ", s, s + MAX_UNIT_CHARS)
            cut = cut if cut > s else s + MAX_UNIT_CHARS
            pieces.append((s, cut))
            s = cut
        pieces.append((s, e))
    return pieces


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_units(text: str) -> list[str]:
    """The sentences (lines, for poems and lyrics) of `text`, as substrings of it, for scoring one by one.

    Quoted dialogue stays whole and keeps its speaker tag; fragments and very short sentences join their neighbour.
    """
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        for s, e in _sentence_spans(text, line.start(), line.end(), respect_quotes=True):
            s, e = _strip_span(text, s, e)
            if e <= s:
                continue
            spans.extend(_cut_long(text, s, e) if e - s > MAX_UNIT_CHARS else [(s, e)])
    spans = [span for span in (_strip_span(text, s, e) for s, e in spans) if span[1] > span[0]]
    merged: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    for s, e in spans:
        if pending is not None:
            s = pending[0]
            pending = None
        complete = text[e - 1] in _TERMINATORS or (text[e - 1] in _CLOSERS and text[e - 2 : e - 1] in _TERMINATORS)
        if e - s < MIN_SENTENCE_CHARS or (e - s < MIN_UNIT_CHARS and not complete):
            pending = (s, e)
            continue
        merged.append((s, e))
    if pending is not None:
        if merged:
            merged[-1] = (merged[-1][0], pending[1])
        else:
            merged.append(pending)
    return [text[s:e] for s, e in merged]
