"""The admit stage: is the input usable, is this member within their rate, is there room in the queue."""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot import metrics

_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)  # no \b: "@everyonee" must not be the way around
_USER_OR_ROLE_MENTION = re.compile(r"<@([!&]?\d+)>")
# Server invites, also spelled to slip past a filter ("discord . gg/x", "discord[.]gg/x", "discord dot gg/x").
_INVITE = re.compile(
    r"(?:https?://)?(?:www\.)?(?:discord(?:app)?\.com/invite|discord\s*(?:\.|\[\.\]|\(\.\)|dot)\s*(?:gg|me|io|li)"
    r"|dsc\.gg|invite\.gg)\s*/\s*[\w-]+",
    re.IGNORECASE,
)
# [text](url): the text can pretend to be another address; the member should see where a link goes.
_MASKED_LINK = re.compile(r"\[([^\]\n]{0,200})\]\(\s*<?(https?://[^\s)>]+)>?\s*\)")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was refused before generation: `reason` is stored, `message` is what the member reads."""

    reason: str
    message: str


def clean_prompt(text: str | None) -> str:
    """Drop invisible format characters and control characters, fold whitespace, defuse mentions and invites.

    The prompt is shown back to the member and sent to the model; zero-width spam is not content, and
    `@everyone` must never reach a message even as text a later edit could make live.
    """
    if not text:
        return ""
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cf" or (category == "Cc" and char not in "\n\t"):
            continue
        kept.append(char)
    cleaned = re.sub(r"[ \t]+", " ", "".join(kept))
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
    return defuse(cleaned)


def defuse(text: str) -> str:
    """Text that can ping no one and invite nowhere, even pasted elsewhere or edited later by another client.

    `@everyone`/`@here` and `<@id>`/`<@&id>` get a zero-width space after the `@` (shown as written, never a
    mention); server invites become "[invite removed]"; a masked link shows its address. Idempotent.
    """
    text = _MASS_MENTION.sub(lambda m: "@\u200b" + m.group(1), text)
    text = _USER_OR_ROLE_MENTION.sub(lambda m: "<@\u200b" + m.group(1) + ">", text)
    text = _INVITE.sub("[invite removed]", text)
    return _MASKED_LINK.sub(lambda m: f"{m.group(1)} (<{m.group(2)}>)" if m.group(1) else f"<{m.group(2)}>", text)


def check_prompt(raw: str | None, cleaned: str, max_chars: int, *, required: bool = True) -> Refusal | None:
    if not cleaned:
        if not required and not raw:
            return None
        if raw and raw.strip():
            return Refusal("invisible", "Your prompt has no visible text. Tell me what to write about.")
        if required:
            return Refusal("empty", "Tell me what to write about, for example `/write poem about a lighthouse keeper`.")
    if len(cleaned) > max_chars:
        return Refusal(
            "too_long",
            f"Your prompt is {len(cleaned):,} characters; the limit is {max_chars:,}. Please shorten it.",
        )
    return None


MAX_OPTION_CHARS = 100
"""Genre and tone: a word or a phrase (Discord's options allow 100; the terminal mode types them freely)."""


def check_options(genre: str | None, tone: str | None) -> Refusal | None:
    for name, value in (("genre", genre), ("tone", tone)):
        length = len(clean_prompt(value))
        if length > MAX_OPTION_CHARS:
            return Refusal("too_long", f"The {name} is {length:,} characters; the limit is {MAX_OPTION_CHARS}.")
    return None


class RateLimiter:
    """At most `per_minute` admitted requests per member in any sliding 60-second window."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:  # noqa: ANN001 - a clock callable
        self.per_minute = per_minute
        self._clock = clock
        self._seen: defaultdict[int, deque[float]] = defaultdict(deque)

    def check(self, user_id: int) -> Refusal | None:
        now = self._clock()
        window = self._seen[user_id]
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            wait = int(60.0 - (now - window[0])) + 1
            return Refusal("rate_limited", f"You're writing fast! Try again in {wait} s.")
        window.append(now)
        return None


class Busy(Exception):
    """The queue is full."""


BUSY = Refusal("busy", "I'm busy with other stories right now. Try again in a moment.")
RECORDS_UNAVAILABLE = Refusal(
    "records_unavailable",
    "I can't save my records right now, so I'm not writing anything new. Please try again in a few minutes.",
)
SHUTTING_DOWN = Refusal("shutting_down", "I'm shutting down for a moment and can't start new writing. Try again shortly.")


class CapacityGate:
    """A bounded queue in front of a fixed number of generation slots."""

    def __init__(self, slots: int, max_waiting: int) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._max_waiting = max_waiting
        self.waiting = 0
        self.running = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.waiting >= self._max_waiting:
            raise Busy
        self.waiting += 1
        metrics.queue_changed(self.waiting, self.running)
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
            metrics.queue_changed(self.waiting, self.running)
        self.running += 1
        metrics.queue_changed(self.waiting, self.running)
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()
            metrics.queue_changed(self.waiting, self.running)
