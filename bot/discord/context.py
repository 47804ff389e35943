"""Discord to the application's terms: where an interaction or a message was made (a `Place`: guild, channel, a
thread's parent, age-restricted), the policy that applies there, who asks (an `Author`), and whether the server's
gate lets the request through."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.core.request import Author
from bot.core.policies import Place, policy_at
from bot.core.server_settings import Gate, admit

if TYPE_CHECKING:
    from bot.core.app import Core
    from guardrails.policy import Policy

THREAD_TYPES = (discord.ChannelType.public_thread, discord.ChannelType.private_thread, discord.ChannelType.news_thread)


def in_thread(channel: object) -> bool:
    return getattr(channel, "type", None) in THREAD_TYPES


def age_restricted(channel: object) -> bool:
    """Discord marks the channel (or a thread's parent) age-restricted: the only place the M rating applies."""
    return bool(getattr(channel, "nsfw", False) or getattr(getattr(channel, "parent", None), "nsfw", False))


def place_of(guild_id: int | None, channel: object, channel_id: int | None) -> Place:
    parent_id = getattr(channel, "parent_id", None) if in_thread(channel) else None
    return Place(guild_id, channel_id, parent_id, age_restricted(channel))


def place(interaction: discord.Interaction) -> Place:
    return place_of(interaction.guild_id, interaction.channel, interaction.channel_id)


async def channel_policy(core: Core, interaction: discord.Interaction) -> Policy:
    return await policy_at(core, place(interaction))


def author_of(interaction: discord.Interaction, policy: Policy) -> Author:
    return Author(
        interface="discord",
        user_id=interaction.user.id,
        user_name=str(interaction.user),
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        policy=policy,
        locale=str(interaction.locale),
    )


async def author(core: Core, interaction: discord.Interaction) -> Author:
    """Who asks, judged under the policy of where they ask."""
    return author_of(interaction, await channel_policy(core, interaction))


def places_of(interaction: discord.Interaction) -> set[int]:
    """The channel and a thread's parent: a server's channel list names either."""
    channel = interaction.channel
    places = {interaction.channel_id} if interaction.channel_id else set()
    parent = getattr(channel, "parent_id", None)
    if parent:
        places.add(parent)
    return places


def role_ids_of(interaction: discord.Interaction) -> set[int]:
    return {role.id for role in getattr(interaction.user, "roles", ())}


async def gate(core: Core, interaction: discord.Interaction) -> Gate:
    """The server's gate (bot/core/server_settings.py) for this member here; Manage Server is never kept out."""
    return await admit(
        core,
        guild_id=interaction.guild_id,
        user_id=interaction.user.id,
        places=places_of(interaction),
        role_ids=role_ids_of(interaction),
        manages_server=interaction.permissions.manage_guild,
    )
