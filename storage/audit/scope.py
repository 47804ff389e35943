"""Isolation: every audit query takes a guild scope and only ever sees that guild's rows. A scope is a guild id,
`None` (requests from outside any guild), or `ALL_GUILDS`, which only operators' tools (`storyloom audit`) pass.
The Discord and terminal front ends always pass the asking member's guild id.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement, true

from storage.models import guild_key

class AllGuilds:
    """The type of `ALL_GUILDS`: one instance, so a scope is told from a guild id by its type."""

    _instance: AllGuilds | None = None

    def __new__(cls) -> AllGuilds:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ALL_GUILDS"


ALL_GUILDS: Final = AllGuilds()
"""The operators' scope: every guild. Never passed on behalf of a Discord member."""

GuildScope = int | None | AllGuilds


def in_scope(column: Any, guild: GuildScope) -> ColumnElement[bool]:
    """The condition that keeps a guild id column to the scope."""
    if isinstance(guild, AllGuilds):
        return true()
    if guild is None:
        return column.is_(None)
    return column == guild


def chain_of(guild: GuildScope) -> int | None:
    """The one chain a scope reads (None: every chain)."""
    if isinstance(guild, AllGuilds):
        return None
    return guild_key(guild)
