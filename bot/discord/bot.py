"""The Discord front end: a Bot subclass given its core by `run_discord`, loading one cog per feature and putting
the review desk before the pipeline; and `sync_commands`, which registers the commands with Discord
(`storyloom discord sync`) without starting anything behind them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.core.admission import RECORDS_UNAVAILABLE
from bot.core.app import Core, freeze_startup_heap
from bot.discord.delivery import NO_PINGS, reply
from bot.discord.moderators import NotModerator
from bot.discord.notices import tell_interrupted
from bot.discord.reviews import ReviewButton, ReviewDesk
from bot.shutdown import StopSignals
from storage.recorder import RecorderUnavailable

log = logging.getLogger(__name__)

EXTENSIONS = tuple(
    f"bot.discord.cogs.{name}"
    for name in ("audit", "guardrails", "help", "mine", "pieces", "privacy", "provenance", "settings", "story", "write")
)
"""One cog per feature, each module with its own `setup`."""


class StoryloomTree(app_commands.CommandTree):
    """The one error handler: a short, clear message to the member; the details go to the log."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            message = "You need the " + ", ".join(p.replace("_", " ") for p in error.missing_permissions) + " permission for that."
        elif isinstance(error, NotModerator):
            message = error.message
        elif isinstance(error, app_commands.NoPrivateMessage):
            message = "That command only works in a server."
        elif isinstance(error, app_commands.CommandOnCooldown):
            message = f"Slow down a little: try again in {error.retry_after:.0f} s."
        elif isinstance(error, app_commands.CheckFailure):
            message = "You can't use that command here."
        elif isinstance(error, app_commands.TransformerError):
            message = f"I couldn't understand `{error.value}`."
        elif isinstance(getattr(error, "original", None), RecorderUnavailable):  # the database refuses writes
            message = RECORDS_UNAVAILABLE.message
        else:
            log.exception("command %s failed", interaction.command and interaction.command.qualified_name, exc_info=error)
            message = "Something went wrong on my side. Please try again."
        try:
            await reply(interaction, message)
        except discord.HTTPException:
            log.warning("could not tell the member about the error")


class CommandSet(commands.Bot):
    """The cogs and their commands with nothing behind them: what `sync_commands` registers with Discord. The cogs
    reach the core only when a command runs."""

    def __init__(self, settings: Settings, **options) -> None:  # noqa: ANN003
        # A text bot never joins voice: the missing voice libraries are not worth a warning on every start.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.default()  # slash commands need no privileged intents
        # Privileged: only when the operator switched it on in the developer portal (else Discord closes with 4014).
        intents.message_content = settings.message_content_intent
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=NO_PINGS,
            tree_cls=StoryloomTree,
            **options,
        )
        self.settings = settings

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)


async def register_commands(tree: app_commands.CommandTree, guild_id: int | None) -> list[app_commands.AppCommand]:
    """Register the tree's commands globally (they reach every server within the hour), or copied to one guild (at
    once; for development)."""
    if guild_id is None:
        return await tree.sync()
    guild = discord.Object(guild_id)
    tree.copy_global_to(guild=guild)
    return await tree.sync(guild=guild)


