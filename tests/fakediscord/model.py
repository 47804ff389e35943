"""The fake Discord's world: users, guilds, roles, channels, members, and Discord's permission arithmetic.

Everything here is plain in-memory state that tests build and inspect. The `*_payload` methods render it in the
JSON shapes Discord's API v10 uses, which is all discord.py ever sees of it.
"""

from __future__ import annotations

import datetime
import enum
import itertools
import time
from dataclasses import dataclass, field

from .permissions import ALL_PERMISSIONS, NEEDS_SEND, Perm

DISCORD_EPOCH_MS = 1_420_070_400_000
_snowflake_increment = itertools.count()


def new_snowflake() -> int:
    """A real-looking, unique, increasing snowflake: discord.py derives `created_at` from its timestamp bits."""
    now_ms = int(time.time() * 1000)
    return ((now_ms - DISCORD_EPOCH_MS) << 22) | (next(_snowflake_increment) % (1 << 22))


def iso_timestamp(moment: datetime.datetime | None = None) -> str:
    return (moment or datetime.datetime.now(datetime.UTC)).isoformat()


UPLOAD_LIMIT_BY_PREMIUM_TIER = {0: 10 * 1024 * 1024, 1: 10 * 1024 * 1024, 2: 50 * 1024 * 1024, 3: 100 * 1024 * 1024}


@dataclass(eq=False)
class User:
    """A Discord account, a member's or a bot's."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    dms_open: bool = True
    """False: the user closed DMs from server members, so the bot's DMs get 403 50007."""

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
        }


@dataclass(eq=False)
class Role:
    """A guild role; the @everyone role has the guild's id."""

    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None
    """Set for the role Discord creates for a bot when it joins."""

    def payload(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            payload["tags"] = {"bot_id": str(self.bot_id)}
        return payload


@dataclass(eq=False)
class Member:
    """A user in one guild, with that guild's roles and nickname."""

    user: User
    guild: Guild
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_timestamp)

    @property
    def roles(self) -> list[Role]:
        return [self.guild.roles[role_id] for role_id in self.role_ids]

    def payload(self, *, with_user: bool = True) -> dict[str, object]:
        payload: dict[str, object] = {
            "roles": [str(role_id) for role_id in self.role_ids],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,  # discord.py 2.7 requires it
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.user.payload()
        return payload


class OverwriteTarget(enum.IntEnum):
    """Whom a permission overwrite applies to."""

    ROLE = 0
    MEMBER = 1


@dataclass(eq=False)
class Overwrite:
    """A channel's allow and deny bits for one role or member, applied over the guild-wide permissions."""

    target_id: int
    target_type: OverwriteTarget
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, object]:
        return {
            "id": str(self.target_id),
            "type": int(self.target_type),
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass(eq=False)
class Channel:
    """A guild text channel (threads are `Thread`)."""

    id: int
    guild: Guild
    name: str
    nsfw: bool = False
    """Age-restricted channel."""
    type: int = 0
    """0 is a text channel; the fake models text channels and their threads (`Thread`) only."""
    position: int = 0
    topic: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)

    @property
    def upload_limit(self) -> int:
        return self.guild.upload_limit

    def payload(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [overwrite.payload() for overwrite in self.overwrites],
            "nsfw": self.nsfw,
            "topic": self.topic,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "last_message_id": None,
            "flags": 0,
        }


THREAD_PUBLIC, THREAD_PRIVATE = 11, 12
AUTO_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
"""Minutes of inactivity before Discord hides a thread; the only values it accepts."""
THREAD_MEMBER_COUNT_CAP = 50
"""Discord's `member_count` on a thread stops counting at 50."""


@dataclass(eq=False)
class ThreadMember:
    """A user's membership of a thread, as Discord lists it."""

    user: User
    joined_at: str = field(default_factory=iso_timestamp)

    def payload(self, thread_id: int) -> dict[str, object]:
        return {"id": str(thread_id), "user_id": str(self.user.id), "join_timestamp": self.joined_at, "flags": 0}


