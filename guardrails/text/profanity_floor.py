"""A floor under the languages no other rail reads: strong profanity and slurs from a short, curated word list.

It does not judge a text (threats and injection in those languages are the policy's business: refused by default);
it keeps the plainest abuse out where a moderator allowed or holds what the rails cannot read. The list and its
source and licence: `guardrails/data/profanity_floor.txt`. Slurs block at every rating; strong profanity at G and
PG-13, as the English f-word family does (`guardrails/ratings.py`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from guardrails.paths import DATA_DIR

LIST_PATH = DATA_DIR / "profanity_floor.txt"
SUBSTRING_LANGUAGES = frozenset({"zh", "ja"})
"""Written without spaces between words: matched anywhere in the text."""
TIER_CATEGORY = {"slur": "identity_attack", "strong": "obscene"}


def fold(text: str) -> str:
    """Lower case without accents, so "Cabrón" and "cabron" match alike."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@dataclass(frozen=True, slots=True)
class FloorHit:
    """A word of the list found in a text: its language, its category and the word as found."""

    language: str
    category: str  # identity_attack | obscene
    word: str


class ProfanityFloor:
    """The word lists per language and category, compiled to one pattern each."""

    def __init__(self, path: Path = LIST_PATH) -> None:
        entries: dict[tuple[str, str], list[str]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            language, tier, word = line.split("\t")
            entries.setdefault((language, TIER_CATEGORY[tier]), []).append(fold(word))
        self.languages = frozenset(language for language, _ in entries)
        self._patterns: dict[tuple[str, str], re.Pattern[str]] = {}
        for (language, category), words in entries.items():
            alternatives = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
            bounded = alternatives if language in SUBSTRING_LANGUAGES else rf"(?<!\w)(?:{alternatives})(?!\w)"
            self._patterns[(language, category)] = re.compile(bounded)
        self.version = f"floor-1:{len(self.languages)}-languages"

    def hits(self, text: str, languages: tuple[str, ...]) -> list[FloorHit]:
        """What the floor finds in `text` for each of `languages` it has a list for; slurs first."""
        folded = fold(text)
        found = []
        for category in ("identity_attack", "obscene"):
            for language in languages:
                pattern = self._patterns.get((language, category))
                match = pattern.search(folded) if pattern is not None else None
                if match:
                    found.append(FloorHit(language, category, match.group(0)))
        return found


@cache
def shipped_floor() -> ProfanityFloor:
    return ProfanityFloor()
