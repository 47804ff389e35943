"""The hand-off to moderators: an output held for review, and the desk a front end offers to put it before them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core.request import Author
from guardrails.rail import Verdict


@dataclass(frozen=True, slots=True)
class Held:
    """An output held for a moderator: everything the engine wrote, and the verdict that held it."""

    request_id: str
    author: Author
    text: str
    verdict: Verdict


class ReviewDesk(Protocol):
    """Where held outputs go (the Discord review cog); without one, "hold" blocks."""

    async def hold(self, held: Held) -> bool:
        """Put `held` before the guild's moderators; False when there is nowhere to (the request is blocked)."""
        ...
