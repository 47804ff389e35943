"""What the fake remembers for tests to assert on: interactions and their responses, violations, REST calls.

Every state change wakes `ChangeSignal` waiters, so a test awaits a condition (`wait_for`) instead of sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .messages import Message, MessageWrite
from .model import Guild, GuildChannel, Member

if TYPE_CHECKING:
    from .world import World


BOT_STATE_POLL_S = 0.02


class ChangeSignal:
    """Wakes every waiter whenever the fake's state changes; counts changes so "quiet for N s" can be awaited."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.version = 0

    def notify(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float, describe: Callable[[], str]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout:.1f} s; {describe()}")
            try:
                # Re-check now and then too: a predicate may watch the bot's own state (what its listeners saw),
                # which changes after a gateway frame is sent, with nothing here to signal it.
                await asyncio.wait_for(self._event.wait(), min(remaining, BOT_STATE_POLL_S))
            except TimeoutError:
                continue

    async def wait_quiet(self, quiet: float, timeout: float, describe: Callable[[], str]) -> None:
        """Return once no change has happened for `quiet` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            seen = self.version
            await asyncio.sleep(quiet)
            if self.version == seen:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"still changing after {timeout:.1f} s; {describe()}")


@dataclass(frozen=True)
class Violation:
    """A request Discord would have refused: the error the bot got back, and the rule behind it."""

    kind: str
    """e.g. `invalid_form_body` (content over 2,000 characters...), `late_ack`, `expired_token`, `empty_message`."""
    status: int
    code: int
    message: str
    route: str
    at: float
    errors: dict[str, Any] | None = None
    interaction_id: int | None = None
    late_by: float | None = None
    """For `late_ack`: seconds between the dispatch and the acknowledgement."""


@dataclass(frozen=True)
class RestCall:
    method: str
    path: str
    """Relative to the API base, e.g. `/channels/123/messages`."""
    status: int
    at: float


@dataclass
class Fault:
    """Answer the next `remaining` matching REST calls with `status` instead of handling them."""

    status: int
    remaining: int
    retry_after: float
    is_global: bool
    match: str | None
    """Substring of `METHOD /path` (path relative to the API base); None matches every call."""


@dataclass(frozen=True)
class Callback:
    """The interaction's initial response: 4 message, 5 deferred message, 6 deferred update, 7 update, 9 modal."""

    type: int
    data: dict[str, Any]
    at: float
    delay: float
    """Seconds from the dispatch to this acknowledgement."""


@dataclass(eq=False)
class InteractionRecord:
    """One interaction the test dispatched and everything the bot did with it, in order."""

    server: World
    id: int
    token: str
    type: int
    """2 application command, 3 message component."""
    payload: dict[str, Any]
    """The INTERACTION_CREATE data as dispatched."""
    member: Member
    guild: Guild
    channel: GuildChannel
    dispatched_at: float
    source_message: Message | None = None
    """For a component interaction: the message whose button was clicked."""
    callback: Callback | None = None
    original: Message | None = None
    """The message `@original` names: the response (or deferred placeholder), or for 6/7 the source message."""
    followups: list[Message] = field(default_factory=list)
    writes: list[MessageWrite] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.callback is not None

    @property
    def deferred(self) -> bool:
        return self.callback is not None and self.callback.type in (5, 6)

    @property
    def modal(self) -> dict[str, Any] | None:
        return self.callback.data if self.callback is not None and self.callback.type == 9 else None

    @property
    def edits(self) -> list[MessageWrite]:
        return [write for write in self.writes if write.action == "edit"]

    @property
    def messages(self) -> list[Message]:
        """The original response and follow-ups, without repeats (a first follow-up after a defer is the original)."""
        seen: list[Message] = [] if self.original is None else [self.original]
        seen.extend(message for message in self.followups if message not in seen)
        return seen

    @property
    def answered(self) -> bool:
        """The user sees a response: acknowledged, and not left on a "thinking..." placeholder."""
        return self.acknowledged and not (self.original is not None and self.original.loading)

    @property
    def violations(self) -> list[Violation]:
        return [violation for violation in self.server.violations if violation.interaction_id == self.id]

    def describe(self) -> str:
        callback = "none" if self.callback is None else f"type {self.callback.type} after {self.callback.delay:.3f} s"
        writes = "; ".join(f"{write.action} {write.route} {write.content[:60]!r}" for write in self.writes) or "none"
        violations = ", ".join(violation.kind for violation in self.violations) or "none"
        return f"interaction {self.id}: callback {callback}; writes: {writes}; violations: {violations}"

    async def wait_for(self, predicate: Callable[[InteractionRecord], bool], timeout: float = 5.0) -> InteractionRecord:
        await self.server.changes.wait_for(lambda: predicate(self), timeout, self.describe)
        return self

    async def wait_done(
        self, predicate: Callable[[InteractionRecord], bool] | None = None, timeout: float = 5.0, quiet: float = 0.1
    ) -> InteractionRecord:
        """Wait until `predicate` (default: `answered`) holds, then until nothing has changed for `quiet` s."""
        await self.wait_for(predicate or (lambda record: record.answered), timeout)
        await self.server.changes.wait_quiet(quiet, timeout, self.describe)
        return self
