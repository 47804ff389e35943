"""The fake's state (its world, its records, its clock) and the lookups that every part of `FakeDiscord` shares.

`World` is the base class of every mixin `FakeDiscord` (server.py) is composed of: the write path (writes.py), the
thread lifecycle (threads.py), one mixin per REST area under `rest/` and the driver's users under `driver/`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .errors import ClientRejected, unknown_channel, unknown_message
from .gateway import (
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
    Gateway,
)
from .messages import Attachment, Message, MessageWrite
from .model import (
    AnyChannel,
    Channel,
    DMChannel,
    Guild,
    GuildChannel,
    Member,
    Role,
    Thread,
    User,
    new_snowflake,
)
from .permissions import BOT_DEFAULT, DM_PERMISSIONS, EVERYONE_DEFAULT, Perm
from .records import ChangeSignal, Fault, InteractionRecord, RestCall, Violation
from .rest.http import API_PREFIX

# Application flags of an unverified bot whose privileged intents are switched on in the developer portal.
APP_FLAG_FOR_INTENT = {INTENT_GUILD_PRESENCES: 1 << 13, INTENT_GUILD_MEMBERS: 1 << 15, INTENT_MESSAGE_CONTENT: 1 << 19}


class World:
    """Guilds, users, DMs, messages, synced commands and interactions, the records tests assert on, and the clock."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        ack_deadline_s: float = 3.0,
        token_lifetime_s: float = 15 * 60,
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        self.token = token
        self.ack_deadline_s = ack_deadline_s
        self.token_lifetime_s = token_lifetime_s
        self.port = 0
        self.changes = ChangeSignal()
        self.gateway = Gateway(self, heartbeat_interval_ms)
        self.reset()

    # -- addresses and the clock ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What `discord.http.Route.BASE` must be."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` must be (as a `yarl.URL`)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    def clock(self) -> float:
        """The server's time: monotonic seconds, plus whatever `advance_clock` added."""
        return time.monotonic() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Let time pass for Discord's deadlines (3 s to acknowledge, 15 min token) without waiting for it."""
        self._clock_offset += seconds
        self.changes.notify()

    # -- the world -----------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything and build the default world (bot, owner, alice, mod, one guild, #general, #after-dark)."""
        self._clock_offset = 0.0
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.messages: dict[int, Message] = {}
        self.dm_channels: dict[int, DMChannel] = {}
        """The bot's DM channels by recipient user id, as `POST /users/@me/channels` opened them."""
        self.attachments: dict[int, Attachment] = {}
        self.commands: dict[tuple[int | None, str, int], dict[str, Any]] = {}
        """Synced commands by (guild id or None for global, name, type)."""
        self.command_syncs = 0
        self.interactions: dict[int, InteractionRecord] = {}
        self._interactions_by_token: dict[str, InteractionRecord] = {}
        self.writes: list[MessageWrite] = []
        self.violations: list[Violation] = []
        self.unmodelled: list[str] = []
        """REST calls the fake has no route for (`METHOD /path`): a gap in the fake, not in the bot."""
        self.requests: list[RestCall] = []
        self.faults: list[Fault] = []
        self.faults_served: list[str] = []
        self.enabled_privileged_intents = PRIVILEGED_INTENTS
        """Privileged intents switched on "in the developer portal"; asking for others closes the socket (4014)."""
        self.gateway.reset()

        self.bot_user = self.add_user("Storyloom", bot=True)
        self.application_id = self.bot_user.id  # true of every app created since 2020
        self.owner = self.add_user("owner")
        self.alice = self.add_user("alice")
        self.mod = self.add_user("mod")
        self.guild = self.add_guild("Storyloom Test", owner=self.owner)
        self.moderator_role = self.guild.add_role("Moderator", Perm.MANAGE_GUILD | Perm.MANAGE_MESSAGES)
        self.general = self.guild.add_channel("general")
        self.after_dark = self.guild.add_channel("after-dark", nsfw=True)
        self.guild.add_member(self.alice)
        self.guild.add_member(self.mod, self.moderator_role)
        self.changes.notify()

    def add_user(self, username: str, *, bot: bool = False) -> User:
        user = User(id=new_snowflake(), username=username, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, *, owner: User, premium_tier: int = 0) -> Guild:
        """A guild with @everyone, the bot (and its managed role) and the owner as members. Add before `run_bot`."""
        guild = Guild(id=new_snowflake(), name=name, owner_id=owner.id, premium_tier=premium_tier)
        guild.roles[guild.id] = Role(id=guild.id, name="@everyone", permissions=int(EVERYONE_DEFAULT))
        bot_role = guild.add_role(self.bot_user.username, BOT_DEFAULT)
        bot_role.managed, bot_role.bot_id = True, self.bot_user.id
        guild.add_member(self.bot_user, bot_role)
        guild.add_member(owner)
        self.guilds[guild.id] = guild
        return guild

    def channel_messages(self, channel: AnyChannel) -> list[Message]:
        """What everyone sees in the channel: no ephemeral or deleted messages, oldest first."""
        return [m for m in self.messages.values() if m.channel is channel and not m.ephemeral and not m.deleted]

    def pinned(self, channel: AnyChannel) -> list[Message]:
        """The channel's pinned messages, most recently pinned first (as Discord lists them)."""
        pins = [message for message in self.channel_messages(channel) if message.pinned]
        return sorted(pins, key=lambda message: message.pinned_at or "", reverse=True)

    def threads_of(self, channel: Channel) -> list[Thread]:
        """The threads started in `channel` (archived ones included, deleted ones not), oldest first."""
        return [thread for thread in channel.guild.threads.values() if thread.parent is channel]

    def thread_named(self, name: str, channel: Channel | None = None) -> Thread:
        """The one thread called `name` (in `channel`, if given); LookupError if there is none or several."""
        threads = [
            thread
            for guild in self.guilds.values()
            for thread in guild.threads.values()
            if thread.name == name and (channel is None or thread.parent is channel)
        ]
        if len(threads) != 1:
            raise LookupError(f"{len(threads)} threads are named {name!r}")
        return threads[0]

    def dm_channel(self, user: User | Member) -> DMChannel | None:
        """The bot's DM channel with `user`, once the bot has opened it."""
        return self.dm_channels.get((user.user if isinstance(user, Member) else user).id)

    def dm_messages(self, user: User | Member) -> list[Message]:
        """What the bot sent `user` by DM (not deleted), oldest first; empty if it never opened the DM."""
        channel = self.dm_channel(user)
        return [] if channel is None else self.channel_messages(channel)

    def current_user_payload(self) -> dict[str, Any]:
        return self.bot_user.payload() | {"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None}

    def application_flags(self) -> int:
        return sum(flag for intent, flag in APP_FLAG_FOR_INTENT.items() if self.enabled_privileged_intents & intent)

    # -- waiting -------------------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        await self.changes.wait_for(predicate, timeout, self.describe)

    def describe(self) -> str:
        violations = ", ".join(f"{v.kind} on {v.route}" for v in self.violations) or "none"
        return (
            f"violations: {violations}; unmodelled routes: {self.unmodelled or 'none'}; requests: {len(self.requests)}"
        )

    # -- lookups the REST routes and the driver share ------------------------------------------------------

    def _channel(self, request: web.Request) -> AnyChannel:
        channel_id = int(request.match_info["channel_id"])
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
            if channel_id in guild.threads:
                return guild.threads[channel_id]
        for dm in self.dm_channels.values():
            if dm.id == channel_id:
                return dm
        raise unknown_channel()

    def _channel_message(self, request: web.Request, channel: AnyChannel) -> Message:
        message = self.messages.get(int(request.match_info["message_id"]))
        if message is None or message.channel is not channel or message.deleted or message.ephemeral:
            raise unknown_message()
        return message

    def _bot_permissions(self, channel: AnyChannel) -> int:
        if isinstance(channel, DMChannel):
            return int(DM_PERMISSIONS)
        return channel.guild.permissions(channel.guild.member(self.bot_user), channel)

    def _bot_sees(self, channel: GuildChannel) -> bool:
        return bool(self._bot_permissions(channel) & Perm.VIEW_CHANNEL)

    @staticmethod
    def _guild_channel_of(message: Message) -> GuildChannel:
        """Interactions are modelled in guilds only; the fake's DMs carry the bot's messages and nothing else."""
        if isinstance(message.channel, DMChannel):
            raise ClientRejected(f"message {message.id} is in a DM; interactions in DMs are not modelled")
        return message.channel

    def _member_of(self, user: User | Member, guild: Guild) -> Member:
        target = user.user if isinstance(user, Member) else user
        if target.id not in guild.members:
            raise ClientRejected(f"{target.username} is not a member of {guild.name}")
        return guild.members[target.id]