@dataclass(eq=False)
class Thread:
    """A thread in a text channel: a channel of the guild whose permissions (and age restriction) follow `parent`.

    Public (type 11) threads are seen by everyone who sees the parent; private (type 12) ones only by their
    members and those with Manage Threads. `members` is who joined (creator, posters, those added). An
    archived thread refuses the bot's writes (400 50083) until it is unarchived.
    """

    id: int
    parent: Channel
    name: str
    owner_id: int
    type: int = THREAD_PUBLIC
    auto_archive_duration: int = 1440
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    """Private threads only: whether members without Manage Threads may add others."""
    rate_limit_per_user: int = 0
    created_at: str = field(default_factory=iso_timestamp)
    archive_timestamp: str = field(default_factory=iso_timestamp)
    """When `archived` last changed (Discord sets it at creation too)."""
    members: dict[int, ThreadMember] = field(default_factory=dict)
    message_count: int = 0
    """Messages in the thread now, not counting deleted ones (nor a starter message, which lives in the parent)."""
    total_message_sent: int = 0
    last_message_id: int | None = None
    starter_message_id: int | None = None
    """The parent-channel message the thread was started from, if any (the thread then has its id)."""

    @property
    def guild(self) -> Guild:
        return self.parent.guild

    @property
    def nsfw(self) -> bool:
        return self.parent.nsfw

    @property
    def private(self) -> bool:
        return self.type == THREAD_PRIVATE

    @property
    def upload_limit(self) -> int:
        return self.guild.upload_limit

    @property
    def member_users(self) -> list[User]:
        return [member.user for member in self.members.values()]

    def payload(self, *, me: int | None = None) -> dict[str, object]:
        """The thread channel object; with `member` (the thread member `me`) when `me` has joined."""
        metadata: dict[str, object] = {
            "archived": self.archived,
            "auto_archive_duration": self.auto_archive_duration,
            "archive_timestamp": self.archive_timestamp,
            "locked": self.locked,
            "create_timestamp": self.created_at,
        }
        if self.private:
            metadata["invitable"] = self.invitable
        payload: dict[str, object] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "parent_id": str(self.parent.id),
            "owner_id": str(self.owner_id),
            "name": self.name,
            "last_message_id": None if self.last_message_id is None else str(self.last_message_id),
            "rate_limit_per_user": self.rate_limit_per_user,
            "message_count": self.message_count,
            "member_count": min(len(self.members), THREAD_MEMBER_COUNT_CAP),
            "total_message_sent": self.total_message_sent,
            "thread_metadata": metadata,
            "flags": 0,
        }
        if me is not None and me in self.members:
            payload["member"] = self.members[me].payload(self.id)
        return payload


@dataclass(eq=False)
class DMChannel:
    """The bot's DM with `recipient`: no guild, no overwrites; Discord opens one per user and hands it back again."""

    id: int
    recipient: User
    type: int = 1

    @property
    def upload_limit(self) -> int:
        return UPLOAD_LIMIT_BY_PREMIUM_TIER[0]

    def payload(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "type": self.type,
            "recipients": [self.recipient.payload()],
            "last_message_id": None,
            "flags": 0,
        }


GuildChannel = Channel | Thread
"""A channel of a guild: where interactions happen."""
AnyChannel = Channel | Thread | DMChannel
"""Where a message can live."""


