"""What a request is, and the two ends of its path: the member who asks (`Author`, `WriteJob`), the front end that
shows the text (`Sink`, `Posted`), and what `Pipeline.run` returns (`Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.core import prompts
from bot.core.admission import Refusal
from bot.engines.base import Usage
from guardrails.policy import Policy
from guardrails.rail import Verdict
from guardrails.stack import DEFAULT_POLICY
from storage.models import RequestStatus

Command = Literal["write", "continue", "story"]
"""`/write` a new piece, `/continue` one, or write a story game's AI turn or recap."""


@dataclass(frozen=True, slots=True)
class Author:
    """The member who asks, as their front end knows them, and the policy of the channel they ask in."""

    interface: str  # discord | local
    user_id: int
    user_name: str
    guild_id: int | None
    channel_id: int | None
    exempt_from_rate_limit: bool = False
    policy: Policy = DEFAULT_POLICY
    """The guardrail policy of the channel the request came from (`guardrails.policy.resolve_policy`)."""
    locale: str | None = None
    """The member's language as their client says (Discord's interaction locale, e.g. "es-ES"); the language of
    what they type comes first (`guardrails.rails.language`), this where that cannot be told."""


@dataclass(slots=True)
class WriteJob:
    """What the member asked for: the command, the kind of piece and what it is about, with its options."""

    command: Command
    kind: str | None
    prompt: str | None
    """What the member typed: the subject for /write, a direction for /continue."""
    genre: str | None = None
    tone: str | None = None
    length: str = "medium"
    previous_text: str | None = None
    """For /continue: the text to continue."""
    previous_checked: bool = False
    """True when `previous_text` is our own output that passed the rails; anything else passes the input rails."""
    parent_request_id: str | None = None
    derived_from: str | None = None
    """For "Another take" (bot/discord/cogs/pieces.py): the request this one writes again with a new seed."""
    story: prompts.StoryContext | None = None
    """For a story game's AI turn or recap (bot/core/story): what the engine sees; `prompt` is the players' direction."""
    refused: Refusal | None = None
    """Set by a front end that already knows the request cannot go ahead (a /continue target not found here):
    the pipeline records the attempt and tells the member, like any other refusal."""

    def options(self) -> dict:
        options = {"genre": self.genre, "tone": self.tone, "length": self.length}
        if self.derived_from is not None:
            options["derived_from"] = self.derived_from
        if self.story is not None:  # provenance: the request's record (and so the chain) names session and turn
            story = self.story
            options.update(story_session=story.session_id, story_task=story.task, parent_turn=story.parent_turn)
            if story.choice is not None:
                options["choice"] = story.choice
        return options


@dataclass(frozen=True, slots=True)
class Posted:
    """A message a front end posted for a request, recorded as one of its deliveries."""

    channel_id: int | None
    message_id: int | None
    kind: str  # message | file | notice


class Sink(Protocol):
    """Where text goes. `show` receives all the text that has passed so far; it may throttle."""

    async def show(self, text: str) -> None: ...

    async def restart(self, note: str) -> None:
        """Withdraw what was shown (a failed attempt) and show `note` while the next attempt is written."""
        ...

    async def deliver(self, text: str, footer: str) -> list[Posted]: ...

    async def refuse(self, message: str, footer: str) -> list[Posted]: ...


@dataclass(slots=True)
class Outcome:
    """How a request ended: its status, the text delivered or the message the member read, and what judged it."""

    request_id: str
    status: RequestStatus
    text: str = ""
    message: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    usage: Usage | None = None
