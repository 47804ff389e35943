"""A server's own choices for the bot (`/settings`, stored by storage/server_settings.py), and the gate every
Discord request passes before the pipeline (`admit`): is the bot used in this channel, by this member's roles, within
the member's rate (shared by every process on the database, storage/ratelimit.py)? Changes are recorded with the
policy hash they give, as `/guardrails` changes are.

Keys: `genre`, `tone`, `length` (defaults for `/write`), `house_style` (a note after the system prompt's rules),
`channel_mode` (`allow`: only the listed channels; `deny`: all but them), `channels`, `roles` (members need one of
them; none set: everyone), `rate_limit` (requests per member per minute), `rate_exempt_roles`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from bot.core import moderation
from bot.core.admission import Refusal
from bot.core.policies import Place, policy_at, record_policy_hash
from storage.server_settings import change_server_settings, server_settings

if TYPE_CHECKING:
    from bot.core.app import Core

log = logging.getLogger(__name__)

KEYS = ("genre", "tone", "length", "house_style", "channel_mode", "channels", "roles", "rate_limit", "rate_exempt_roles")
LIST_KEYS = ("channels", "roles", "rate_exempt_roles")


def ids(value: str | None) -> frozenset[int]:
    return frozenset(int(part) for part in (value or "").split(",") if part.strip().isdigit())


def joined(values: frozenset[int] | set[int]) -> str | None:
    return ",".join(str(value) for value in sorted(values)) or None


@dataclass(frozen=True, slots=True)
class ServerChoices:
    """A server's `/settings`, read from their stored strings."""

    genre: str | None = None
    tone: str | None = None
    length: str | None = None
    house_style: str | None = None
    channel_mode: str | None = None
    channels: frozenset[int] = frozenset()
    roles: frozenset[int] = frozenset()
    rate_limit: int | None = None
    rate_exempt_roles: frozenset[int] = frozenset()

    @classmethod
    def from_stored(cls, stored: dict[str, str]) -> ServerChoices:
        limit = stored.get("rate_limit")
        return cls(
            genre=stored.get("genre"),
            tone=stored.get("tone"),
            length=stored.get("length"),
            house_style=stored.get("house_style"),
            channel_mode=stored.get("channel_mode") if stored.get("channel_mode") in ("allow", "deny") else None,
            channels=ids(stored.get("channels")),
            roles=ids(stored.get("roles")),
            rate_limit=int(limit) if limit and limit.isdigit() else None,
            rate_exempt_roles=ids(stored.get("rate_exempt_roles")),
        )

    def refusal(self, places: set[int], role_ids: set[int]) -> Refusal | None:
        """Why a member with `role_ids` may not use the bot in a channel (`places`: it and a thread's parent)."""
        if self.channel_mode == "allow" and not places & self.channels:
            where = ", ".join(f"<#{channel}>" for channel in sorted(self.channels)) or "no channel yet"
            return Refusal("channel_not_allowed", f"I don't write in this channel here. Try {where}.")
        if self.channel_mode == "deny" and places & self.channels:
            return Refusal("channel_not_allowed", "I don't write in this channel here; try another one.")
        if self.roles and not role_ids & self.roles:
            return Refusal("role_not_allowed", "In this server only members with certain roles may use me.")
        return None


async def choices_for(core: Core, guild_id: int | None) -> ServerChoices:
    if guild_id is None:
        return ServerChoices()
    return ServerChoices.from_stored(await server_settings(core.database, guild_id))


async def stored(core: Core, guild_id: int) -> dict[str, str]:
    """The keys this server set, as stored."""
    return await server_settings(core.database, guild_id)


@dataclass(frozen=True, slots=True)
class Gate:
    """What the gate decided for one request: the refusal (None: go ahead) and the server's choices."""

    refused: Refusal | None
    choices: ServerChoices
    counted: bool = True
    """False when the shared counter could not be written: the pipeline's in-process limiter counts instead."""


async def admit(
    core: Core, *, guild_id: int | None, user_id: int, places: set[int], role_ids: set[int], manages_server: bool
) -> Gate:
    """The server's channel and role choices, then the member's rate, shared across processes. Members who manage
    the server are never kept out (they could change the choices anyway); a member with an exempt role has no limit.
    `places`: the channel and a thread's parent."""
    choices = await choices_for(core, guild_id)
    if not manages_server:
        refused = choices.refusal(places, role_ids)
        if refused is not None:
            return Gate(refused, choices)
    if role_ids & choices.rate_exempt_roles:
        return Gate(None, choices)
    per_minute = choices.rate_limit or core.settings.rate_limit_per_minute
    try:
        wait = await core.shared_rate_limiter.admit(guild_id=guild_id, user_id=user_id, per_minute=per_minute)
    except SQLAlchemyError as error:  # the database refuses writes: the pipeline says so (it records nothing new)
        log.warning("shared rate counter unavailable (%s); this process's own limit applies", type(error).__name__)
        return Gate(None, choices, counted=False)
    if wait is not None:
        return Gate(Refusal("rate_limited", f"You're writing fast! Try again in {wait:.0f} s."), choices)
    return Gate(None, choices)


# -- changes (`/settings`) ---------------------------------------------------------------------------------------


async def change(core: Core, place: Place, changes: dict[str, str | None], *, user_id: int) -> tuple[dict[str, str | None], str]:
    """Store `changes` with their moderation record and the policy hash they give at `place`; returns the values
    they replaced and that hash."""
    assert place.guild_id is not None
    policy = await policy_at(core, place)
    if "house_style" in changes:
        policy = replace(policy, house_style=changes["house_style"])
    new_hash = record_policy_hash(core, policy)
    previous = await change_server_settings(
        core.database,
        guild_id=place.guild_id,
        channel_id=place.channel_id,
        changes=changes,
        user_id=user_id,
        policy_hash=new_hash,
    )
    return previous, new_hash


async def house_style_refusal(core: Core, place: Place, note: str, *, user_id: int) -> str | None:
    """The note goes to the model after the rules, so it passes the input rails like a prompt (an injection,
    abuse). What failed (the refusal is recorded), or None."""
    policy = await policy_at(core, place)
    verdicts = await core.rails.for_policy(policy).check("input", note, place.guild_id)
    failed = next((v for v in verdicts if v.failed or v.decision == "error"), None)
    if failed is None:
        return None
    await moderation.record(
        core, guild_id=place.guild_id, channel_id=place.channel_id, user_id=user_id, action="set_settings_refused",
        details={"key": "house_style", "rail": failed.rail, "category": failed.category, "scores": failed.scores},
    )  # fmt: skip
    return (failed.category or failed.rail).replace("_", " ")
