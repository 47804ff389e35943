"""A server's own choices for the bot (`/settings`, stored by storage/server_settings.py), and the gate every
Discord request passes before the pipeline: is the bot used in this channel, by this member's roles, within the
member's rate (shared by every process on the database, storage/ratelimit.py)?

Keys: `genre`, `tone`, `length` (defaults for `/write`), `house_style` (a note after the system prompt's rules),
`channel_mode` (`allow`: only the listed channels; `deny`: all but them), `channels`, `roles` (members need one of
them; none set: everyone), `rate_limit` (requests per member per minute), `rate_exempt_roles`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import discord
from sqlalchemy.exc import SQLAlchemyError

from bot.core.admission import Refusal
from guardrails.policy import Policy
from storage.server_settings import server_settings

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

log = logging.getLogger(__name__)

KEYS = ("genre", "tone", "length", "house_style", "channel_mode", "channels", "roles", "rate_limit", "rate_exempt_roles")
LIST_KEYS = ("channels", "roles", "rate_exempt_roles")


def ids(value: str | None) -> frozenset[int]:
    return frozenset(int(part) for part in (value or "").split(",") if part.strip().isdigit())


def joined(values: frozenset[int] | set[int]) -> str | None:
    return ",".join(str(value) for value in sorted(values)) or None


@dataclass(frozen=True, slots=True)
class ServerChoices:
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


async def choices_for(bot: StoryloomBot, guild_id: int | None) -> ServerChoices:
    if guild_id is None:
        return ServerChoices()
    return ServerChoices.from_stored(await server_settings(bot.core.database, guild_id))


def with_house_style(policy: Policy, choices: ServerChoices) -> Policy:
    return replace(policy, house_style=choices.house_style) if choices.house_style else policy


def places_of(interaction: discord.Interaction) -> set[int]:
    channel = interaction.channel
    places = {interaction.channel_id} if interaction.channel_id else set()
    parent = getattr(channel, "parent_id", None)
    if parent:
        places.add(parent)
    return places


def role_ids_of(interaction: discord.Interaction) -> set[int]:
    return {role.id for role in getattr(interaction.user, "roles", ())}


@dataclass(frozen=True, slots=True)
class Gate:
    """What the gate decided for one request: the refusal (None: go ahead) and the server's choices."""

    refused: Refusal | None
    choices: ServerChoices
    counted: bool = True
    """False when the shared counter could not be written: the pipeline's in-process limiter counts instead."""


async def gate(bot: StoryloomBot, interaction: discord.Interaction) -> Gate:
    """The server's channel and role choices, then the member's rate, shared across processes. Members with Manage
    Server are never kept out (they could change the choices anyway); a member with an exempt role has no limit."""
    choices = await choices_for(bot, interaction.guild_id)
    roles = role_ids_of(interaction)
    if not interaction.permissions.manage_guild:
        refused = choices.refusal(places_of(interaction), roles)
        if refused is not None:
            return Gate(refused, choices)
    if roles & choices.rate_exempt_roles:
        return Gate(None, choices)
    per_minute = choices.rate_limit or bot.core.settings.rate_limit_per_minute
    try:
        wait = await bot.core.shared_rate_limiter.admit(
            guild_id=interaction.guild_id, user_id=interaction.user.id, per_minute=per_minute
        )
    except SQLAlchemyError as error:  # the database refuses writes: the pipeline says so (it records nothing new)
        log.warning("shared rate counter unavailable (%s); this process's own limit applies", type(error).__name__)
        return Gate(None, choices, counted=False)
    if wait is not None:
        return Gate(Refusal("rate_limited", f"You're writing fast! Try again in {wait:.0f} s."), choices)
    return Gate(None, choices)
