"""The Discord front end: a Bot subclass whose `setup_hook` starts the core and loads one cog per feature."""

from __future__ import annotations

import asyncio
import logging
import pkgutil

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.core.admission import RECORDS_UNAVAILABLE
from bot.core.app import Core, freeze_startup_heap
from bot.discord.delivery import NO_PINGS
from bot.discord.moderators import NotModerator
from bot.shutdown import StopSignals
from storage.recorder import RecorderUnavailable

log = logging.getLogger(__name__)

def cog_modules() -> list[str]:
    """Every module in bot/discord/cogs: one cog per feature, each with its own `setup`."""
    import bot.discord.cogs

    return sorted(f"bot.discord.cogs.{module.name}" for module in pkgutil.iter_modules(bot.discord.cogs.__path__))


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
            if interaction.response.is_done():
                await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(message, ephemeral=True, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            log.warning("could not tell the member about the error")


class StoryloomBot(commands.Bot):
    def __init__(self, settings: Settings, *, core: Core | None = None, **options) -> None:  # noqa: ANN003
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
        self._given_core = core
        self.core: Core

    async def setup_hook(self) -> None:
        self.core = self._given_core or await Core.start(self.settings)
        self.core.readiness["gateway"] = self.gateway_connected
        for cog in cog_modules():
            await self.load_extension(cog)
        if self.settings.discord_sync_guild:
            guild = discord.Object(self.settings.discord_sync_guild)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    def gateway_connected(self) -> bool:
        """Logged in, READY received, and the gateway socket open, every shard's when sharded (a `/ready` check)."""
        if self.is_closed() or not self.is_ready():
            return False
        if isinstance(self, commands.AutoShardedBot):
            return bool(self.shards) and not any(shard.is_closed() for shard in self.shards.values())
        socket = self.ws
        return socket is not None and socket.open

    async def shutdown(self) -> None:
        """Refuse new requests, let open ones finish within `shutdown_grace_s`, then log out and close the core."""
        if hasattr(self, "core"):
            await self.core.drain()
        await self.close()

    def messageable(self, channel_id: int, guild_id: int | None = None) -> discord.abc.Messageable:
        """A channel to post in by id: the cached one, or a partial one (sending needs no cache, e.g. a thread or
        a channel the gateway has not shown since a restart)."""
        return self.get_channel(channel_id) or self.get_partial_messageable(channel_id, guild_id=guild_id)  # type: ignore[return-value]

    async def close(self) -> None:
        await super().close()
        if self._given_core is None and hasattr(self, "core"):
            await self.core.close()


class ShardedStoryloomBot(StoryloomBot, commands.AutoShardedBot):
    """The same bot on several gateway shards (discord.py's `AutoShardedBot`): one process runs the shards it is
    given, or all of them; several processes with disjoint shard ids split the guilds between them."""


def make_bot(settings: Settings, **options) -> StoryloomBot:  # noqa: ANN003
    """The bot the settings ask for: sharded when `shard_count` or `shard_ids` is set, else one plain connection.

    `shard_ids` with `shard_count`: this process runs those shards of that many. `shard_count` alone: all of them.
    Neither: `StoryloomBot`, as Discord requires nothing more below 2,500 guilds.
    """
    if settings.shard_count is None:
        return StoryloomBot(settings, **options)
    return ShardedStoryloomBot(
        settings, shard_count=settings.shard_count, shard_ids=settings.shard_ids or None, **options
    )


def aim_at_discord(settings: Settings) -> None:
    """Point discord.py at the configured REST base and gateway (proxies), where they are not Discord's own."""
    if settings.discord_api_url:
        discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def run_discord(settings: Settings) -> int:
    assert settings.discord_token is not None
    aim_at_discord(settings)

    async def _main() -> None:
        async with make_bot(settings) as bot:
            stopping: list[asyncio.Task[None]] = []

            def stop() -> None:
                stopping.append(asyncio.create_task(bot.shutdown(), name="shutdown"))

            def hurry() -> None:
                if hasattr(bot, "core"):
                    bot.core.pipeline.hurry()

            async def settle() -> None:
                await bot.wait_until_ready()
                freeze_startup_heap()

            settling = asyncio.create_task(settle(), name="freeze-heap")
            with StopSignals(stop, hurry).installed():
                await bot.start(settings.discord_token.get_secret_value())
                settling.cancel()
                for task in stopping:
                    await task

    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        pass
    return 0