@dataclass(eq=False)
class Guild:
    """A server: its roles, text channels, threads and members, and the permissions they give."""

    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    preferred_locale: str = "en-US"
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    threads: dict[int, Thread] = field(default_factory=dict)
    """Threads of the guild's channels, archived ones included, deleted ones not."""

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    @property
    def upload_limit(self) -> int:
        return UPLOAD_LIMIT_BY_PREMIUM_TIER[self.premium_tier]

    def add_role(self, name: str, permissions: int = 0, *, mentionable: bool = False) -> Role:
        role = Role(
            id=new_snowflake(),
            name=name,
            permissions=int(permissions),
            position=len(self.roles),
            mentionable=mentionable,
        )
        self.roles[role.id] = role
        return role

    def add_channel(self, name: str, *, nsfw: bool = False, overwrites: list[Overwrite] | None = None) -> Channel:
        channel = Channel(
            id=new_snowflake(),
            guild=self,
            name=name,
            nsfw=nsfw,
            position=len(self.channels),
            overwrites=overwrites or [],
        )
        self.channels[channel.id] = channel
        return channel

    def add_member(self, user: User, *roles: Role, nick: str | None = None) -> Member:
        member = Member(user=user, guild=self, role_ids=[role.id for role in roles], nick=nick)
        self.members[user.id] = member
        return member

    def member(self, user: User) -> Member:
        try:
            return self.members[user.id]
        except KeyError:
            raise LookupError(f"{user.username} is not a member of {self.name}") from None

    def permissions(self, member: Member, channel: Channel | Thread | None = None) -> int:
        """Discord's documented algorithm: base permissions from roles, then the channel's overwrites in order.

        A thread takes its parent's overwrites; in it SEND_MESSAGES_IN_THREADS stands where SEND_MESSAGES does
        elsewhere, and a private thread is invisible to non-members without Manage Threads.
        """
        if member.user.id == self.owner_id:
            return ALL_PERMISSIONS
        base = self.everyone.permissions
        for role in member.roles:
            base |= role.permissions
        if base & Perm.ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel is None:
            return base

        overwritten = channel.parent if isinstance(channel, Thread) else channel
        permissions = base
        by_target = {(overwrite.target_type, overwrite.target_id): overwrite for overwrite in overwritten.overwrites}
        everyone_overwrite = by_target.get((OverwriteTarget.ROLE, self.id))
        if everyone_overwrite is not None:
            permissions = (permissions & ~everyone_overwrite.deny) | everyone_overwrite.allow
        role_allow = role_deny = 0
        for role_id in member.role_ids:
            role_overwrite = by_target.get((OverwriteTarget.ROLE, role_id))
            if role_overwrite is not None:
                role_allow |= role_overwrite.allow
                role_deny |= role_overwrite.deny
        permissions = (permissions & ~role_deny) | role_allow
        member_overwrite = by_target.get((OverwriteTarget.MEMBER, member.user.id))
        if member_overwrite is not None:
            permissions = (permissions & ~member_overwrite.deny) | member_overwrite.allow

        if not permissions & Perm.VIEW_CHANNEL:
            return 0
        sending = Perm.SEND_MESSAGES
        if isinstance(channel, Thread):
            sending = Perm.SEND_MESSAGES_IN_THREADS
            if channel.private and member.user.id not in channel.members and not permissions & Perm.MANAGE_THREADS:
                return 0
        if not permissions & sending:
            permissions &= ~NEEDS_SEND
        return permissions

    def payload(self, *, members: list[Member], bot_user_id: int) -> dict[str, object]:
        """The GUILD_CREATE shape."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": 0,
            "preferred_locale": self.preferred_locale,
            "features": [],
            "system_channel_id": None,
            "system_channel_flags": 0,
            "application_id": None,
            "vanity_url_code": None,
            "max_members": 500_000,
            "premium_progress_bar_enabled": False,
            "roles": [role.payload() for role in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "unavailable": False,
            "large": False,
            "member_count": len(self.members),
            "joined_at": self.members[bot_user_id].joined_at,
            "channels": [channel.payload() for channel in self.channels.values()],
            # A bot is sent every active thread it can see, with `member` on those it joined.
            "threads": [
                thread.payload(me=bot_user_id)
                for thread in self.threads.values()
                if not thread.archived and self.permissions(self.members[bot_user_id], thread) & Perm.VIEW_CHANNEL
            ],
            "members": [member.payload() for member in members],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }
