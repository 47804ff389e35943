"""The loopback fake Discord, proven with a tiny real bot: login, sync, slash commands, buttons, rules, faults."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import (
    FAST_CLIENT_OPTIONS,
    ClientRejected,
    FakeDiscord,
    Overwrite,
    OverwriteTarget,
    Perm,
    Thread,
)

NO_PINGS = discord.AllowedMentions.none()


class VoteView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.votes = 0

    @discord.ui.button(label="Yes", custom_id="vote:yes")
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[VoteView]) -> None:
        self.votes += 1
        await interaction.response.edit_message(content=f"Votes: {self.votes}", view=self)


class StoryGroup(app_commands.Group):
    """`/story new` and `/story chapter add`: a group with a nested subgroup."""

    chapter = app_commands.Group(name="chapter", description="Chapters")

    @app_commands.command(name="new", description="Start a story")
    async def new(self, interaction: discord.Interaction, title: str) -> None:
        await interaction.response.send_message(f"New story: {title}")

    @chapter.command(name="add", description="Add a chapter")
    async def add(self, interaction: discord.Interaction, number: int) -> None:
        await interaction.response.send_message(f"Chapter {number} added")


class StoryCog(commands.Cog):
    def __init__(self) -> None:
        self.release = asyncio.Event()
        """Held commands wait for this, so a test can let the fake's clock run first."""
        self.http_errors: list[tuple[int, int]] = []
        """(status, Discord code) of each HTTPException the commands caught."""

    @app_commands.command(name="tale", description="Tell a short tale")
    async def tale(
        self, interaction: discord.Interaction, topic: str, chapters: app_commands.Range[int, 1, 3] = 1
    ) -> None:
        await interaction.response.defer(thinking=True)
        message = await interaction.followup.send(f"Once upon a time, {topic} ({chapters}).", wait=True)
        await message.edit(content=f"{message.content} The end.")

    @app_commands.command(name="configure", description="Change server settings")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def configure(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Settings saved.", ephemeral=True)

    @app_commands.command(name="purge", description="Moderators only")
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.checks.has_permissions(manage_messages=True)
    async def purge(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Purged.", ephemeral=True)

    @configure.error
    @purge.error
    async def refuse(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            await interaction.response.send_message("You lack the permission for that.", ephemeral=True)

    @app_commands.command(name="vote", description="Start a vote")
    async def vote(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Votes: 0", view=VoteView())

    @app_commands.command(name="greet", description="Greet someone")
    async def greet(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"Hello {member.mention}, welcome to {interaction.guild}!")

    @app_commands.command(name="spotlight", description="Feature a role in a channel")
    async def spotlight(self, interaction: discord.Interaction, role: discord.Role, where: discord.TextChannel) -> None:
        await interaction.response.send_message(f"{role.name} featured in #{where.name}")

    @app_commands.command(name="pitch", description="Pitch a story in a form")
    async def pitch(self, interaction: discord.Interaction) -> None:
        modal = discord.ui.Modal(title="Pitch", custom_id="pitch-form")
        modal.add_item(discord.ui.TextInput(label="Logline", custom_id="logline"))
        await interaction.response.send_modal(modal)

    @app_commands.command(name="shout", description="Careless: pings everyone")
    async def shout(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("@everyone story time", allowed_mentions=discord.AllowedMentions.all())

    @app_commands.command(name="ramble", description="Too long for one message")
    async def ramble(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("word " * 500)
        except discord.HTTPException as error:
            self.http_errors.append((error.status, error.code))

    @app_commands.command(name="ponder", description="Acknowledges only when released")
    async def ponder(self, interaction: discord.Interaction) -> None:
        await self.release.wait()
        try:
            await interaction.response.send_message("Hmm.")
        except discord.HTTPException as error:
            self.http_errors.append((error.status, error.code))

    @app_commands.command(name="saga", description="Defers, then answers when released")
    async def saga(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await self.release.wait()
        try:
            await interaction.followup.send("Finally.")
        except discord.HTTPException as error:
            self.http_errors.append((error.status, error.code))

    @app_commands.command(name="manuscript", description="Echo an uploaded file back as an attachment")
    async def manuscript(self, interaction: discord.Interaction, draft: discord.Attachment) -> None:
        text = await draft.read()
        await interaction.response.send_message(
            f"{draft.filename}: {len(text)} bytes", file=discord.File(io.BytesIO(text.upper()), "draft-upper.txt")
        )

    @app_commands.command(name="pinme", description="Answer and pin the answer")
    async def pinme(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Pinned chapter.")
        message = await interaction.original_response()
        await message.pin()

    @app_commands.command(name="mature", description="Only in age-restricted channels", nsfw=True)
    async def mature(self, interaction: discord.Interaction) -> None:
        channel = interaction.channel
        nsfw = isinstance(channel, discord.TextChannel) and channel.is_nsfw()
        await interaction.response.send_message(f"nsfw channel: {nsfw}")

    @app_commands.command(name="whisper", description="DM the caller")
    async def whisper(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.user.send(f"A secret for {interaction.user.mention}.")
        except discord.Forbidden as error:
            self.http_errors.append((error.status, error.code))
            await interaction.response.send_message("Your DMs are closed.", ephemeral=True)
        else:
            await interaction.response.send_message("Check your DMs.", ephemeral=True)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:
            await message.channel.send(f"Heard {len(message.content)} characters.", allowed_mentions=NO_PINGS)


async def word_count(interaction: discord.Interaction, message: discord.Message) -> None:
    await interaction.response.send_message(f"{len(message.content.split())} words", ephemeral=True)


async def profile(interaction: discord.Interaction, member: discord.Member) -> None:
    await interaction.response.send_message(f"{member.display_name} is a member: {isinstance(member, discord.Member)}")


class TinyBot(commands.Bot):
    def __init__(self, intents: discord.Intents, sync_guild: int | None = None) -> None:
        super().__init__(command_prefix="!", intents=intents, allowed_mentions=NO_PINGS, **FAST_CLIENT_OPTIONS)
        self.story = StoryCog()
        self.sync_guild = sync_guild

    async def setup_hook(self) -> None:
        await self.add_cog(self.story)
        self.tree.add_command(app_commands.ContextMenu(name="Word count", callback=word_count))
        self.tree.add_command(app_commands.ContextMenu(name="Profile", callback=profile))
        self.tree.add_command(StoryGroup(name="story", description="Stories"))
        if self.sync_guild is None:
            await self.tree.sync()
        else:
            guild = discord.Object(self.sync_guild)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)


@pytest.fixture
async def bot(fake_discord: FakeDiscord) -> AsyncIterator[TinyBot]:
    intents = discord.Intents.default()
    intents.message_content = True
    async with fake_discord.run_bot(TinyBot(intents)) as running:
        yield running


async def test_login_syncs_commands_and_sees_the_guild(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    synced = {name for (scope, name, _kind) in fake_discord.commands if scope is None}
    assert {"tale", "configure", "vote", "Word count"} <= synced
    guild = bot.get_guild(fake_discord.guild.id)
    assert guild is not None and guild.name == "Storyloom Test"
    after_dark = guild.get_channel(fake_discord.after_dark.id)
    assert isinstance(after_dark, discord.TextChannel) and after_dark.is_nsfw()
    assert fake_discord.gateway.identifies == 1 and fake_discord.gateway.heartbeats >= 1
    assert bot.application_id == fake_discord.application_id and fake_discord.command_syncs == 1
    await bot.change_presence(activity=discord.Game("with words"))
    await fake_discord.wait_for(lambda: fake_discord.gateway.presence is not None)
    assert fake_discord.gateway.presence is not None
    assert fake_discord.gateway.presence["activities"][0]["name"] == "with words"
    fake_discord.assert_clean()


async def test_auto_sharded_bot_asks_for_the_gateway_and_identifies_a_shard(fake_discord: FakeDiscord) -> None:
    sharded = commands.AutoShardedBot(command_prefix="!", intents=discord.Intents.default(), **FAST_CLIENT_OPTIONS)
    async with fake_discord.run_bot(sharded):
        assert sharded.shard_count == 1 and sharded.get_guild(fake_discord.guild.id) is not None
    assert any(call.path == "/gateway/bot" for call in fake_discord.requests)
    assert fake_discord.gateway.session is not None and fake_discord.gateway.session.shard == [0, 1]


async def test_guild_sync_and_member_chunking(fake_discord: FakeDiscord) -> None:
    intents = discord.Intents.default()
    intents.members = True  # discord.py then asks for the member list (op 8) before on_ready
    async with fake_discord.run_bot(TinyBot(intents, sync_guild=fake_discord.guild.id)) as bot:
        guild = bot.get_guild(fake_discord.guild.id)
        assert guild is not None and guild.chunked and guild.get_member(fake_discord.alice.id) is not None
        assert {scope for (scope, _name, _kind) in fake_discord.commands} == {fake_discord.guild.id}
        record = await fake_discord.slash("configure", user=fake_discord.mod)
        await record.wait_done()
        assert record.payload["data"]["guild_id"] == str(fake_discord.guild.id)
        assert record.original is not None and record.original.content == "Settings saved."
    fake_discord.assert_clean()


async def test_defer_follow_up_and_edit(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    record = await fake_discord.slash("tale", {"topic": "a dragon", "chapters": 2}, user=fake_discord.alice)
    await record.wait_done(lambda r: len(r.edits) == 2)

    assert record.deferred and record.callback is not None and record.callback.delay < 1.0
    assert record.original is not None and record.original.content == "Once upon a time, a dragon (2). The end."
    # The follow-up replaced the "thinking..." placeholder, then the edit went to the same message.
    assert [write.message_id for write in record.writes] == [record.original.id, record.original.id]
    assert record.writes[1].route == "PATCH /webhooks/{application_id}/{token}/messages/{message_id}"
    assert len(record.original.edit_times) == 2  # a streaming test would check their spacing
    assert all(write.allowed_mentions == {"parse": []} and not write.could_ping for write in record.writes)
    assert [m.content for m in fake_discord.channel_messages(fake_discord.general)] == [record.original.content]
    fake_discord.assert_clean()


async def test_option_values_are_checked_against_the_synced_schema(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    with pytest.raises(ClientRejected, match="outside the command's range"):
        await fake_discord.slash("tale", {"topic": "x", "chapters": 9}, user=fake_discord.alice)
    with pytest.raises(ClientRejected, match="needs option"):
        await fake_discord.slash("tale", {}, user=fake_discord.alice)
    with pytest.raises(ClientRejected, match="no synced command"):
        await fake_discord.slash("unknown", user=fake_discord.alice)


async def test_subcommands_and_user_context_menu(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    new = await fake_discord.slash("story", {"title": "Dune"}, subcommand="new", user=fake_discord.alice)
    chapter = await fake_discord.slash("story", {"number": 2}, subcommand="chapter add", user=fake_discord.alice)
    shown = await fake_discord.user_command("Profile", fake_discord.mod, user=fake_discord.alice)
    for record in (new, chapter, shown):
        await record.wait_done()
    assert [r.original.content for r in (new, chapter, shown) if r.original] == [
        "New story: Dune",
        "Chapter 2 added",
        "mod is a member: True",
    ]
    with pytest.raises(ClientRejected, match="needs a subcommand"):
        await fake_discord.slash("story", user=fake_discord.alice)
    fake_discord.assert_clean()


async def test_role_and_channel_options_and_a_modal(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    featured = await fake_discord.slash(
        "spotlight", {"role": fake_discord.moderator_role, "where": fake_discord.after_dark}, user=fake_discord.mod
    )
    pitch = await fake_discord.slash("pitch", user=fake_discord.alice)
    await featured.wait_done()
    await pitch.wait_done()
    assert featured.original is not None and featured.original.content == "Moderator featured in #after-dark"
    assert pitch.modal is not None and pitch.modal["custom_id"] == "pitch-form"
    fake_discord.assert_clean()


async def test_permission_check_answers_each_member(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    refused = await fake_discord.slash("configure", user=fake_discord.alice)
    allowed = await fake_discord.slash("configure", user=fake_discord.mod)
    await refused.wait_done()
    await allowed.wait_done()
    assert refused.original is not None and refused.original.ephemeral
    assert refused.original.content == "You lack the permission for that."
    assert allowed.original is not None and allowed.original.content == "Settings saved."
    payload_permissions = int(allowed.payload["member"]["permissions"])
    assert (
        payload_permissions & Perm.MANAGE_GUILD
        and not int(refused.payload["member"]["permissions"]) & Perm.MANAGE_GUILD
    )
    fake_discord.assert_clean()


async def test_default_permissions_hide_the_command_and_the_bot_checks_anyway(
    fake_discord: FakeDiscord, bot: TinyBot
) -> None:
    with pytest.raises(ClientRejected, match="default_member_permissions"):
        await fake_discord.slash("purge", user=fake_discord.alice)
    record = await fake_discord.slash("purge", user=fake_discord.alice, bypass_client_checks=True)
    await record.wait_done()
    assert record.original is not None and record.original.content == "You lack the permission for that."


async def test_button_click_updates_the_message(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    vote = await fake_discord.slash("vote", user=fake_discord.alice)
    await vote.wait_done()
    assert vote.original is not None
    first = await fake_discord.click(vote.original, "vote:yes", user=fake_discord.alice)
    await first.wait_done()
    second = await fake_discord.click(vote.original, "vote:yes", user=fake_discord.mod)
    await second.wait_done()

    assert first.callback is not None and first.callback.type == 7
    assert second.original is vote.original and vote.original.content == "Votes: 2"
    with pytest.raises(ClientRejected, match="no button"):
        await fake_discord.click(vote.original, "vote:no", user=fake_discord.alice)
    fake_discord.assert_clean()


async def test_mentions_are_recorded_with_what_they_could_ping(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    greet = await fake_discord.slash("greet", {"member": fake_discord.mod}, user=fake_discord.alice)
    shout = await fake_discord.slash("shout", user=fake_discord.alice)
    await greet.wait_done()
    await shout.wait_done()

    assert (
        greet.original is not None
        and greet.original.content == f"Hello {fake_discord.mod.mention}, welcome to Storyloom Test!"
    )
    assert not greet.writes[0].could_ping and not greet.writes[0].pinged
    assert shout.writes[0].could_ping and shout.writes[0].pinged.everyone


async def test_content_over_2000_characters_is_refused(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    record = await fake_discord.slash("ramble", user=fake_discord.alice)
    await fake_discord.wait_for(lambda: bool(bot.story.http_errors))

    assert bot.story.http_errors == [(400, 50035)]
    assert [violation.kind for violation in record.violations] == ["invalid_form_body"]
    assert record.violations[0].errors is not None and "content" in record.violations[0].errors["data"]
    assert not record.acknowledged


async def test_late_acknowledgement_is_refused_and_recorded(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    record = await fake_discord.slash("ponder", user=fake_discord.alice)
    fake_discord.advance_clock(3.5)
    bot.story.release.set()
    await fake_discord.wait_for(lambda: bool(bot.story.http_errors))

    assert bot.story.http_errors == [(404, 10062)]
    (late,) = record.violations
    assert late.kind == "late_ack" and late.late_by is not None and late.late_by >= 3.5
    assert fake_discord.unacknowledged() == [record]


async def test_follow_up_after_15_minutes_is_refused(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    record = await fake_discord.slash("saga", user=fake_discord.alice)
    await record.wait_for(lambda r: r.acknowledged)
    fake_discord.advance_clock(15 * 60 + 1)
    bot.story.release.set()
    await fake_discord.wait_for(lambda: bool(bot.story.http_errors))

    assert bot.story.http_errors == [(401, 50027)]
    assert [violation.kind for violation in record.violations] == ["expired_token"]


async def test_attachments_travel_both_ways(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    record = await fake_discord.slash(
        "manuscript", {"draft": ("draft.txt", b"call me ishmael")}, user=fake_discord.alice
    )
    await record.wait_done()

    assert record.original is not None and record.original.content == "draft.txt: 15 bytes"
    (attachment,) = record.original.attachments
    assert (attachment.filename, attachment.data) == ("draft-upper.txt", b"CALL ME ISHMAEL")
    assert record.writes[0].attachment_names == ("draft-upper.txt",)
    fake_discord.assert_clean()


async def test_pin_uses_the_original_response(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    record = await fake_discord.slash("pinme", user=fake_discord.alice)
    await record.wait_for(lambda r: r.original is not None and r.original.pinned)
    fake_discord.assert_clean()


async def test_age_restricted_command_only_in_age_restricted_channels(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    with pytest.raises(ClientRejected, match="age-restricted"):
        await fake_discord.slash("mature", user=fake_discord.alice, channel=fake_discord.general)
    record = await fake_discord.slash("mature", user=fake_discord.alice, channel=fake_discord.after_dark)
    await record.wait_done()
    assert record.original is not None and record.original.content == "nsfw channel: True"


async def test_message_context_menu_and_channel_messages(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    posted = await fake_discord.post_message(fake_discord.general, fake_discord.alice, "It was a dark and stormy night")
    await fake_discord.wait_for(lambda: len(fake_discord.channel_messages(fake_discord.general)) == 2)
    reply = fake_discord.channel_messages(fake_discord.general)[1]
    assert reply.content == "Heard 30 characters." and reply.writes[0].route == "POST /channels/{channel_id}/messages"

    answer = await fake_discord.post_message(fake_discord.general, fake_discord.mod, "Thanks!", reply_to=reply)
    assert answer.pinged.users == {fake_discord.bot_user.id}  # a reply pings its author unless told not to

    record = await fake_discord.message_command("Word count", posted, user=fake_discord.mod)
    await record.wait_done()
    assert record.original is not None and record.original.content == "7 words" and record.original.ephemeral
    fake_discord.assert_clean()


async def test_dm_to_a_member_arrives_in_their_dm_channel(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    for _ in range(2):
        record = await fake_discord.slash("whisper", user=fake_discord.alice)
        await record.wait_done()
    secret = f"A secret for {fake_discord.alice.mention}."
    assert [message.content for message in fake_discord.dm_messages(fake_discord.alice)] == [secret, secret]
    assert fake_discord.dm_messages(fake_discord.mod) == []
    assert fake_discord.channel_messages(fake_discord.general) == []  # the answers were ephemeral
    # discord.py opened the DM once and reused it; the DM went through the usual write log and ping rules.
    assert sum(call.path == "/users/@me/channels" for call in fake_discord.requests) == 1
    dm_writes = [write for write in fake_discord.writes if write.interaction_id is None]
    assert [write.route for write in dm_writes] == ["POST /channels/{channel_id}/messages"] * 2
    assert all(write.allowed_mentions == {"parse": []} and not write.could_ping for write in dm_writes)

    channel = await bot.create_dm(discord.Object(fake_discord.alice.id))  # the cached channel: edit and delete
    assert isinstance(channel, discord.DMChannel) and channel.recipient is not None
    sent = await channel.send("Draft")
    await sent.edit(content="Final")
    assert fake_discord.dm_messages(fake_discord.alice)[-1].content == "Final"
    await sent.delete()
    assert len(fake_discord.dm_messages(fake_discord.alice)) == 2
    fake_discord.assert_clean()


async def test_dm_to_a_member_with_closed_dms_is_forbidden(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    fake_discord.alice.dms_open = False
    record = await fake_discord.slash("whisper", user=fake_discord.alice)
    await record.wait_done()
    assert bot.story.http_errors == [(403, 50007)]
    assert record.original is not None and record.original.content == "Your DMs are closed."
    assert fake_discord.dm_messages(fake_discord.alice) == []
    assert [violation.kind for violation in fake_discord.violations] == ["cannot_message_user"]


async def test_bots_cannot_be_sent_dms(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    helper = fake_discord.add_user("helper-bot", bot=True)
    for target in (fake_discord.bot_user, helper):
        channel = await bot.create_dm(discord.Object(target.id))
        with pytest.raises(discord.Forbidden) as refused:
            await channel.send("hello, me")
        assert refused.value.code == 50007 and fake_discord.dm_messages(target) == []


async def test_rate_limit_is_retried(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    fake_discord.fail_next(1, status=429, retry_after=0.05, match="/callback")
    record = await fake_discord.slash("configure", user=fake_discord.mod)
    await record.wait_done()

    assert len(fake_discord.faults_served) == 1
    assert [call.status for call in fake_discord.requests if call.path.endswith("/callback")] == [429, 200]
    fake_discord.assert_clean()


async def test_server_error_reaches_the_bot(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    fake_discord.fail_next(1, status=503, match="GET /oauth2/applications/@me")
    with pytest.raises(discord.DiscordServerError):
        await bot.application_info()
    assert (await bot.application_info()).id == fake_discord.application_id
    assert fake_discord.faults_served == ["GET /oauth2/applications/@me"]


async def test_a_route_the_fake_lacks_is_reported(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    with pytest.raises(discord.NotFound):
        await bot.fetch_user(fake_discord.alice.id)
    assert fake_discord.unmodelled == [f"GET /users/{fake_discord.alice.id}"]
    with pytest.raises(AssertionError, match="unmodelled route"):
        fake_discord.assert_clean()


async def test_dropped_socket_resumes_and_replays_what_it_missed(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    await fake_discord.drop_socket(wait=False)
    record = await fake_discord.slash("configure", user=fake_discord.mod)  # dispatched while the socket is down
    await record.wait_done()
    assert (fake_discord.gateway.identifies, fake_discord.gateway.resumes) == (1, 1)
    fake_discord.assert_clean()


async def test_privileged_intent_not_enabled_is_refused(fake_discord: FakeDiscord) -> None:
    fake_discord.enabled_privileged_intents = 0
    intents = discord.Intents.default()
    intents.message_content = True
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with fake_discord.run_bot(TinyBot(intents)):
            pass


async def test_channel_overwrites_follow_discords_order(fake_discord: FakeDiscord) -> None:
    guild, role_target = fake_discord.guild, OverwriteTarget.ROLE
    announcements = guild.add_channel(
        "announcements",
        overwrites=[
            Overwrite(guild.id, role_target, deny=Perm.SEND_MESSAGES),  # @everyone may only read...
            Overwrite(fake_discord.moderator_role.id, role_target, allow=Perm.SEND_MESSAGES),  # ...moderators post...
            Overwrite(fake_discord.mod.id, OverwriteTarget.MEMBER, deny=Perm.ATTACH_FILES),  # ...but this one no files
        ],
    )
    staff_only = guild.add_channel("staff", overwrites=[Overwrite(guild.id, role_target, deny=Perm.VIEW_CHANNEL)])
    alice, mod = guild.member(fake_discord.alice), guild.member(fake_discord.mod)

    assert not guild.permissions(alice, announcements) & Perm.SEND_MESSAGES
    mod_permissions = guild.permissions(mod, announcements)
    assert mod_permissions & Perm.SEND_MESSAGES and not mod_permissions & Perm.ATTACH_FILES
    assert guild.permissions(alice, staff_only) == 0
    with pytest.raises(ClientRejected, match="cannot send"):
        await fake_discord.post_message(announcements, fake_discord.alice, "hello?")


async def test_users_deleting_messages_reach_the_bot_as_raw_events(fake_discord: FakeDiscord, bot: TinyBot) -> None:
    deleted: list[tuple[str, set[int], int | None]] = []

    async def on_raw_message_delete(payload: discord.RawMessageDeleteEvent) -> None:
        deleted.append(("one", {payload.message_id}, payload.guild_id))

    async def on_raw_bulk_message_delete(payload: discord.RawBulkMessageDeleteEvent) -> None:
        deleted.append(("bulk", set(payload.message_ids), payload.guild_id))

    bot.add_listener(on_raw_message_delete)
    bot.add_listener(on_raw_bulk_message_delete)
    general = fake_discord.general
    for count, text in enumerate(("one", "two", "three"), start=1):
        await fake_discord.post_message(general, fake_discord.alice, text)
        await fake_discord.wait_for(lambda: len(fake_discord.channel_messages(general)) == 2 * count)  # noqa: B023
    own, first_reply, second, second_reply, third, third_reply = fake_discord.channel_messages(general)
    assert first_reply.author is fake_discord.bot_user

    with pytest.raises(ClientRejected, match="Manage Messages"):
        await fake_discord.delete_message(first_reply, user=fake_discord.alice)
    await fake_discord.delete_message(own, user=fake_discord.alice)  # her own message: no permission needed
    await fake_discord.delete_message(first_reply, user=fake_discord.mod)
    with pytest.raises(ClientRejected, match="Manage Messages"):
        await fake_discord.bulk_delete([second, second_reply], user=fake_discord.alice)
    await fake_discord.bulk_delete([second, second_reply], user=fake_discord.mod)
    with pytest.raises(ClientRejected, match="not a visible message"):
        await fake_discord.delete_message(own, user=fake_discord.mod)

    await fake_discord.wait_for(lambda: len(deleted) == 3)
    guild = fake_discord.guild.id
    assert deleted == [
        ("one", {own.id}, guild), ("one", {first_reply.id}, guild), ("bulk", {second.id, second_reply.id}, guild)
    ]
    assert fake_discord.channel_messages(general) == [third, third_reply]
    assert not any(write.action == "delete" for write in fake_discord.writes), "users' deletions are not bot writes"
    fake_discord.assert_clean()


# -- threads: a story session run inside a thread ----------------------------------------------------------------


class JoinView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Join", custom_id="session:join")
    async def join(self, interaction: discord.Interaction, button: discord.ui.Button[JoinView]) -> None:
        assert isinstance(interaction.channel, discord.Thread)
        await interaction.channel.add_user(interaction.user)
        await interaction.response.send_message("Welcome to the table.", ephemeral=True)


class SessionCog(commands.Cog):
    def __init__(self) -> None:
        self.heard: list[tuple[int, str]] = []
        """(channel id, content) of each member's message the bot received."""
        self.joined: list[tuple[int, int]] = []
        """(thread id, user id) of each `on_thread_member_join`."""
        self.http_errors: list[tuple[int, int]] = []

    @app_commands.command(name="session", description="Start a story session in a thread")
    async def session(self, interaction: discord.Interaction, title: str) -> None:
        await interaction.response.send_message(f"A new tale begins: {title}")
        opening = await interaction.original_response()
        thread = await opening.create_thread(name=title, auto_archive_duration=60)
        status = await thread.send("Status: waiting for players", view=JoinView())
        await status.pin()

    @app_commands.command(name="tavern", description="Open a side thread for the caller")
    async def tavern(self, interaction: discord.Interaction) -> None:
        assert isinstance(interaction.channel, discord.TextChannel)
        thread = await interaction.channel.create_thread(name="Tavern", type=discord.ChannelType.public_thread)
        await thread.add_user(interaction.user)
        await interaction.response.send_message(f"Opened {thread.mention}")

    @app_commands.command(name="turn", description="Take a turn")
    async def turn(self, interaction: discord.Interaction, move: str) -> None:
        channel = interaction.channel
        where = f"thread {channel.name}" if isinstance(channel, discord.Thread) else "no thread"
        await interaction.response.send_message(f"{interaction.user.display_name} plays {move} in {where}")

    @app_commands.command(name="end", description="End the session and archive its thread")
    async def end(self, interaction: discord.Interaction) -> None:
        assert isinstance(interaction.channel, discord.Thread)
        await interaction.response.send_message("The end.")
        await interaction.channel.edit(archived=True)
        try:
            await interaction.channel.send("One more thing...")
        except discord.HTTPException as error:
            self.http_errors.append((error.status, error.code))

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:
            self.heard.append((message.channel.id, message.content))

    @commands.Cog.listener()
    async def on_thread_member_join(self, member: discord.ThreadMember) -> None:
        self.joined.append((member.thread_id, member.id))


class SessionBot(commands.Bot):
    def __init__(self, intents: discord.Intents) -> None:
        super().__init__(command_prefix="!", intents=intents, allowed_mentions=NO_PINGS, **FAST_CLIENT_OPTIONS)
        self.sessions = SessionCog()

    async def setup_hook(self) -> None:
        await self.add_cog(self.sessions)
        await self.tree.sync()


@pytest.fixture
async def session_bot(fake_discord: FakeDiscord) -> AsyncIterator[SessionBot]:
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True  # others joining threads reach the bot (THREAD_MEMBERS_UPDATE)
    async with fake_discord.run_bot(SessionBot(intents)) as running:
        yield running


async def start_session(fake_discord: FakeDiscord, title: str) -> Thread:
    record = await fake_discord.slash("session", {"title": title}, user=fake_discord.alice)
    threads = fake_discord.threads_of
    await fake_discord.wait_for(lambda: any(fake_discord.pinned(thread) for thread in threads(fake_discord.general)))
    await record.wait_done()
    return fake_discord.thread_named(title)


async def test_session_thread_from_a_message_with_a_pinned_status(
    fake_discord: FakeDiscord, session_bot: SessionBot
) -> None:
    thread = await start_session(fake_discord, "The Glass Key")
    opening = fake_discord.channel_messages(fake_discord.general)[0]
    assert opening.content == "A new tale begins: The Glass Key" and opening.thread is thread
    assert (thread.id, thread.type, thread.parent, thread.owner_id) == (
        opening.id, 11, fake_discord.general, fake_discord.bot_user.id
    )
    assert thread.auto_archive_duration == 60 and thread.member_users == [fake_discord.bot_user]
    (status,) = fake_discord.channel_messages(thread)
    assert fake_discord.pinned(thread) == [status] and status.content == "Status: waiting for players"
    cached = session_bot.get_channel(thread.id)  # THREAD_CREATE reached discord.py's cache
    assert isinstance(cached, discord.Thread) and cached.parent_id == fake_discord.general.id
    assert cached.me is not None and thread.message_count == 1  # the bot is a member; its status counts

    # A member talks in the thread: the bot reads it (message content intent) and she joins the thread.
    await fake_discord.post_message(thread, fake_discord.alice, "I open the door")
    await fake_discord.wait_for(lambda: bool(session_bot.sessions.heard and session_bot.sessions.joined))
    assert session_bot.sessions.heard == [(thread.id, "I open the door")]
    assert session_bot.sessions.joined == [(thread.id, fake_discord.alice.id)]
    assert fake_discord.alice.id in thread.members and thread.message_count == 2

    # A slash command inside the thread carries the thread as its channel and is answered there.
    turn = await fake_discord.slash("turn", {"move": "a sword"}, user=fake_discord.alice, channel=thread)
    await turn.wait_done()
    assert turn.payload["channel"]["type"] == 11 and turn.payload["channel"]["parent_id"] == str(thread.parent.id)
    assert turn.original is not None and turn.original.channel is thread
    assert turn.original.content == "alice plays a sword in thread The Glass Key"

    # A button on the status message: the bot adds the member who clicked.
    join = await fake_discord.click(status, "session:join", user=fake_discord.mod)
    await join.wait_done()
    assert fake_discord.mod.id in thread.members and join.original is not None and join.original.ephemeral
    assert [m.content for m in fake_discord.channel_messages(thread)][-1] == turn.original.content
    fake_discord.assert_clean()


async def test_thread_without_a_message_and_its_members(fake_discord: FakeDiscord, session_bot: SessionBot) -> None:
    record = await fake_discord.slash("tavern", user=fake_discord.alice)
    await record.wait_done()
    tavern = fake_discord.thread_named("Tavern", fake_discord.general)
    assert record.original is not None and record.original.content == f"Opened <#{tavern.id}>"
    notice = fake_discord.channel_messages(fake_discord.general)[0]  # Discord's "started a thread" message
    assert notice.type == 18 and notice.reference == {"channel_id": str(tavern.id), "guild_id": str(tavern.guild.id)}
    await fake_discord.join_thread(tavern, user=fake_discord.mod)
    cached = session_bot.get_channel(tavern.id)
    assert isinstance(cached, discord.Thread)
    members = await cached.fetch_members()
    assert {member.id for member in members} == {fake_discord.bot_user.id, fake_discord.alice.id, fake_discord.mod.id}
    await fake_discord.wait_for(lambda: len(session_bot.sessions.joined) == 2)
    assert {user for _thread, user in session_bot.sessions.joined} == {fake_discord.alice.id, fake_discord.mod.id}

    # discord.py's `create_thread` without a type asks for a private thread: only its members see it.
    general = session_bot.get_channel(fake_discord.general.id)
    assert isinstance(general, discord.TextChannel)
    backstage = await general.create_thread(name="Backstage")
    await backstage.add_user(discord.Object(fake_discord.alice.id))
    private = fake_discord.thread_named("Backstage")
    assert private.private and set(private.members) == {fake_discord.bot_user.id, fake_discord.alice.id}
    with pytest.raises(ClientRejected, match="cannot send"):
        await fake_discord.post_message(private, fake_discord.mod, "let me in")
    await fake_discord.post_message(private, fake_discord.alice, "psst")
    await fake_discord.wait_for(lambda: (private.id, "psst") in session_bot.sessions.heard)
    await backstage.remove_user(discord.Object(fake_discord.alice.id))  # the creator of a private thread may
    assert set(private.members) == {fake_discord.bot_user.id}

    # A member starts a thread herself: the bot learns of it (THREAD_CREATE) without being in it.
    side_quest = await fake_discord.start_thread(fake_discord.general, "Side quest", user=fake_discord.alice)
    guild = session_bot.get_guild(fake_discord.guild.id)
    assert guild is not None
    await fake_discord.wait_for(lambda: guild.get_thread(side_quest.id) is not None)
    cached_quest = guild.get_thread(side_quest.id)
    assert cached_quest is not None and cached_quest.owner_id == fake_discord.alice.id and cached_quest.me is None
    fake_discord.assert_clean()


async def test_archived_thread_refuses_posts_until_unarchived(
    fake_discord: FakeDiscord, session_bot: SessionBot
) -> None:
    thread = await start_session(fake_discord, "Last Chapter")
    guild = session_bot.get_guild(fake_discord.guild.id)
    assert guild is not None
    end = await fake_discord.slash("end", user=fake_discord.alice, channel=thread)
    await fake_discord.wait_for(lambda: bool(session_bot.sessions.http_errors))
    assert end.original is not None and end.original.content == "The end." and thread.archived
    assert session_bot.sessions.http_errors == [(400, 50083)]
    assert [violation.kind for violation in fake_discord.violations] == ["thread_archived"]
    assert guild.get_thread(thread.id) is None  # discord.py drops archived threads from its cache
    with pytest.raises(ClientRejected, match="archived"):
        await fake_discord.slash("turn", {"move": "late"}, user=fake_discord.alice, channel=thread)

    # A member posting unarchives it, as Discord's client does; then the bot may post again.
    await fake_discord.post_message(thread, fake_discord.alice, "Wait, an epilogue!")
    await fake_discord.wait_for(lambda: guild.get_thread(thread.id) is not None)
    assert not thread.archived and (thread.id, "Wait, an epilogue!") in session_bot.sessions.heard
    cached = guild.get_thread(thread.id)
    assert cached is not None
    await cached.send("Epilogue accepted.")
    assert fake_discord.channel_messages(thread)[-1].content == "Epilogue accepted."


async def test_thread_rules(fake_discord: FakeDiscord, session_bot: SessionBot) -> None:
    general = session_bot.get_channel(fake_discord.general.id)
    assert isinstance(general, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as too_long:
        await general.create_thread(name="x" * 101, type=discord.ChannelType.public_thread)
    assert too_long.value.code == 50035
    opening = await general.send("Once upon a time")
    thread = await opening.create_thread(name="Once")
    with pytest.raises(discord.HTTPException) as twice:
        await opening.create_thread(name="Again")
    assert twice.value.code == 160004
    with pytest.raises(discord.Forbidden):
        await thread.edit(locked=True)  # Manage Threads, which the bot lacks by default
    fake_discord.guild.member(fake_discord.bot_user).roles[0].permissions |= Perm.MANAGE_THREADS
    await thread.edit(locked=True, name="Once (locked)")
    assert fake_discord.threads_of(fake_discord.general)[0].name == "Once (locked)"
    with pytest.raises(ClientRejected, match="locked"):
        await fake_discord.post_message(fake_discord.threads_of(fake_discord.general)[0], fake_discord.alice, "hi")
    assert [v.code for v in fake_discord.violations] == [50035, 160004, 50013]
