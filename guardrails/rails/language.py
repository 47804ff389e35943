"""The language rail: whether the rails judging a text can read its language, and what happens when they cannot.

Every rail declares the languages it can judge (`languages`: ISO 639-1 codes, None for any); a text in a language
some rail of its stage cannot read has not been judged by that rail, and what happens then is the policy's
`unjudged` setting: `refuse` (default: the member is told which languages the checks read), `hold` (a moderator
reads it) or `allow` (recorded as allowed). The verdict is the "language" rail's, recorded like any other.
Identification: `guardrails/modeling/language_id.py`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Literal

from guardrails.modeling.language_id import ENGLISH, Detected, LanguageIdentifier
from guardrails.rail import Stage, Verdict
from guardrails.text.profanity_floor import ProfanityFloor, shipped_floor

Unjudged = Literal["refuse", "hold", "allow"]
UNJUDGED: tuple[Unjudged, ...] = ("refuse", "hold", "allow")
DEFAULT_UNJUDGED: Unjudged = "refuse"

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
        (`guardrails/text/profanity_floor.py`) looks at the text in the languages they cannot read."""
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
