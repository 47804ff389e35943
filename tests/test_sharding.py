"""Sharding by configuration, against the loopback fake Discord (which sends each shard only its guilds, as Discord
does: guild `g` belongs to shard `(g >> 22) % count`).

Two bot "processes" (two clients, each with its own core and engine, as separate processes would have) run
disjoint shard ids over ONE database: each sees only its guilds, answers the commands from them on its own engine,
and both records land in the same verified chain. `STORYLOOM_SHARD_COUNT` alone runs every shard in one process.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import pytest
from discord.ext import commands
from pydantic import ValidationError

from bot.config import Settings
from bot.core.app import Core
from bot.discord.bot import ShardedStoryloomBot, StoryloomBot, make_bot
from bot.engines.openai_engine import OpenAIEngine
from storage.chain import verify
from storage.models import Request
from tests.fakediscord import FAST_CLIENT_OPTIONS, FakeDiscord
from tests.fakediscord.model import Channel, Guild
from tests.plugins.bot import REQUEST_ID, records
from tests.plugins.openai_server import OpenAIServerFactory
from tests.test_pipeline import BENIGN

SHARDS = 2


def shard_of(guild_id: int, count: int = SHARDS) -> int:
    return (guild_id >> 22) % count


def guilds_on_every_shard(fake: FakeDiscord) -> dict[int, list[Guild]]:
    """Add guilds (each with #general and alice) until every shard has two. Snowflakes made within one millisecond
    share their timestamp bits, hence one shard: the guilds are made a millisecond apart."""
    while True:
        by_shard = {shard: [g for g in fake.guilds.values() if shard_of(g.id) == shard] for shard in range(SHARDS)}
        if all(len(guilds) >= 2 for guilds in by_shard.values()):
            return by_shard
        time.sleep(0.0015)
        guild = fake.add_guild(f"Guild {len(fake.guilds)}", owner=fake.owner)
        guild.add_channel("general")
        guild.add_member(fake.alice)


def general(guild: Guild) -> Channel:
    return next(channel for channel in guild.channels.values() if getattr(channel, "name", None) == "general")


@pytest.fixture
async def start_bot(tmp_path, default_rails) -> AsyncIterator[Callable]:
    """`await start_bot(stack, server, **settings)`: a core, engine and bot of their own, on the shared database."""
    async with AsyncExitStack() as cleanup:

        async def start(stack: AsyncExitStack, fake: FakeDiscord, server, **options) -> tuple[StoryloomBot, Core]:
            settings = Settings(data_dir=tmp_path, engine="openai", engine_urls=[server.base_url],
                                stream_edit_interval_s=0.2, **options)  # fmt: skip
            engine = OpenAIEngine.from_settings(settings)
            await engine.start()
            cleanup.push_async_callback(engine.close)
            core = await Core.start(settings, engine=engine, rails=default_rails)
            cleanup.push_async_callback(core.close)
            bot = make_bot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)
            await stack.enter_async_context(fake.run_bot(bot, timeout=20))
            return bot, core

        yield start


async def write_in(fake: FakeDiscord, guild: Guild) -> str:
    r = await fake.slash("write", {"kind": "poem", "about": "a lighthouse keeper"}, user=fake.alice, channel=general(guild))
    await r.wait_done(lambda r: r.original is not None and "AI-generated" in r.original.content, timeout=45)
    return REQUEST_ID.search(r.original.content).group(1)


async def test_two_processes_with_their_own_shard_ids_split_the_guilds(
    fake_discord: FakeDiscord, openai_server_factory: OpenAIServerFactory, start_bot
) -> None:
    fake = fake_discord
    by_shard = guilds_on_every_shard(fake)
    servers = [await openai_server_factory(scripted_reply=BENIGN) for _ in range(SHARDS)]

    async with AsyncExitStack() as stack:
        (bot_0, core_0), (bot_1, _) = [
            await start_bot(stack, fake, servers[shard], shard_count=SHARDS, shard_ids=[shard]) for shard in range(SHARDS)
        ]
        assert isinstance(bot_0, commands.AutoShardedBot) and (bot_0.shard_ids, bot_0.shard_count) == ([0], 2)
        assert {g.id for g in bot_0.guilds} == {g.id for g in by_shard[0]}
        assert {g.id for g in bot_1.guilds} == {g.id for g in by_shard[1]}
        assert sorted(session.shard for session in fake.gateway.sessions) == [[0, 2], [1, 2]]
        assert bot_0.gateway_connected() and bot_1.gateway_connected()

        written = {shard: await write_in(fake, by_shard[shard][0]) for shard in range(SHARDS)}

        # Each command was answered by the process that owns its guild, on that process's own engine.
        assert [len(server.chat_requests) for server in servers] == [1, 1]
        for shard, request_id in written.items():
            [request] = await records(core_0, Request, Request.id == request_id)
            assert (request.status, request.guild_id) == ("delivered", by_shard[shard][0].id)
        report = await verify(core_0.database)
    assert report.intact and report.records >= 2
    fake.assert_clean()


@pytest.mark.slow  # discord.py waits 5 s before each IDENTIFY after the first (Discord's rate limit)
async def test_a_shard_count_alone_runs_every_shard_in_one_process(
    fake_discord: FakeDiscord, openai_server_factory: OpenAIServerFactory, start_bot
) -> None:
    fake = fake_discord
    by_shard = guilds_on_every_shard(fake)
    server = await openai_server_factory(scripted_reply=BENIGN)

    async with AsyncExitStack() as stack:
        bot, _ = await start_bot(stack, fake, server, shard_count=SHARDS)
        assert isinstance(bot, ShardedStoryloomBot) and sorted(bot.shards) == [0, 1]
        assert {g.id for g in bot.guilds} == set(fake.guilds)
        assert sorted(session.shard for session in fake.gateway.sessions) == [[0, 2], [1, 2]]
        await write_in(fake, by_shard[1][0])
    assert len(server.chat_requests) == 1
    fake.assert_clean()


def test_no_shard_settings_keep_one_plain_connection() -> None:
    bot = make_bot(Settings(), core=None)  # the type alone: no core is started
    assert type(bot) is StoryloomBot and bot.shard_count is None


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"STORYLOOM_SHARD_IDS": "0,1"}, "needs STORYLOOM_SHARD_COUNT"),
        ({"STORYLOOM_SHARD_COUNT": "2", "STORYLOOM_SHARD_IDS": "1,2"}, "shard ids [2] are outside 0..1"),
        ({"STORYLOOM_SHARD_COUNT": "0"}, "greater than or equal to 1"),
    ],
)
def test_shard_settings_that_cannot_work_are_refused(monkeypatch: pytest.MonkeyPatch, environment, message) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Settings()


def test_shard_ids_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYLOOM_SHARD_COUNT", "4")
    monkeypatch.setenv("STORYLOOM_SHARD_IDS", "1, 3")
    settings = Settings()
    assert (settings.shard_count, settings.shard_ids) == (4, [1, 3])


async def test_a_process_starting_on_a_shared_database_leaves_the_others_requests_open(
    tmp_path, database_url, default_rails, openai_server
) -> None:
    # On SQLite and PostgreSQL. Shard 1's process has a request in flight when shard 0's process (re)starts: only shard 0's own leftovers are
    # closed as interrupted. When shard 1's process restarts after a crash, its leftover is closed too. (A process
    # that stopped: its lease released; one that is alive keeps its requests, see tests/test_instance_leases.py.)
    def settings(*shards: int) -> Settings:
        return Settings(data_dir=tmp_path, database_url=database_url, engine="openai",
                        engine_urls=[openai_server.base_url], shard_count=2, shard_ids=list(shards))  # fmt: skip

    engine = OpenAIEngine.from_settings(settings(0))
    cores = [await Core.start(settings(shard), engine=engine, rails=default_rails) for shard in (0, 1)]
    for core, request_id in zip(cores, ("left-by-0", "in-flight-on-1")):
        core.recorder.request_arrived(id=request_id, interface="discord", guild_id=1, channel_id=2, user_id=3,
                                      user_name="ada", command="write", kind="poem", prompt="x", status="generating")  # fmt: skip
        await core.recorder.flush()
    try:
        await cores[0].close()
        restarted_0 = await Core.start(settings(0), engine=engine, rails=default_rails)
        statuses = dict((r.id, (r.status, r.instance)) for r in await records(restarted_0, Request))
        assert statuses == {"left-by-0": ("interrupted", "shards-0"), "in-flight-on-1": ("generating", "shards-1")}
        await cores[1].close()
        restarted_1 = await Core.start(settings(1), engine=engine, rails=default_rails)
        assert [r.status for r in await records(restarted_1, Request, Request.id == "in-flight-on-1")] == ["interrupted"]
        cores += [restarted_0, restarted_1]
    finally:
        for core in cores:
            await core.close()
        await engine.close()