class StoryloomBot(CommandSet):
    """The running bot over a started core (its owner closes it): the cogs, the review desk the pipeline holds
    outputs at, and the notices a crashed run owes its members.

    `sync_commands`: register the commands globally as it starts (the tests' loopback Discord); against Discord
    that is `storyloom discord sync`, once per change of commands. `discord_sync_guild` copies them to that one
    guild on every start, for development."""

    def __init__(self, settings: Settings, *, core: Core, sync_commands: bool = False, **options) -> None:  # noqa: ANN003
        super().__init__(settings, **options)
        self.core = core
        # From construction, not setup_hook: the core's /ready answers before the bot logs in, and must say "not
        # ready" until the gateway is. (No core: `make_bot` asked only which class to build.)
        if core is not None:
            core.readiness["gateway"] = self.gateway_connected
        self.sync_globally = sync_commands
        self.review_desk = ReviewDesk(self)

    async def setup_hook(self) -> None:
        await super().setup_hook()
        self.add_dynamic_items(ReviewButton)
        self.core.pipeline.reviews = self.review_desk
        await tell_interrupted(self)
        if self.settings.discord_sync_guild or self.sync_globally:
            await register_commands(self.tree, self.settings.discord_sync_guild or None)

    def gateway_connected(self) -> bool:
        """Logged in, READY received, and the gateway socket open, every shard's when sharded (a `/ready` check)."""
        if self.is_closed() or not self.is_ready():
            return False
        if isinstance(self, commands.AutoShardedBot):
            return bool(self.shards) and not any(shard.is_closed() for shard in self.shards.values())
        socket = self.ws
        return socket is not None and socket.open

    async def shutdown(self) -> None:
        """Refuse new requests, let open ones finish within `shutdown_grace_s`, then log out."""
        await self.core.drain()
        await self.close()

    def messageable(self, channel_id: int, guild_id: int | None = None) -> discord.abc.Messageable:
        """A channel to post in by id: the cached one, or a partial one (sending needs no cache, e.g. a thread or
        a channel the gateway has not shown since a restart)."""
        return self.get_channel(channel_id) or self.get_partial_messageable(channel_id, guild_id=guild_id)  # type: ignore[return-value]

    async def close(self) -> None:
        if self.core.pipeline.reviews is self.review_desk:
            self.core.pipeline.reviews = None
        await super().close()


class ShardedStoryloomBot(StoryloomBot, commands.AutoShardedBot):
    """The same bot on several gateway shards (discord.py's `AutoShardedBot`): one process runs the shards it is
    given, or all of them; several processes with disjoint shard ids split the guilds between them."""


def make_bot(settings: Settings, *, core: Core, **options) -> StoryloomBot:  # noqa: ANN003
    """The bot the settings ask for: sharded when `shard_count` or `shard_ids` is set, else one plain connection.

    `shard_ids` with `shard_count`: this process runs those shards of that many. `shard_count` alone: all of them.
    Neither: `StoryloomBot`, as Discord requires nothing more below 2,500 guilds.
    """
    if settings.shard_count is None:
        return StoryloomBot(settings, core=core, **options)
    return ShardedStoryloomBot(
        settings, core=core, shard_count=settings.shard_count, shard_ids=settings.shard_ids or None, **options
    )


def aim_at_discord(settings: Settings) -> None:
    """Point discord.py at the configured REST base and gateway (proxies), where they are not Discord's own."""
    if settings.discord_api_url:
        discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


@contextlib.asynccontextmanager
async def started_core(settings: Settings) -> AsyncIterator[Core]:
    """The core for one run of the bot, closed after the bot."""
    core = await Core.start(settings)
    try:
        yield core
    finally:
        await core.close()


def run_discord(settings: Settings) -> int:
    assert settings.discord_token is not None
    aim_at_discord(settings)

    async def _main() -> None:
        async with started_core(settings) as core, make_bot(settings, core=core) as bot:
            stopping: list[asyncio.Task[None]] = []

            def stop() -> None:
                stopping.append(asyncio.create_task(bot.shutdown(), name="shutdown"))

            async def settle() -> None:
                await bot.wait_until_ready()
                freeze_startup_heap()

            settling = asyncio.create_task(settle(), name="freeze-heap")
            with StopSignals(stop, core.pipeline.hurry).installed():
                await bot.start(settings.discord_token.get_secret_value())
                settling.cancel()
                for task in stopping:
                    await task

    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        pass
    return 0


async def sync_commands(settings: Settings, guild_id: int | None = None) -> list[str]:
    """`storyloom discord sync`: register the bot's commands with Discord (`register_commands`), logged in over REST
    only, with no core started. The names registered."""
    assert settings.discord_token is not None
    aim_at_discord(settings)
    async with CommandSet(settings) as bot:
        await bot.login(settings.discord_token.get_secret_value())  # loads the cogs (`setup_hook`)
        synced = await register_commands(bot.tree, guild_id)
    return [command.name for command in synced]
