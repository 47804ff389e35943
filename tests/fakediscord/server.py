"""A loopback Discord: the gateway websocket, the REST routes a bot uses, and a driver that acts as the users.

`FakeDiscord` is an aiohttp server on 127.0.0.1 (random port) that a real, unpatched discord.py client talks to
once `pointed_at(fake)` has aimed discord.py's two base URLs at it. It keeps the world (guilds, channels, roles,
members, messages, synced commands) in memory, enforces the Discord rules a bot must live with, and records
each breach as a `Violation` instead of letting it pass silently:

- a message body over Discord's limits (content > 2,000 characters, embeds, files) gets Discord's 400 (50035);
- an interaction acknowledged after 3 s gets 404 Unknown interaction and a `late_ack` violation with the delay;
- a follow-up or edit with a token older than 15 minutes gets 401 and an `expired_token` violation;
- every message write keeps the `allowed_mentions` sent with it and whether it could ping (`MessageWrite`);
- a DM to a bot, or to a user whose `dms_open` is False, gets 403 50007 (the DM channel itself still opens);
- threads: a name of 1 to 100 characters and a valid `auto_archive_duration` (else 50035), one thread per message
  (160004), SEND_MESSAGES_IN_THREADS to post in one, any write to an archived thread 400 50083 until unarchived.

The driver methods (`slash`, `message_command`, `user_command`, `click`, `post_message`, `delete_message`,
`bulk_delete`, `start_thread`, `join_thread`, `leave_thread`, `drop_socket`) refuse, with `ClientRejected`, what
Discord's own client would not let a user do: an unsynced command, a command hidden by `default_member_permissions`
or age restriction, a missing or invalid option, a button that is not there, deleting someone else's message
without Manage Messages, posting in a thread without SEND_MESSAGES_IN_THREADS or in a locked one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

import aiohttp
import discord
import yarl
from aiohttp import web

from .errors import (
    ClientRejected,
    DiscordHTTPError,
    cannot_message_user,
    field_error,
    invalid_channel_type,
    invalid_form_body,
    invalid_webhook_token,
    missing_access,
    missing_permissions,
    thread_already_created,
    thread_archived,
    thread_locked,
    unauthorized,
    unknown_channel,
    unknown_interaction,
    unknown_member,
    unknown_message,
    unknown_user,
    unknown_webhook,
)
from .gateway import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILDS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
    Gateway,
)
from .messages import (
    FLAG_EPHEMERAL,
    FLAG_HAS_THREAD,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    SETTABLE_FLAGS,
    USER_MENTION,
    Attachment,
    Message,
    MessageWrite,
    Pings,
    UploadedFile,
    WriteAction,
    allows_any_ping,
    check_message_body,
    check_not_empty,
    resolve_pings,
)
from .model import (
    AUTO_ARCHIVE_DURATIONS,
    DM_PERMISSIONS,
    EVERYONE_DEFAULT,
    THREAD_PRIVATE,
    THREAD_PUBLIC,
    AnyChannel,
    Channel,
    DMChannel,
    Guild,
    GuildChannel,
    Member,
    Perm,
    Role,
    Thread,
    ThreadMember,
    User,
    iso_timestamp,
    new_snowflake,
)
from .records import Callback, ChangeSignal, Fault, InteractionRecord, RestCall, Violation

API_PREFIX = "/api/v10"

# Application flags of an unverified bot whose privileged intents are switched on in the developer portal.
APP_FLAG_FOR_INTENT = {INTENT_GUILD_PRESENCES: 1 << 13, INTENT_GUILD_MEMBERS: 1 << 15, INTENT_MESSAGE_CONTENT: 1 << 19}

INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_COMPONENT = 3
# Which callback types Discord accepts for each interaction type.
CALLBACKS_ALLOWED = {INTERACTION_APPLICATION_COMMAND: {4, 5, 9}, INTERACTION_COMPONENT: {4, 5, 6, 7, 9}}
COMMAND_CHAT_INPUT, COMMAND_USER, COMMAND_MESSAGE = 1, 2, 3
OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP = 1, 2
OPTION_STRING, OPTION_INTEGER, OPTION_BOOLEAN, OPTION_USER = 3, 4, 5, 6
OPTION_CHANNEL, OPTION_ROLE, OPTION_MENTIONABLE, OPTION_NUMBER, OPTION_ATTACHMENT = 7, 8, 9, 10, 11
COMPONENT_BUTTON = 2
MESSAGE_TYPE_DEFAULT, MESSAGE_TYPE_REPLY, MESSAGE_TYPE_CHAT_INPUT, MESSAGE_TYPE_CONTEXT_MENU = 0, 19, 20, 23
MESSAGE_TYPE_THREAD_CREATED = 18
THREAD_NAME_MAX, RATE_LIMIT_PER_USER_MAX = 100, 21_600
CHAT_INPUT_NAME = re.compile(r"^[-_'\w]{1,32}$")

BOT_DEFAULT = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.MANAGE_MESSAGES
    | Perm.PIN_MESSAGES
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
)
"""What a typical invite link grants the bot's managed role."""

FAST_CLIENT_OPTIONS: dict[str, Any] = {"guild_ready_timeout": 0.01}
"""Client options for tests: `on_ready` waits this long after the last GUILD_CREATE (2 s by default)."""

INTERACTION_ID = web.RequestKey("interaction_id", int)
"""Set by a handler once it knows which interaction a request is about, so a violation can name it."""

ClientT = TypeVar("ClientT", bound=discord.Client)
OptionValue = str | int | float | bool | User | Member | Role | Channel | Thread | tuple[str, bytes]
"""A slash-command option as a test gives it; `(filename, data)` for an attachment option."""


def json_response(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # Exactly `application/json`: discord.py only decodes JSON when the header has no charset.
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


async def read_body(request: web.Request) -> tuple[dict[str, Any], list[UploadedFile]]:
    """A JSON body, or a multipart one: `payload_json` plus `files[n]` parts."""
    if not request.content_type.startswith("multipart/"):
        return (await request.json() if request.can_read_body else {}), []
    body: dict[str, Any] = {}
    files: list[UploadedFile] = []
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, aiohttp.BodyPartReader):
            continue
        if part.name == "payload_json":
            body = json.loads(await part.text())
        elif part.name and part.name.startswith("files["):
            index = int(part.name[len("files[") : -1])
            files.append(
                UploadedFile(
                    index, part.filename or f"file{index}", bytes(await part.read()), part.headers.get("Content-Type")
                )
            )
    return body, files


