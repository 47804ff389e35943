"""Undo the common tricks that hide abusive words from a classifier, before any scoring.

The normalised text is only ever scored, never shown: a rail reports the user's original words. So the
rules lean towards recovering a hidden word even if an innocent token (``mp3``) comes out slightly mangled.
Pure Python and precompiled, so it costs microseconds next to the encoder.

Order matters: NFKC first (fullwidth and "mathematical" letters become ASCII), then invisible characters go
(so ``i\u200bdiot`` is one token again; marks stacked on Latin letters, zalgo, go just before), then look-alike
letters, then spaced-out letters, then leetspeak (``1 d 1 0 t`` must be joined before its digits can be read as
letters), then stretched letters.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize", "strip_invisible", "strip_decorative_marks", "map_homoglyphs", "collapse_spaced_letters", "undo_leet", "collapse_repeats"]

# Invisible "letters" that are not category Cf but render as blank space (Hangul fillers, braille blank).
_INVISIBLE_NON_CF = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}

# Cyrillic, Greek and a few Latin-extended letters that render like ASCII letters in common fonts.
_CONFUSABLES: dict[str, str] = {
    # Cyrillic lower case
    "а": "a", "е": "e", "ё": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i",
    "ї": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "к": "k", "ո": "n",
    # Cyrillic upper case
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "У": "Y", "І": "I", "Ј": "J", "Ѕ": "S", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I",
    # Greek lower case
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "ι": "i", "κ": "k", "ε": "e", "υ": "u", "χ": "x",
    "ϲ": "c",
    # Greek upper case
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin extended and Armenian look-alikes
    "ı": "i", "ɑ": "a", "ɡ": "g", "ʀ": "r", "օ": "o", "ս": "u", "ɩ": "i", "ϳ": "j",
    # NFKC turns the lunate sigma ϲ (a "c" look-alike) into a final sigma before this table is read
    "ς": "c",
    # Small capitals (NFKC leaves them): "ꜰᴜᴄᴋ" is a common disguise
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j",
    "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v",
    "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
}
_CONFUSABLE_TABLE = str.maketrans(_CONFUSABLES)

_LEET: dict[str, str] = {
    "4": "a", "3": "e", "1": "i", "0": "o", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s", "!": "i",
}
_LEET_CHARS = "".join(_LEET)
# A run of letters and leet characters; anything else (space, comma, apostrophe) ends a token.
_LEET_TOKEN = re.compile(r"[A-Za-z0-9@$!]+")
# Numbers with a unit or an ordinal suffix are real numbers, not leetspeak: 4th, 10am, 5s, 100k.
_NUMBER_WITH_UNIT = re.compile(
    r"^\d+(?:st|nd|rd|th|s|am|pm|k|m|d|h|x|p|px|gb|mb|kb|kg|km|cm|mm|ft|lb|lbs|mph|fps|hz|ghz|v|yo|yrs?)$",
    re.IGNORECASE,
)
# A name with a number after it is an id, not leetspeak: covid19, win10, user42 (but "ki11" and "a55" hide letters).
_NAME_WITH_NUMBER = re.compile(r"^[A-Za-z]+(?!(\d)\1+$)\d{2,}$")

# Three or more single characters joined by one repeated separator: "i d i o t", "k.i.l.l", "s-t-u-p-i-d".
# Word boundaries are done by hand (\w would treat the digits of a spaced run as neighbours).
_SPACED = re.compile(r"(?<![A-Za-z0-9@$])([A-Za-z0-9@$])([ .\-_*·~])(?:[A-Za-z0-9@$]\2){1,}[A-Za-z0-9@$](?![A-Za-z0-9@$])")
_REPEATS = re.compile(r"([A-Za-z])\1{2,}")
_HORIZONTAL_SPACE = re.compile(r"[ \t\f\v\u00a0]+")
_ZALGO_BASE = re.compile(r"[A-Za-z]")


# Characters that are never format characters, blank fillers or combining marks: ASCII, Latin letters with their
# accents composed (after the soft hyphen, U+00AD), curly quotes, dashes and the ellipsis. Most text is only these,
# and it skips the per-character pass below (that pass was 6% of the output rails' time on the bot's stories).
_PLAIN = re.compile(r"[\x00-\x7f\u00c0-\u024f\u2013\u2014\u2018-\u201f\u2026]*")


def strip_invisible(text: str) -> str:
    """Drop format characters (zero-width, bidi, tags, soft hyphen), blank fillers and zalgo marks on Latin letters."""
    if _PLAIN.fullmatch(text):
        return text
    out: list[str] = []
    after_latin = False  # combining marks stacked on an ASCII letter are decoration (NFKC composed the real ones)
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf" or ch in _INVISIBLE_NON_CF:
            continue
        if category == "Mn":
            if after_latin:
                continue
            out.append(ch)
            continue
        after_latin = ch.isascii() and ch.isalpha()
        out.append(ch)
    return "".join(out)


# Accents languages put on Latin letters come from U+0300-U+0333 one at a time; the rest of the block (overlays,
# strokes, the "medieval" letters above) and the later combining blocks are what zalgo text stacks up.
_LANGUAGE_MARKS = range(0x0300, 0x0334)


def strip_decorative_marks(text: str) -> str:
    """Drop marks that decorate Latin letters: ``ţŕäš̈h`` -> ``trash``, while ``café`` and ``naïve`` stay.

    NFKC composes a mark with its letter wherever Unicode has the pair (t + cedilla is ``ţ``), so the letters are
    decomposed first. A letter loses its marks when it carries two or more, or one outside the language accents,
    or when most letters of its word carry one (three or more letters): that is decoration, not spelling.
    """
    if text.isascii():
        return text
    clusters: list[tuple[str, list[str]]] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.category(ch) in ("Mn", "Me") and clusters:
            clusters[-1][1].append(ch)
        else:
            clusters.append((ch, []))
    out: list[str] = []
    word: list[tuple[str, list[str]]] = []

    def flush() -> None:
        latin = [marks for base, marks in word if base.isascii() and base.isalpha()]
        mostly_marked = len(latin) >= 3 and sum(1 for marks in latin if marks) * 2 > len(latin)
        for base, marks in word:
            decorative = base.isascii() and base.isalpha() and marks and (
                mostly_marked or len(marks) > 1 or any(ord(mark) not in _LANGUAGE_MARKS for mark in marks)
            )
            out.append(base if decorative else base + "".join(marks))
        word.clear()

    for cluster in clusters:
        if cluster[0].isalnum() or unicodedata.category(cluster[0]) == "Cf":  # a zero-width joiner splits no word
            word.append(cluster)
        else:
            flush()
            out.append(cluster[0] + "".join(cluster[1]))
    flush()
    return unicodedata.normalize("NFC", "".join(out))


def map_homoglyphs(text: str) -> str:
    """Map look-alike letters to Latin inside tokens that are disguised Latin words.

    A token is mapped when it mixes Latin letters with look-alikes, or when every letter in it is a look-alike;
    a genuine Russian or Greek word has letters with no Latin twin (п, и, λ) and is left as it is.
    """
    if text.isascii():
        return text
    tokens = text.split(" ")
    for i, token in enumerate(tokens):
        if token.isascii():
            continue
        letters = [ch for ch in token if ch.isalpha()]
        has_confusable = any(ch in _CONFUSABLES for ch in letters)
        if not has_confusable:
            continue
        has_latin = any(ch.isascii() for ch in letters)
        all_confusable = all(ch in _CONFUSABLES or ch.isascii() for ch in letters)
        if has_latin or all_confusable:
            tokens[i] = token.translate(_CONFUSABLE_TABLE)
    return " ".join(tokens)


def collapse_spaced_letters(text: str) -> str:
    """Join letters spaced apart ("i d i o t" -> "idiot"); needs at least two real letters, so "1 2 3" stays."""

    def join(match: re.Match[str]) -> str:
        run = match.group(0)
        chars = run[0::2]
        if sum(ch.isalpha() for ch in chars) < 2:
            return run
        return chars

    return _SPACED.sub(join, text)


_VOWELS = frozenset("aeiouAEIOU4@30")  # leet vowels count: "a1ien" may come as "41ien"


def _one_reads_as_l(token: str, i: int) -> bool:
    """Whether a "1" hides an "l" rather than an "i": doubled ("ki11") or beside an i ("fi1ter", "1ink"), between
    vowels ("ru1es", "a1ien"), last after a vowel ("immora1", "evi1"), or first before a vowel ("1ove"). English
    rarely has an "i" in those places."""
    before = token[i - 1] if i > 0 else ""
    after = token[i + 1] if i + 1 < len(token) else ""
    if before in ("1", "i", "I", "!") or after in ("1", "i", "I", "!"):
        return True
    if before and after:
        return before in _VOWELS and after in _VOWELS
    return (before in _VOWELS) if before else (after in _VOWELS and after != "")


def _unleet_token(token: str, at_word_start: bool) -> str:
    if not any(ch.isalpha() for ch in token) or not any(ch in _LEET for ch in token):
        return token
    if _NUMBER_WITH_UNIT.match(token.lstrip("$")) or _NAME_WITH_NUMBER.match(token) or any(ch in "26" for ch in token):
        return token  # a number, a date, an id (covid19, b2b, x86): not a disguised word
    out: list[str] = []
    n = len(token)
    for i, ch in enumerate(token):
        if ch not in _LEET:
            out.append(ch)
            continue
        prev_alpha = i > 0 and token[i - 1].isalpha()
        next_alpha = i + 1 < n and token[i + 1].isalpha()
        if ch == "!" and not (prev_alpha and next_alpha):
            out.append(ch)  # "hey!" is punctuation; only "b!tch" hides a letter
        elif ch == "@" and i == 0 and at_word_start:
            out.append(ch)  # "@name" is a mention
        elif ch == "1" and _one_reads_as_l(token, i):
            out.append("l")
        else:
            out.append(_LEET[ch])
    return "".join(out)


def undo_leet(text: str) -> str:
    """Read digits and symbols as letters, but only inside tokens that also contain letters ("h4te", "$tupid")."""
    if not any(ch in _LEET_CHARS for ch in text):
        return text

    def fix(match: re.Match[str]) -> str:
        start = match.start()
        at_word_start = start == 0 or text[start - 1].isspace()
        return _unleet_token(match.group(0), at_word_start)

    return _LEET_TOKEN.sub(fix, text)


def collapse_repeats(text: str) -> str:
    """Shorten a letter repeated three or more times to two ("fuuuuck" -> "fuuck", "sooo" -> "soo")."""
    return _REPEATS.sub(r"\1\1", text)


def normalize(text: str) -> str:
    """The text a classifier should score: the same words with the disguises removed."""
    text = unicodedata.normalize("NFKC", text)
    text = strip_decorative_marks(text)
    text = strip_invisible(text)
    text = map_homoglyphs(text)
    text = collapse_spaced_letters(text)
    text = undo_leet(text)
    text = collapse_repeats(text)
    lines = [_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)