class FakeDiscord:
    """The server, its world, the records tests assert on, and the driver that plays the users."""

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
        self._runner: web.AppRunner | None = None
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._rest_middleware], client_max_size=256 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._download_attachment)
        api = API_PREFIX
        app.router.add_get(f"{api}/users/@me", self._get_current_user)
        app.router.add_post(f"{api}/users/@me/channels", self._open_dm)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._get_application)
        app.router.add_get(f"{api}/gateway/bot", self._get_gateway_bot)
        for commands in (
            f"{api}/applications/{{application_id}}/commands",
            f"{api}/applications/{{application_id}}/guilds/{{guild_id}}/commands",
        ):
            app.router.add_get(commands, self._get_commands)
            app.router.add_put(commands, self._put_commands)
        app.router.add_get(f"{api}/channels/{{channel_id}}", self._get_channel)
        app.router.add_patch(f"{api}/channels/{{channel_id}}", self._edit_channel)
        app.router.add_delete(f"{api}/channels/{{channel_id}}", self._delete_channel)
        app.router.add_post(f"{api}/channels/{{channel_id}}/threads", self._start_thread_without_message)
        app.router.add_post(
            f"{api}/channels/{{channel_id}}/messages/{{message_id}}/threads", self._start_thread_from_message
        )
        app.router.add_get(f"{api}/channels/{{channel_id}}/thread-members", self._get_thread_members)
        thread_member = f"{api}/channels/{{channel_id}}/thread-members/{{user_id}}"  # user_id may be @me
        app.router.add_get(thread_member, self._get_thread_member)
        app.router.add_put(thread_member, self._add_thread_member_route)
        app.router.add_delete(thread_member, self._remove_thread_member_route)
        app.router.add_post(f"{api}/channels/{{channel_id}}/messages", self._create_channel_message)
        # Registered before `messages/{message_id}`, which would otherwise take "pins" for a message id.
        app.router.add_get(f"{api}/channels/{{channel_id}}/messages/pins", self._get_pins)
        app.router.add_put(f"{api}/channels/{{channel_id}}/messages/pins/{{message_id}}", self._pin)
        app.router.add_delete(f"{api}/channels/{{channel_id}}/messages/pins/{{message_id}}", self._unpin)
        app.router.add_get(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self._get_channel_message)
        app.router.add_patch(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self._edit_channel_message)
        app.router.add_delete(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self._delete_channel_message)
        app.router.add_post(f"{api}/interactions/{{interaction_id}}/{{token}}/callback", self._interaction_callback)
        app.router.add_post(f"{api}/webhooks/{{application_id}}/{{token}}", self._create_followup)
        webhook_message = f"{api}/webhooks/{{application_id}}/{{token}}/messages/{{message_id}}"
        app.router.add_get(webhook_message, self._get_webhook_message)
        app.router.add_patch(webhook_message, self._edit_webhook_message)
        app.router.add_delete(webhook_message, self._delete_webhook_message)

        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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

    # -- the world ---------------------------------------------------------------------------------------------

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

    # -- waiting and asserting -----------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        await self.changes.wait_for(predicate, timeout, self.describe)

    def unacknowledged(self) -> list[InteractionRecord]:
        """Interactions whose 3 s have passed without any acknowledgement (the user saw "interaction failed")."""
        now = self.clock()
        return [
            r for r in self.interactions.values() if r.callback is None and now - r.dispatched_at > self.ack_deadline_s
        ]

    def describe(self) -> str:
        violations = ", ".join(f"{v.kind} on {v.route}" for v in self.violations) or "none"
        return (
            f"violations: {violations}; unmodelled routes: {self.unmodelled or 'none'}; requests: {len(self.requests)}"
        )

    def assert_clean(self) -> None:
        """No rule broken, no route the fake lacks, no interaction left unacknowledged."""
        problems = [f"{v.kind}: {v.status} {v.code} {v.message} on {v.route} {v.errors or ''}" for v in self.violations]
        problems += [f"unmodelled route: {call}" for call in self.unmodelled]
        problems += [f"interaction {r.id} never acknowledged" for r in self.unacknowledged()]
        assert not problems, "fake Discord saw problems:\n" + "\n".join(problems)

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 429,
        retry_after: float = 0.05,
        is_global: bool = False,
        match: str | None = None,
    ) -> None:
        """Answer the next `count` REST calls matching `match` (substring of `METHOD /path`) with `status`.

        A 429 carries the `Via` header and JSON `retry_after` of a real Discord rate limit (discord.py retries it);
        a 5xx carries Discord's JSON error body. Faults are logged in `faults_served`, not as violations.
        """
        self.faults.append(
            Fault(status=status, remaining=count, retry_after=retry_after, is_global=is_global, match=match)
        )

    async def drop_socket(self, *, code: int = 4000, wait: bool = True, timeout: float = 10.0) -> None:
        """Close the gateway socket as a network blip would; by default wait until the client has RESUMEd."""
        await self.gateway.drop_socket(code=code, wait=wait, timeout=timeout)

    # -- driver: users acting ----------------------------------------------------------------------------------

    async def slash(
        self,
        name: str,
        options: Mapping[str, OptionValue] | None = None,
        *,
        user: User | Member,
        channel: GuildChannel | None = None,
        subcommand: str | None = None,
        locale: str = "en-US",
        bypass_client_checks: bool = False,
    ) -> InteractionRecord:
        """A user runs `/name [subcommand] options...` in `channel` (default #general), or in a thread.

        `subcommand` is "sub" or "group sub". Values are checked against the *synced* schema, as Discord's client
        does (types, choices, ranges, required options). `bypass_client_checks` skips only the visibility rules
        (default_member_permissions, age restriction) to test the bot's own checks behind them.
        """
        channel = channel or self.general
        member = self._member_of(user, channel.guild)
        command = self._command_for(name, COMMAND_CHAT_INPUT, member, channel, bypass_client_checks)
        schema: list[dict[str, Any]] = command.get("options", [])
        chain: list[tuple[str, int]] = []
        for part in subcommand.split() if subcommand else []:
            sub = next((option for option in _subcommands(schema) if option["name"] == part), None)
            if sub is None:
                raise ClientRejected(f"/{name} has no subcommand {part!r}")
            chain.append((part, sub["type"]))
            schema = sub.get("options", [])
        if _subcommands(schema):
            raise ClientRejected(f"/{name} {subcommand or ''} needs a subcommand")
        resolved: dict[str, dict[str, Any]] = {}
        given = dict(options or {})
        values = [
            self._option_payload(o, given.pop(o["name"]), member, channel, resolved)
            for o in schema
            if o["name"] in given
        ]
        if given:
            raise ClientRejected(f"/{name} has no option(s) {sorted(given)}")
        missing = [o["name"] for o in schema if o.get("required") and not any(v["name"] == o["name"] for v in values)]
        if missing:
            raise ClientRejected(f"/{name} needs option(s) {missing}")
        for part, kind in reversed(chain):
            values = [{"type": kind, "name": part, "options": values}]
        data = self._command_data(command, values, resolved)
        return await self._dispatch_interaction(INTERACTION_APPLICATION_COMMAND, data, member, channel, locale=locale)

    async def message_command(
        self, name: str, message: Message, *, user: User | Member, locale: str = "en-US"
    ) -> InteractionRecord:
        """A user picks Apps → `name` on `message` (a message context-menu command)."""
        channel = self._guild_channel_of(message)
        member = self._member_of(user, channel.guild)
        command = self._command_for(name, COMMAND_MESSAGE, member, channel, False)
        data = self._command_data(command, None, {"messages": {str(message.id): message.payload()}}) | {
            "target_id": str(message.id)
        }
        return await self._dispatch_interaction(INTERACTION_APPLICATION_COMMAND, data, member, channel, locale=locale)

    async def user_command(
        self,
        name: str,
        target: User | Member,
        *,
        user: User | Member,
        channel: GuildChannel | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """A user picks Apps → `name` on `target` (a user context-menu command)."""
        channel = channel or self.general
        member = self._member_of(user, channel.guild)
        command = self._command_for(name, COMMAND_USER, member, channel, False)
        resolved: dict[str, dict[str, Any]] = {}
        target_user = self._resolve_user(target, channel, resolved)
        data = self._command_data(command, None, resolved) | {"target_id": str(target_user.id)}
        return await self._dispatch_interaction(INTERACTION_APPLICATION_COMMAND, data, member, channel, locale=locale)

    async def click(
        self, message: Message, custom_id: str, *, user: User | Member, locale: str = "en-US"
    ) -> InteractionRecord:
        """A user clicks the button `custom_id` on `message` (a component interaction carrying that message)."""
        channel = self._guild_channel_of(message)
        member = self._member_of(user, channel.guild)
        if message.deleted:
            raise ClientRejected(f"message {message.id} is deleted")
        component = message.find_component(custom_id)
        if component is None or component.get("type") != COMPONENT_BUTTON:
            raise ClientRejected(f"message {message.id} has no button {custom_id!r}")
        if component.get("disabled"):
            raise ClientRejected(f"button {custom_id!r} is disabled")
        data = {"custom_id": custom_id, "component_type": COMPONENT_BUTTON}
        return await self._dispatch_interaction(
            INTERACTION_COMPONENT, data, member, channel, locale=locale, source_message=message
        )

    async def post_message(
        self, channel: GuildChannel, author: User | Member, content: str, *, reply_to: Message | None = None
    ) -> Message:
        """A user posts in `channel`; the bot gets MESSAGE_CREATE (content only with the message-content intent).

        In a thread (SEND_MESSAGES_IN_THREADS) the author joins it if not yet a member (THREAD_MEMBERS_UPDATE), and
        an archived thread is unarchived first (THREAD_UPDATE), as Discord's client does; a locked thread takes
        Manage Threads.
        """
        member = self._member_of(author, channel.guild)
        permissions = channel.guild.permissions(member, channel)
        if not permissions & _send_permission(channel):
            raise ClientRejected(f"{member.user.username} cannot send messages in #{channel.name}")
        if isinstance(channel, Thread):
            if channel.locked and not permissions & Perm.MANAGE_THREADS:
                raise ClientRejected(f"thread {channel.name!r} is locked (Manage Threads)")
            if channel.archived:
                await self._set_archived(channel, False)
        message = Message(id=new_snowflake(), channel=channel, author=member.user, content=content)
        if reply_to is not None:
            message.type = MESSAGE_TYPE_REPLY
            message.reference = {
                "message_id": str(reply_to.id),
                "channel_id": str(channel.id),
                "guild_id": str(channel.guild.id),
            }
            message.replied_to = reply_to
        self._set_pings(message, None)
        self._store_message(message)
        if isinstance(channel, Thread):
            await self._add_to_thread(channel, member.user)
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        self.changes.notify()
        return message

    async def start_thread(
        self,
        channel: Channel,
        name: str,
        *,
        user: User | Member,
        message: Message | None = None,
        private: bool = False,
        auto_archive_duration: int = 1440,
    ) -> Thread:
        """A user starts a thread in `channel` (from `message`, or on its own; public unless `private`).

        The bot gets THREAD_CREATE (`newly_created`); a public thread without a message also leaves Discord's
        "started a thread" system message (type 18) in the channel, and one from a message MESSAGE_UPDATE for it.
        """
        member = self._member_of(user, channel.guild)
        if not isinstance(channel, Channel):
            raise ClientRejected("threads start in text channels, not in threads")
        if private and message is not None:
            raise ClientRejected("a thread started from a message is public")
        needed = Perm.CREATE_PRIVATE_THREADS if private else Perm.CREATE_PUBLIC_THREADS
        if not channel.guild.permissions(member, channel) & needed:
            raise ClientRejected(f"{member.user.username} cannot create threads in #{channel.name} ({needed.name})")
        body = {"name": name, "auto_archive_duration": auto_archive_duration}
        errors = _thread_body_errors(body, name_required=True, type_required=False)
        if errors:
            raise ClientRejected(f"Discord's client refuses this thread: {errors}")
        if message is not None:
            if message.channel is not channel or message.deleted or message.ephemeral:
                raise ClientRejected(f"message {message.id} is not a visible message in #{channel.name}")
            if message.thread is not None:
                raise ClientRejected(f"message {message.id} already has a thread")
        return await self._open_thread(
            channel,
            member.user,
            name.strip(),
            kind=THREAD_PRIVATE if private else THREAD_PUBLIC,
            auto_archive_duration=auto_archive_duration,
            starter=message,
        )

    async def join_thread(self, thread: Thread, *, user: User | Member) -> None:
        """A user joins a thread they can see; the bot gets THREAD_MEMBERS_UPDATE with the members intent."""
        member = self._member_of(user, thread.guild)
        if not thread.guild.permissions(member, thread) & Perm.VIEW_CHANNEL:
            raise ClientRejected(f"{member.user.username} cannot see thread {thread.name!r}")
        if thread.archived:
            raise ClientRejected(f"thread {thread.name!r} is archived")
        await self._add_to_thread(thread, member.user)

    async def leave_thread(self, thread: Thread, *, user: User | Member) -> None:
        """A user leaves a thread; the bot gets THREAD_MEMBERS_UPDATE with the members intent."""
        member = self._member_of(user, thread.guild)
        if member.user.id not in thread.members:
            raise ClientRejected(f"{member.user.username} is not in thread {thread.name!r}")
        await self._remove_from_thread(thread, member.user)

    async def delete_message(self, message: Message, *, user: User | Member) -> None:
        """A user deletes `message`: their own, or anyone's with Manage Messages. The bot gets MESSAGE_DELETE."""
        await self._user_deletes([message], user, "MESSAGE_DELETE")

    async def bulk_delete(self, messages: list[Message], *, user: User | Member) -> None:
        """A moderation tool acting for `user` (Manage Messages) purges 2 to 100 messages of one channel at once,
        as Discord's bulk delete does: the bot gets one MESSAGE_DELETE_BULK."""
        if not 2 <= len(messages) <= 100:
            raise ClientRejected(f"bulk delete takes 2 to 100 messages, not {len(messages)}")
        await self._user_deletes(messages, user, "MESSAGE_DELETE_BULK")

    async def _user_deletes(self, messages: list[Message], user: User | Member, event: str) -> None:
        channel = self._guild_channel_of(messages[0])
        member = self._member_of(user, channel.guild)
        may_manage = channel.guild.permissions(member, channel) & Perm.MANAGE_MESSAGES
        if isinstance(channel, Thread) and channel.archived:
            raise ClientRejected(f"thread {channel.name!r} is archived")
        for message in messages:
            if message.channel is not channel or message.deleted or message.ephemeral:
                raise ClientRejected(f"message {message.id} is not a visible message in #{channel.name}")
            if not may_manage and (event == "MESSAGE_DELETE_BULK" or message.author is not member.user):
                raise ClientRejected(f"{member.user.username} cannot delete message {message.id} (Manage Messages)")
        for message in messages:
            self._forget_message(message)
        if event == "MESSAGE_DELETE":
            payload: dict[str, Any] = {"id": str(messages[0].id)}
        else:
            payload = {"ids": [str(message.id) for message in messages]}
        if self.gateway.session is not None and self.gateway.session.intents & INTENT_GUILD_MESSAGES:
            await self.gateway.dispatch(event, payload | _channel_ids(channel))
        self.changes.notify()

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

    def _command_for(
        self, name: str, kind: int, member: Member, channel: GuildChannel, bypass: bool
    ) -> dict[str, Any]:
        guild = channel.guild
        command = self.commands.get((guild.id, name, kind)) or self.commands.get((None, name, kind))
        if command is None:
            synced = sorted(key[1] for key in self.commands if key[0] in (None, guild.id))
            raise ClientRejected(f"no synced command {name!r} of type {kind} in {guild.name}; synced: {synced}")
        if bypass:
            return command
        if command.get("contexts") is not None and 0 not in command["contexts"]:
            raise ClientRejected(f"{name!r} is not usable in guilds")
        if command.get("nsfw") and not channel.nsfw:
            raise ClientRejected(f"{name!r} is age-restricted and #{channel.name} is not")
        permissions = guild.permissions(member, channel)
        if not permissions & Perm.USE_APPLICATION_COMMANDS:
            raise ClientRejected(f"{member.user.username} may not use application commands in #{channel.name}")
        required = command.get("default_member_permissions")
        # "0" hides the command from everyone but administrators.
        if required is not None and not permissions & Perm.ADMINISTRATOR:
            needed = int(required)
            if needed == 0 or permissions & needed != needed:
                raise ClientRejected(f"{name!r} is hidden from {member.user.username} by default_member_permissions")
        return command

    def _command_data(
        self, command: dict[str, Any], options: list[dict[str, Any]] | None, resolved: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": command["type"]}
        if options is not None:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if command.get("guild_id") is not None:
            data["guild_id"] = command["guild_id"]
        return data

    def _option_payload(
        self,
        schema: dict[str, Any],
        value: OptionValue,
        member: Member,
        channel: GuildChannel,
        resolved: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        kind, name = schema["type"], schema["name"]
        wire: str | int | float | bool
        if kind == OPTION_STRING and isinstance(value, str):
            if not schema.get("min_length", 0) <= len(value) <= schema.get("max_length", 6000):
                raise ClientRejected(f"option {name!r}: length {len(value)} outside the command's limits")
            wire = value
        elif kind == OPTION_INTEGER and isinstance(value, int) and not isinstance(value, bool):
            wire = value
        elif kind == OPTION_NUMBER and isinstance(value, int | float) and not isinstance(value, bool):
            wire = value
        elif kind == OPTION_BOOLEAN and isinstance(value, bool):
            wire = value
        elif kind in (OPTION_USER, OPTION_MENTIONABLE) and isinstance(value, User | Member):
            wire = str(self._resolve_user(value, channel, resolved).id)
        elif kind in (OPTION_ROLE, OPTION_MENTIONABLE) and isinstance(value, Role):
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            wire = str(value.id)
        elif kind == OPTION_CHANNEL and isinstance(value, Channel | Thread):
            if schema.get("channel_types") and value.type not in schema["channel_types"]:
                raise ClientRejected(f"option {name!r} does not accept channel type {value.type}")
            permissions = value.guild.permissions(member, value)
            resolved.setdefault("channels", {})[str(value.id)] = value.payload() | {"permissions": str(permissions)}
            wire = str(value.id)
        elif kind == OPTION_ATTACHMENT and isinstance(value, tuple):
            filename, data = value
            attachment = self._store_attachment(channel, UploadedFile(0, filename, data, None), filename, None)
            resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.payload() | {"ephemeral": True}
            wire = str(attachment.id)
        else:
            raise ClientRejected(f"option {name!r} of type {kind} cannot take {value!r}")
        is_number = isinstance(wire, int | float) and not isinstance(wire, bool)
        if is_number and not schema.get("min_value", wire) <= wire <= schema.get("max_value", wire):
            raise ClientRejected(f"option {name!r}: {wire} outside the command's range")
        choices = schema.get("choices")
        if choices and wire not in [choice["value"] for choice in choices]:
            raise ClientRejected(f"option {name!r}: {wire!r} is not one of the command's choices")
        return {"name": name, "type": kind, "value": wire}

    def _resolve_user(self, target: User | Member, channel: GuildChannel, resolved: dict[str, dict[str, Any]]) -> User:
        user = target.user if isinstance(target, Member) else target
        resolved.setdefault("users", {})[str(user.id)] = user.payload()
        member = channel.guild.members.get(user.id)
        if member is not None:
            permissions = channel.guild.permissions(member, channel)
            resolved.setdefault("members", {})[str(user.id)] = member.payload(with_user=False) | {
                "permissions": str(permissions)
            }
        return user

    async def _dispatch_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        member: Member,
        channel: GuildChannel,
        *,
        locale: str,
        source_message: Message | None = None,
    ) -> InteractionRecord:
        if isinstance(channel, Thread) and channel.archived:
            raise ClientRejected(
                f"thread {channel.name!r} is archived: interactions in archived threads are not modelled"
                " (post a message to unarchive it first)"
            )
        guild = channel.guild
        permissions = guild.permissions(member, channel)
        app_permissions = guild.permissions(guild.member(self.bot_user), channel)
        interaction_id, token = new_snowflake(), f"aW50ZXJhY3Rpb246{secrets.token_urlsafe(48)}"
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            "guild_locale": guild.preferred_locale,
            "channel_id": str(channel.id),
            "channel": channel.payload() | {"permissions": str(permissions)},
            "member": member.payload() | {"permissions": str(permissions)},
            "token": token,
            "version": 1,
            "app_permissions": str(app_permissions),
            "locale": locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": guild.upload_limit,
        }
        if source_message is not None:
            payload["message"] = source_message.payload()
        record = InteractionRecord(
            server=self,
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            member=member,
            guild=guild,
            channel=channel,
            dispatched_at=self.clock(),
            source_message=source_message,
        )
        self.interactions[record.id] = record
        self._interactions_by_token[token] = record
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        self.changes.notify()
        return record

    # -- REST: plumbing ------------------------------------------------------------------------------------------

    @web.middleware
    async def _rest_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        path = request.path.removeprefix(API_PREFIX)
        call = f"{request.method} {path}"
        fault = next((f for f in self.faults if f.remaining > 0 and (f.match is None or f.match in call)), None)
        response: web.StreamResponse
        if fault is not None:
            fault.remaining -= 1
            self.faults_served.append(call)
            response = self._fault_response(fault)
        else:
            try:
                # Interaction callbacks and webhooks are authorised by the token in their path, not a bot token.
                bot_route = not path.startswith(("/webhooks/", "/interactions/"))
                if bot_route and request.headers.get("Authorization") != f"Bot {self.token}":
                    raise unauthorized()
                response = await handler(request)
            except DiscordHTTPError as error:
                self.violations.append(
                    Violation(
                        kind=error.kind,
                        status=error.status,
                        code=error.code,
                        message=error.message,
                        route=self._route_name(request),
                        at=self.clock(),
                        errors=error.errors,
                        interaction_id=request.get(INTERACTION_ID),
                        late_by=error.late_by,
                    )
                )
                response = json_response(error.body(), status=error.status)
            except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as missing:
                self.unmodelled.append(call)
                response = json_response({"message": f"{missing.status}: Not Found", "code": 0}, status=404)
        self.requests.append(RestCall(request.method, path, response.status, self.clock()))
        self.changes.notify()
        return response

    def _fault_response(self, fault: Fault) -> web.Response:
        if fault.status != 429:
            return json_response({"message": f"{fault.status}: Server error", "code": 0}, status=fault.status)
        headers = {
            "Via": "1.1 google",  # without it discord.py takes a 429 for a Cloudflare ban and gives up
            "Retry-After": str(max(1, round(fault.retry_after))),
            "X-RateLimit-Scope": "global" if fault.is_global else "user",
        }
        if fault.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": fault.is_global,
            "code": 0,
        }
        return json_response(body, status=429, headers=headers)

    @staticmethod
    def _route_name(request: web.Request) -> str:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        return f"{request.method} {template.removeprefix(API_PREFIX)}"

    # -- REST: application ---------------------------------------------------------------------------------------

    def current_user_payload(self) -> dict[str, Any]:
        return self.bot_user.payload() | {"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None}

    def application_flags(self) -> int:
        return sum(flag for intent, flag in APP_FLAG_FOR_INTENT.items() if self.enabled_privileged_intents & intent)

    async def _get_current_user(self, request: web.Request) -> web.Response:
        return json_response(self.current_user_payload())

    async def _open_dm(self, request: web.Request) -> web.Response:
        """discord.py's `create_dm`: one channel per recipient, reused. Closed DMs only show when the bot sends."""
        body = await request.json()
        raw_id = body.get("recipient_id")
        if raw_id is None:
            raise invalid_form_body({"recipient_id": field_error("BASE_TYPE_REQUIRED", "This field is required")})
        user = self.users.get(int(raw_id))
        if user is None:
            raise unknown_user()
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = self.dm_channels[user.id] = DMChannel(id=new_snowflake(), recipient=user)
        return json_response(channel.payload())

    async def _get_application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner.payload(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": self.application_flags(),
                "bot": self.bot_user.payload(),
                "interactions_endpoint_url": None,
            }
        )

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    def _command_scope(self, request: web.Request) -> int | None:
        if int(request.match_info["application_id"]) != self.application_id:
            raise missing_access()
        raw_guild = request.match_info.get("guild_id")
        if raw_guild is None:
            return None
        if int(raw_guild) not in self.guilds:
            raise missing_access()
        return int(raw_guild)

    async def _get_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        return json_response([command for key, command in self.commands.items() if key[0] == scope])

    async def _put_commands(self, request: web.Request) -> web.Response:
        """Bulk overwrite: the scope's commands become exactly these; a command keeps its id across syncs."""
        scope = self._command_scope(request)
        body: list[dict[str, Any]] = await request.json()
        errors = _command_errors(body)
        if errors:
            raise invalid_form_body(errors)
        previous = {key: command for key, command in self.commands.items() if key[0] == scope}
        for key in previous:
            del self.commands[key]
        stored = []
        for entry in body:
            kind = entry.get("type", COMMAND_CHAT_INPUT)
            old = previous.get((scope, entry["name"], kind))
            command = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
            } | entry
            command |= {
                "id": old["id"] if old else str(new_snowflake()),
                "application_id": str(self.application_id),
                "version": str(new_snowflake()),
                "type": kind,
                "guild_id": None if scope is None else str(scope),
            }
            self.commands[(scope, entry["name"], kind)] = command
            stored.append(command)
        self.command_syncs += 1
        return json_response(stored)

    # -- REST: channel messages ----------------------------------------------------------------------------------

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

    def _bot_permissions(self, channel: AnyChannel) -> int:
        if isinstance(channel, DMChannel):
            return int(DM_PERMISSIONS)
        return channel.guild.permissions(channel.guild.member(self.bot_user), channel)

    def _channel_message(self, request: web.Request, channel: AnyChannel) -> Message:
        message = self.messages.get(int(request.match_info["message_id"]))
        if message is None or message.channel is not channel or message.deleted or message.ephemeral:
            raise unknown_message()
        return message

    async def _create_channel_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if isinstance(channel, DMChannel) and (channel.recipient.bot or not channel.recipient.dms_open):
            raise cannot_message_user()
        permissions = self._bot_permissions(channel)
        if not permissions & Perm.VIEW_CHANNEL:
            raise missing_access()
        body, files = await read_body(request)
        if not permissions & _send_permission(channel) or (files and not permissions & Perm.ATTACH_FILES):
            raise missing_permissions()
        if isinstance(channel, Thread) and channel.locked and not channel.archived:
            if not permissions & Perm.MANAGE_THREADS:
                raise thread_locked()
        message = await self._create_message(
            channel, body, files, route=self._route_name(request), flags_allowed=SETTABLE_FLAGS & ~FLAG_EPHEMERAL
        )
        if isinstance(channel, Thread):
            await self._add_to_thread(channel, self.bot_user)  # posting in a thread joins it
        return json_response(message.payload())

    async def _get_channel_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if not self._bot_permissions(channel) & Perm.READ_MESSAGE_HISTORY:
            raise missing_access()
        return json_response(self._channel_message(request, channel).payload())

    async def _edit_channel_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._channel_message(request, channel)
        if message.author is not self.bot_user:
            raise DiscordHTTPError(
                403, 50005, "Cannot edit a message authored by another user", kind="cannot_edit_others"
            )
        body, files = await read_body(request)
        await self._edit_message(message, body, files, route=self._route_name(request))
        return json_response(message.payload())

    async def _delete_channel_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._channel_message(request, channel)
        if message.author is not self.bot_user and not self._bot_permissions(channel) & Perm.MANAGE_MESSAGES:
            raise missing_permissions()
        await self._delete_message(message, route=self._route_name(request))
        return web.Response(status=204)

    async def _get_pins(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        pinned = sorted(
            (m for m in self.channel_messages(channel) if m.pinned), key=lambda m: m.pinned_at or "", reverse=True
        )
        items = [{"pinned_at": message.pinned_at, "message": message.payload()} for message in pinned]
        return json_response({"items": items, "has_more": False})

    async def _pin(self, request: web.Request) -> web.Response:
        return await self._set_pinned(request, pinned=True)

    async def _unpin(self, request: web.Request) -> web.Response:
        return await self._set_pinned(request, pinned=False)

    async def _set_pinned(self, request: web.Request, *, pinned: bool) -> web.Response:
        channel = self._channel(request)
        message = self._channel_message(request, channel)
        if not self._bot_permissions(channel) & (Perm.PIN_MESSAGES | Perm.MANAGE_MESSAGES):
            raise missing_permissions()
        _refuse_if_archived(channel)
        message.pinned = pinned
        message.pinned_at = iso_timestamp() if pinned else None
        last_pin = max((m.pinned_at for m in self.channel_messages(channel) if m.pinned_at), default=None)
        await self.gateway.dispatch_if_connected(
            "CHANNEL_PINS_UPDATE",
            _channel_ids(channel) | {"last_pin_timestamp": last_pin},
        )
        return web.Response(status=204)

    async def _download_attachment(self, request: web.Request) -> web.Response:
        attachment = self.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None:
            raise web.HTTPNotFound()
        return web.Response(body=attachment.data, content_type=attachment.content_type or "application/octet-stream")

    # -- threads ---------------------------------------------------------------------------------------------------

    def _bot_sees(self, channel: GuildChannel) -> bool:
        return bool(self._bot_permissions(channel) & Perm.VIEW_CHANNEL)

    async def _open_thread(
        self,
        parent: Channel,
        creator: User,
        name: str,
        *,
        kind: int,
        auto_archive_duration: int,
        starter: Message | None = None,
        invitable: bool = True,
        rate_limit_per_user: int = 0,
    ) -> Thread:
        """Start a thread (its creator its first member) and tell the bot as Discord does."""
        thread = Thread(
            id=starter.id if starter is not None else new_snowflake(),  # a message's thread takes its id
            parent=parent,
            name=name,
            owner_id=creator.id,
            type=kind,
            auto_archive_duration=auto_archive_duration,
            invitable=invitable,
            rate_limit_per_user=rate_limit_per_user,
        )
        thread.members[creator.id] = ThreadMember(creator)
        parent.guild.threads[thread.id] = thread
        await self._dispatch_thread_event("THREAD_CREATE", thread, newly_created=True)
        if starter is not None:
            thread.starter_message_id = starter.id
            starter.thread = thread
            starter.flags |= FLAG_HAS_THREAD
            await self._dispatch_message_event("MESSAGE_UPDATE", starter)
        elif kind == THREAD_PUBLIC:
            notice = Message(
                id=new_snowflake(),
                channel=parent,
                author=creator,
                content=name,
                type=MESSAGE_TYPE_THREAD_CREATED,
                reference={"channel_id": str(thread.id), "guild_id": str(parent.guild.id)},
            )
            self._store_message(notice)
            await self._dispatch_message_event("MESSAGE_CREATE", notice)
        self.changes.notify()
        return thread

    async def _dispatch_thread_event(self, event: str, thread: Thread, *, newly_created: bool = False) -> None:
        """THREAD_CREATE / THREAD_UPDATE (GUILDS intent) for a thread the bot can see, `member` if it joined."""
        session = self.gateway.session
        if session is None or not session.intents & INTENT_GUILDS or not self._bot_sees(thread):
            return
        payload = thread.payload(me=self.bot_user.id)
        if newly_created:
            payload["newly_created"] = True
        await self.gateway.dispatch(event, payload)

    async def _dispatch_thread_members_update(
        self, thread: Thread, *, added: list[User] | None = None, removed: list[User] | None = None
    ) -> None:
        """Discord sends others' joins and leaves only with the GUILD_MEMBERS intent; the bot's own always."""
        session = self.gateway.session
        if session is None or not session.intents & INTENT_GUILDS:
            return
        added, removed = list(added or []), list(removed or [])
        if not session.intents & INTENT_GUILD_MEMBERS:
            added = [user for user in added if user is self.bot_user]
            removed = [user for user in removed if user is self.bot_user]
        concerns_bot = self.bot_user in added or self.bot_user in removed
        if not (added or removed) or not (concerns_bot or self._bot_sees(thread)):
            return
        payload: dict[str, Any] = {
            "id": str(thread.id),
            "guild_id": str(thread.guild.id),
            "member_count": thread.payload()["member_count"],
        }
        if added:
            payload["added_members"] = [
                thread.members[user.id].payload(thread.id)
                | {"member": thread.guild.members[user.id].payload(), "presence": None}
                for user in added
            ]
        if removed:
            payload["removed_member_ids"] = [str(user.id) for user in removed]
        await self.gateway.dispatch("THREAD_MEMBERS_UPDATE", payload)

    async def _add_to_thread(self, thread: Thread, user: User) -> bool:
        """Add a member (no-op if already one). The bot joining also gets THREAD_CREATE, as Discord sends it."""
        if user.id in thread.members:
            return False
        thread.members[user.id] = ThreadMember(user)
        await self._dispatch_thread_members_update(thread, added=[user])
        if user is self.bot_user:
            await self._dispatch_thread_event("THREAD_CREATE", thread)
        self.changes.notify()
        return True

    async def _remove_from_thread(self, thread: Thread, user: User) -> bool:
        if thread.members.pop(user.id, None) is None:
            return False
        await self._dispatch_thread_members_update(thread, removed=[user])
        self.changes.notify()
        return True

    async def _set_archived(self, thread: Thread, archived: bool) -> None:
        thread.archived = archived
        thread.archive_timestamp = iso_timestamp()
        await self._dispatch_thread_event("THREAD_UPDATE", thread)
        self.changes.notify()

    def _thread(self, request: web.Request) -> Thread:
        channel = self._channel(request)
        if not isinstance(channel, Thread):
            raise invalid_channel_type()
        if not self._bot_sees(channel):
            raise missing_access()
        return channel

    def _thread_member_target(self, request: web.Request, thread: Thread) -> User:
        raw = request.match_info["user_id"]
        if raw == "@me":
            return self.bot_user
        user = self.users.get(int(raw)) if raw.isdigit() else None
        if user is None or user.id not in thread.guild.members:
            raise unknown_member()
        return user

    async def _parent_for_new_thread(self, request: web.Request) -> tuple[Channel, int]:
        channel = self._channel(request)
        if not isinstance(channel, Channel):
            raise invalid_channel_type()
        permissions = self._bot_permissions(channel)
        if not permissions & Perm.VIEW_CHANNEL:
            raise missing_access()
        return channel, permissions

    async def _start_thread_from_message(self, request: web.Request) -> web.Response:
        """discord.py's `Message.create_thread`: a public thread with the message's id."""
        channel, permissions = await self._parent_for_new_thread(request)
        message = self._channel_message(request, channel)
        if not permissions & Perm.CREATE_PUBLIC_THREADS:
            raise missing_permissions()
        body = await request.json()
        errors = _thread_body_errors(body, name_required=True, type_required=False)
        if errors:
            raise invalid_form_body(errors)
        if message.thread is not None:
            raise thread_already_created()
        thread = await self._open_thread(
            channel,
            self.bot_user,
            body["name"].strip(),
            kind=THREAD_PUBLIC,
            auto_archive_duration=body.get("auto_archive_duration") or 1440,
            starter=message,
            rate_limit_per_user=body.get("rate_limit_per_user") or 0,
        )
        return json_response(thread.payload(me=self.bot_user.id))

    async def _start_thread_without_message(self, request: web.Request) -> web.Response:
        """discord.py's `TextChannel.create_thread` without a message (it asks for a *private* thread by default)."""
        channel, permissions = await self._parent_for_new_thread(request)
        body = await request.json()
        errors = _thread_body_errors(body, name_required=True, type_required=True)
        if errors:
            raise invalid_form_body(errors)
        kind = int(body["type"])
        if not permissions & (Perm.CREATE_PRIVATE_THREADS if kind == THREAD_PRIVATE else Perm.CREATE_PUBLIC_THREADS):
            raise missing_permissions()
        thread = await self._open_thread(
            channel,
            self.bot_user,
            body["name"].strip(),
            kind=kind,
            auto_archive_duration=body.get("auto_archive_duration") or 1440,
            invitable=body.get("invitable") is not False,
            rate_limit_per_user=body.get("rate_limit_per_user") or 0,
        )
        return json_response(thread.payload(me=self.bot_user.id))

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if not self._bot_permissions(channel) & Perm.VIEW_CHANNEL:
            raise missing_access()
        if isinstance(channel, Thread):
            return json_response(channel.payload(me=self.bot_user.id))
        return json_response(channel.payload())

    async def _edit_channel(self, request: web.Request) -> web.Response:
        """Modify a thread (rename, archive, lock...); editing other channels is not modelled."""
        if not isinstance(self._channel(request), Thread):
            raise web.HTTPNotFound()  # recorded in `unmodelled`
        thread = self._thread(request)
        permissions = self._bot_permissions(thread)
        body: dict[str, Any] = await request.json()
        unarchiving = body.get("archived") is False
        if thread.archived and not unarchiving:
            raise thread_archived()
        # Locking, invitability and slowmode take Manage Threads; the creator may rename, archive and set the
        # archive duration; anyone who may post may unarchive a thread that is not locked.
        may_manage = bool(permissions & Perm.MANAGE_THREADS)
        needs_manage = any(key in body for key in ("locked", "invitable", "rate_limit_per_user"))
        needs_manage |= thread.archived and thread.locked
        if not needs_manage and thread.owner_id != self.bot_user.id:
            needs_manage = not (set(body) <= {"archived"} and unarchiving)
        if needs_manage and not may_manage:
            raise missing_permissions()
        if unarchiving and not permissions & Perm.SEND_MESSAGES_IN_THREADS and not may_manage:
            raise missing_permissions()
        errors = _thread_body_errors(body, name_required=False, type_required=False)
        if errors:
            raise invalid_form_body(errors)
        if body.get("name") is not None:
            thread.name = body["name"].strip()
        if body.get("auto_archive_duration") is not None:
            thread.auto_archive_duration = body["auto_archive_duration"]
        if body.get("rate_limit_per_user") is not None:
            thread.rate_limit_per_user = int(body["rate_limit_per_user"])
        if "locked" in body:
            thread.locked = bool(body["locked"])
        if "invitable" in body and thread.private:
            thread.invitable = bool(body["invitable"])
        if "archived" in body and bool(body["archived"]) != thread.archived:
            thread.archived = bool(body["archived"])
            thread.archive_timestamp = iso_timestamp()
        await self._dispatch_thread_event("THREAD_UPDATE", thread)
        return json_response(thread.payload(me=self.bot_user.id))

    async def _delete_channel(self, request: web.Request) -> web.Response:
        """Delete a thread (Manage Threads); deleting other channels is not modelled."""
        if not isinstance(self._channel(request), Thread):
            raise web.HTTPNotFound()  # recorded in `unmodelled`
        thread = self._thread(request)
        if not self._bot_permissions(thread) & Perm.MANAGE_THREADS:
            raise missing_permissions()
        del thread.guild.threads[thread.id]
        for message in self.messages.values():
            if message.channel is thread:
                message.deleted = True
            elif message.thread is thread:
                message.thread = None
                message.flags &= ~FLAG_HAS_THREAD
        session = self.gateway.session
        if session is not None and session.intents & INTENT_GUILDS:
            await self.gateway.dispatch(
                "THREAD_DELETE",
                {
                    "id": str(thread.id),
                    "guild_id": str(thread.guild.id),
                    "parent_id": str(thread.parent.id),
                    "type": thread.type,
                },
            )
        return json_response(thread.payload())

    async def _get_thread_members(self, request: web.Request) -> web.Response:
        """Listing a thread's members needs the GUILD_MEMBERS intent switched on for the application."""
        thread = self._thread(request)
        if not self.enabled_privileged_intents & INTENT_GUILD_MEMBERS:
            raise missing_access()
        with_member = request.query.get("with_member") in ("1", "true", "True")
        return json_response(
            [self._thread_member_payload(thread, member, with_member) for member in thread.members.values()]
        )

    async def _get_thread_member(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        member = thread.members.get(self._thread_member_target(request, thread).id)
        if member is None:
            raise unknown_member()
        with_member = request.query.get("with_member") in ("1", "true", "True")
        return json_response(self._thread_member_payload(thread, member, with_member))

    def _thread_member_payload(self, thread: Thread, member: ThreadMember, with_member: bool) -> dict[str, Any]:
        payload: dict[str, Any] = member.payload(thread.id)
        if with_member:
            payload["member"] = thread.guild.members[member.user.id].payload()
        return payload

    async def _add_thread_member_route(self, request: web.Request) -> web.Response:
        """`Thread.join()` (@me) and `Thread.add_user()`: SEND_MESSAGES_IN_THREADS, and not archived."""
        thread = self._thread(request)
        permissions = self._bot_permissions(thread)
        user = self._thread_member_target(request, thread)
        if thread.archived:
            raise thread_archived()
        if not permissions & Perm.SEND_MESSAGES_IN_THREADS:
            raise missing_permissions()
        adding_other = user is not self.bot_user
        if adding_other and thread.private and not thread.invitable and not permissions & Perm.MANAGE_THREADS:
            raise missing_permissions()
        await self._add_to_thread(thread, user)
        return web.Response(status=204)

    async def _remove_thread_member_route(self, request: web.Request) -> web.Response:
        """`Thread.leave()` (@me) and `Thread.remove_user()`: Manage Threads, or the creator of a private thread."""
        thread = self._thread(request)
        permissions = self._bot_permissions(thread)
        user = self._thread_member_target(request, thread)
        if thread.archived:
            raise thread_archived()
        if user is not self.bot_user:
            creator = thread.private and thread.owner_id == self.bot_user.id
            if not (permissions & Perm.MANAGE_THREADS or creator):
                raise missing_permissions()
        await self._remove_from_thread(thread, user)
        return web.Response(status=204)

    # -- REST: interactions ---------------------------------------------------------------------------------------

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        record = self.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.token != request.match_info["token"]:
            raise unknown_interaction()
        request[INTERACTION_ID] = record.id
        body, files = await read_body(request)
        delay = self.clock() - record.dispatched_at
        if delay > self.ack_deadline_s:
            raise unknown_interaction(kind="late_ack", late_by=delay)
        if record.callback is not None:
            raise DiscordHTTPError(
                400, 40060, "Interaction has already been acknowledged.", kind="already_acknowledged"
            )
        kind: int = body.get("type", 0)
        data: dict[str, Any] = body.get("data") or {}
        if kind not in CALLBACKS_ALLOWED[record.type]:
            raise invalid_form_body(
                {"type": field_error("INTERACTION_RESPONSE_TYPE_INVALID", f"Invalid type {kind} here")}
            )
        route = self._route_name(request)
        message: Message | None = None
        if kind == 4:
            message = await self._create_message(
                record.channel,
                data,
                files,
                route=route,
                interaction=record,
                error_path=("data",),
                flags_allowed=SETTABLE_FLAGS,
            )
            record.original = message
        elif kind == 5:
            message = await self._create_placeholder(
                record, ephemeral=bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            )
            record.original = message
        elif kind in (6, 7):
            message = record.source_message
            if kind == 7 and message is not None:
                await self._edit_message(message, data, files, route=route, interaction=record, error_path=("data",))
            record.original = message  # `@original` of a component interaction is the clicked message
        record.callback = Callback(type=kind, data=data, at=self.clock(), delay=delay)
        response: dict[str, Any] = {"interaction": {"id": str(record.id), "type": record.type}}
        if message is not None:
            response["interaction"] |= {
                "response_message_id": str(message.id),
                "response_message_loading": message.loading,
                "response_message_ephemeral": message.ephemeral,
            }
            if kind in (4, 5, 7):
                response["resource"] = {"type": kind, "message": message.payload()}
        return json_response(response)

    def _webhook_record(self, request: web.Request) -> InteractionRecord:
        if int(request.match_info["application_id"]) != self.application_id:
            raise unknown_webhook()
        record = self._interactions_by_token.get(request.match_info["token"])
        if record is None:
            raise invalid_webhook_token()
        request[INTERACTION_ID] = record.id
        if self.clock() - record.dispatched_at > self.token_lifetime_s:
            raise invalid_webhook_token(kind="expired_token")
        if record.callback is None:
            raise unknown_webhook(kind="not_acknowledged")
        return record

    def _webhook_message(self, request: web.Request, record: InteractionRecord) -> Message:
        raw_id = request.match_info["message_id"]
        if raw_id == "@original":
            message = record.original
        else:
            message = self.messages.get(int(raw_id))
            if message not in record.messages and message is not record.source_message:
                message = None
        if message is None or message.deleted:
            raise unknown_message()
        return message

    async def _create_followup(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        body, files = await read_body(request)
        route = self._route_name(request)
        original = record.original
        if original is not None and original.loading and not original.deleted:
            # After a defer, the first follow-up replaces the "thinking..." placeholder (keeping its ephemerality).
            message = await self._edit_message(original, body, files, route=route, interaction=record)
        else:
            message = await self._create_message(
                record.channel, body, files, route=route, interaction=record, flags_allowed=SETTABLE_FLAGS
            )
        record.followups.append(message)
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(message.payload())
        return web.Response(status=204)

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        return json_response(self._webhook_message(request, record).payload())

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        message = self._webhook_message(request, record)
        body, files = await read_body(request)
        await self._edit_message(message, body, files, route=self._route_name(request), interaction=record)
        return json_response(message.payload())

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        message = self._webhook_message(request, record)
        await self._delete_message(message, route=self._route_name(request), interaction=record)
        return web.Response(status=204)

    # -- messages: the one path every write takes ---------------------------------------------------------------

    async def _create_message(
        self,
        channel: AnyChannel,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        route: str,
        flags_allowed: int,
        interaction: InteractionRecord | None = None,
        error_path: tuple[str, ...] = (),
    ) -> Message:
        _refuse_if_archived(channel)
        check_message_body(body, files, error_path=error_path)
        self._check_upload_size(files, channel.upload_limit)
        replied_to = self._reply_target(body, channel)
        attachments = self._attachments(channel, body, files, existing=[])
        content, embeds, components = body.get("content") or "", body.get("embeds") or [], body.get("components") or []
        check_not_empty(content, embeds, components, attachments)
        message = Message(
            id=new_snowflake(),
            channel=channel,
            author=self.bot_user,
            content=content,
            embeds=embeds,
            components=components,
            attachments=attachments,
            flags=int(body.get("flags") or 0) & flags_allowed,
            type=MESSAGE_TYPE_REPLY if replied_to is not None else MESSAGE_TYPE_DEFAULT,
        )
        if replied_to is not None:
            message.reference, message.replied_to = body["message_reference"], replied_to
        if interaction is not None:
            self._mark_interaction_message(message, interaction)
        self._set_pings(message, body.get("allowed_mentions"))
        self._store_message(message)
        self._record_write(message, "create", route, body, interaction)
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        return message

    async def _create_placeholder(self, record: InteractionRecord, *, ephemeral: bool) -> Message:
        """The deferred response's "is thinking..." message: not a write of the bot's, so not in `writes`."""
        message = Message(
            id=new_snowflake(),
            channel=record.channel,
            author=self.bot_user,
            flags=FLAG_LOADING | (FLAG_EPHEMERAL if ephemeral else 0),
        )
        self._mark_interaction_message(message, record)
        self._store_message(message)
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        return message

    async def _edit_message(
        self,
        message: Message,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        route: str,
        interaction: InteractionRecord | None = None,
        error_path: tuple[str, ...] = (),
    ) -> Message:
        """Discord's PATCH: only the fields present change; `attachments` lists what to keep."""
        _refuse_if_archived(message.channel)
        check_message_body(body, files, error_path=error_path)
        self._check_upload_size(files, message.channel.upload_limit)
        content = message.content if "content" not in body else body["content"] or ""
        embeds = message.embeds if "embeds" not in body else body["embeds"] or []
        components = message.components if "components" not in body else body["components"] or []
        attachments = self._attachments(message.channel, body, files, existing=message.attachments)
        check_not_empty(content, embeds, components, attachments)
        # Replacing a deferred placeholder is the response itself, not an edit the user sees as "(edited)".
        if not message.loading:
            message.edited_at = iso_timestamp()
        message.content, message.embeds = content, embeds
        message.components, message.attachments = components, attachments
        if "flags" in body:
            message.flags = (message.flags & ~FLAG_SUPPRESS_EMBEDS) | (int(body["flags"] or 0) & FLAG_SUPPRESS_EMBEDS)
        message.flags &= ~FLAG_LOADING
        if "content" in body:
            self._set_pings(message, body.get("allowed_mentions"))
        self._record_write(message, "edit", route, body, interaction)
        await self._dispatch_message_event("MESSAGE_UPDATE", message)
        return message

    async def _delete_message(
        self, message: Message, *, route: str, interaction: InteractionRecord | None = None
    ) -> None:
        _refuse_if_archived(message.channel)
        self._forget_message(message)
        self._record_write(message, "delete", route, {}, interaction)
        if not message.ephemeral:
            payload = {"id": str(message.id)} | _channel_ids(message.channel)
            await self.gateway.dispatch_if_connected("MESSAGE_DELETE", payload)

    def _store_message(self, message: Message) -> None:
        """Keep a new message; in a thread, count it as Discord does (`message_count`, `total_message_sent`)."""
        self.messages[message.id] = message
        channel = message.channel
        if isinstance(channel, Thread) and not message.ephemeral:
            channel.message_count += 1
            channel.total_message_sent += 1
            channel.last_message_id = message.id

    def _forget_message(self, message: Message) -> None:
        message.deleted = True
        channel = message.channel
        if isinstance(channel, Thread) and not message.ephemeral:
            channel.message_count = max(0, channel.message_count - 1)

    def _mark_interaction_message(self, message: Message, record: InteractionRecord) -> None:
        message.webhook_id = message.application_id = self.application_id
        metadata: dict[str, Any] = {
            "id": str(record.id),
            "type": record.type,
            "user": record.member.user.payload(),
            "authorizing_integration_owners": {"0": str(record.guild.id)},
        }
        if record.source_message is not None:
            metadata["interacted_message_id"] = str(record.source_message.id)
        message.interaction_metadata = metadata
        if record.original is None and record.type == INTERACTION_APPLICATION_COMMAND:
            command_type = record.payload["data"]["type"]
            message.type = MESSAGE_TYPE_CHAT_INPUT if command_type == COMMAND_CHAT_INPUT else MESSAGE_TYPE_CONTEXT_MENU

    def _check_upload_size(self, files: list[UploadedFile], limit: int) -> None:
        if any(len(file.data) > limit for file in files):
            raise DiscordHTTPError(413, 40005, "Request entity too large", kind="file_too_large")

    def _reply_target(self, body: dict[str, Any], channel: AnyChannel) -> Message | None:
        reference = body.get("message_reference")
        if not reference:
            return None
        target = self.messages.get(int(reference["message_id"]))
        if target is None or target.channel is not channel or target.deleted:
            raise invalid_form_body(
                {"message_reference": field_error("MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")}
            )
        return target

    def _attachments(
        self, channel: AnyChannel, body: dict[str, Any], files: list[UploadedFile], *, existing: list[Attachment]
    ) -> list[Attachment]:
        """Existing attachments named in `attachments` are kept; `{"id": n}` entries take the upload `files[n]`."""
        uploads = {file.index: file for file in files}
        specs: list[dict[str, Any]] | None = body.get("attachments")
        new_specs: list[dict[str, Any]]
        if specs is None:
            kept, new_specs = list(existing), [{"id": file.index} for file in files]
        else:
            existing_by_id = {attachment.id: attachment for attachment in existing}
            kept = [existing_by_id[int(spec["id"])] for spec in specs if int(spec["id"]) in existing_by_id]
            new_specs = [spec for spec in specs if int(spec["id"]) in uploads and int(spec["id"]) not in existing_by_id]
        added = [
            self._store_attachment(channel, uploads[int(spec["id"])], spec.get("filename"), spec.get("description"))
            for spec in new_specs
        ]
        return kept + added

    def _store_attachment(
        self, channel: AnyChannel, upload: UploadedFile, filename: str | None, description: str | None
    ) -> Attachment:
        attachment_id = new_snowflake()
        name = filename or upload.filename
        attachment = Attachment(
            id=attachment_id,
            filename=name,
            data=upload.data,
            url=f"{self.base_url}/attachments/{channel.id}/{attachment_id}/{name}",
            content_type=upload.content_type,
            description=description,
        )
        self.attachments[attachment.id] = attachment
        return attachment

    def _set_pings(self, message: Message, allowed_mentions: dict[str, Any] | None) -> None:
        replied_author = message.replied_to.author if message.replied_to is not None else None
        message.pinged = resolve_pings(message.content, allowed_mentions, replied_author)
        message.mentioned_users = [
            self.users[user_id] for user_id in sorted(message.pinged.users) if user_id in self.users
        ]

    def _record_write(
        self,
        message: Message,
        action: WriteAction,
        route: str,
        body: dict[str, Any],
        interaction: InteractionRecord | None,
    ) -> None:
        allowed_mentions = body.get("allowed_mentions")
        write = MessageWrite(
            action=action,
            route=route,
            message_id=message.id,
            channel_id=message.channel.id,
            content=message.content,
            allowed_mentions=allowed_mentions,
            # A write without content cannot ping; with content, what matters is what the bot allowed.
            could_ping="content" in body and allows_any_ping(allowed_mentions, is_reply=message.reference is not None),
            pinged=message.pinged if "content" in body else Pings(),
            attachment_names=tuple(attachment.filename for attachment in message.attachments),
            at=self.clock(),
            interaction_id=None if interaction is None else interaction.id,
        )
        message.writes.append(write)
        self.writes.append(write)
        if interaction is not None:
            interaction.writes.append(write)

    async def _dispatch_message_event(self, event: str, message: Message) -> None:
        """Dispatch as the intents allow (GUILD_MESSAGES, DIRECT_MESSAGES); guild content only with MESSAGE_CONTENT."""
        session = self.gateway.session
        if session is None or message.ephemeral:
            return
        channel = message.channel
        if isinstance(channel, DMChannel):
            # DMs always carry their content; Discord sends no guild_id and no member.
            if session.intents & INTENT_DIRECT_MESSAGES:
                await self.gateway.dispatch(event, message.payload())
            return
        if not session.intents & INTENT_GUILD_MESSAGES:
            return
        if isinstance(channel, Thread) and not self._bot_sees(channel):
            return  # a private thread the bot is not in
        payload = message.payload() | {"guild_id": str(channel.guild.id)}
        member = channel.guild.members.get(message.author.id)
        if member is not None:
            payload["member"] = member.payload(with_user=False)
        mentions_bot = self.bot_user.id in {int(user_id) for user_id in USER_MENTION.findall(message.content)}
        if not (session.intents & INTENT_MESSAGE_CONTENT or message.author is self.bot_user or mentions_bot):
            payload |= {"content": "", "embeds": [], "attachments": [], "components": []}
        await self.gateway.dispatch(event, payload)

    # -- running a bot ------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def run_bot(self, bot: ClientT, *, timeout: float = 10.0) -> AsyncIterator[ClientT]:
        """Log `bot` in with the fake's token, wait for `on_ready`, and close it on exit."""
        if discord.http.Route.BASE != self.api_base:
            raise RuntimeError(
                "discord.py is not pointed at this fake: use `pointed_at(fake)` or the fake_discord fixture"
            )
        runner = asyncio.create_task(bot.start(self.token))
        try:
            deadline = time.monotonic() + timeout
            while not bot.is_ready():
                if runner.done():
                    runner.result()
                    raise RuntimeError("the bot stopped before it was ready")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the bot was not ready within {timeout} s; {self.describe()}")
                await asyncio.sleep(0.01)
            yield bot
        finally:
            await bot.close()
            await runner


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Aim discord.py's REST base (webhooks and interaction callbacks use it too) and gateway at `fake`."""
    previous = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous


def _channel_ids(channel: AnyChannel) -> dict[str, str]:
    """`channel_id`, plus `guild_id` for a guild channel: a DM's gateway events carry no guild."""
    ids = {"channel_id": str(channel.id)}
    if not isinstance(channel, DMChannel):
        ids["guild_id"] = str(channel.guild.id)
    return ids


def _send_permission(channel: AnyChannel) -> Perm:
    """SEND_MESSAGES has no effect in a thread: SEND_MESSAGES_IN_THREADS takes its place there."""
    return Perm.SEND_MESSAGES_IN_THREADS if isinstance(channel, Thread) else Perm.SEND_MESSAGES


def _refuse_if_archived(channel: AnyChannel) -> None:
    if isinstance(channel, Thread) and channel.archived:
        raise thread_archived()


def _thread_body_errors(body: Mapping[str, Any], *, name_required: bool, type_required: bool) -> dict[str, Any]:
    """Discord's checks on a thread's fields when it is started or edited."""
    errors: dict[str, Any] = {}
    name = body.get("name")
    if name is None:
        if name_required:
            errors["name"] = field_error("BASE_TYPE_REQUIRED", "This field is required")
    elif not isinstance(name, str) or not 1 <= len(name.strip()) <= THREAD_NAME_MAX:
        errors["name"] = field_error("BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {THREAD_NAME_MAX} in length.")
    duration = body.get("auto_archive_duration")
    if duration is not None and duration not in AUTO_ARCHIVE_DURATIONS:
        choices = ", ".join(str(choice) for choice in AUTO_ARCHIVE_DURATIONS)
        errors["auto_archive_duration"] = field_error("BASE_TYPE_CHOICES", f"Value must be one of {{{choices}}}.")
    slowmode = body.get("rate_limit_per_user")
    if slowmode is not None and not 0 <= int(slowmode) <= RATE_LIMIT_PER_USER_MAX:
        errors["rate_limit_per_user"] = field_error(
            "NUMBER_TYPE_MAX", f"int value should be less than or equal to {RATE_LIMIT_PER_USER_MAX}."
        )
    if type_required:
        kind = body.get("type")
        if kind is None:
            errors["type"] = field_error("BASE_TYPE_REQUIRED", "This field is required")
        elif kind not in (THREAD_PUBLIC, THREAD_PRIVATE):
            choices = f"{THREAD_PUBLIC}, {THREAD_PRIVATE}"
            errors["type"] = field_error("BASE_TYPE_CHOICES", f"Value must be one of {{{choices}}}.")
    return errors


def _subcommands(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [option for option in options if option["type"] in (OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP)]


def _command_errors(commands: list[dict[str, Any]]) -> dict[str, Any]:
    """The checks Discord makes on a bulk overwrite that discord.py does not make first."""
    errors: dict[str, Any] = {}
    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        kind, name = command.get("type", COMMAND_CHAT_INPUT), command.get("name", "")
        problems: dict[str, Any] = {}
        if kind == COMMAND_CHAT_INPUT and not (CHAT_INPUT_NAME.match(name) and name == name.lower()):
            problems["name"] = field_error("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        elif not 1 <= len(name) <= 32:
            problems["name"] = field_error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        description = command.get("description", "")
        if kind == COMMAND_CHAT_INPUT and not 1 <= len(description) <= 100:
            problems["description"] = field_error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if len(command.get("options", [])) > 25:
            problems["options"] = field_error("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if (name, kind) in seen:
            problems["name"] = field_error(
                "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add((name, kind))
        if problems:
            errors[str(index)] = problems
    return errors
