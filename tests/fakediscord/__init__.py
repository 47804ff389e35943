"""A loopback fake Discord for end-to-end tests: a real discord.py client, a real websocket, real HTTP.

The `fake_discord` fixture (tests/plugins/fakediscord.py) gives a reset `FakeDiscord` with discord.py pointed at
it. Its default world: `fake.guild` with `fake.general` and the age-restricted `fake.after_dark`; members
`fake.owner`, `fake.alice` (no special permissions) and `fake.mod` (Manage Server); the bot is `fake.bot_user`.
Bots must sync their commands (the fake only lets users run synced ones) and should pass `FAST_CLIENT_OPTIONS`.

    async def test_tale(fake_discord: FakeDiscord) -> None:
        bot = MyBot(intents=discord.Intents.default(), **FAST_CLIENT_OPTIONS)  # setup_hook syncs the tree
        async with fake_discord.run_bot(bot):
            record = await fake_discord.slash("tale", {"topic": "a dragon"}, user=fake_discord.alice)
            await record.wait_done(lambda r: len(r.edits) == 2)
            assert record.callback.type == 5 and record.callback.delay < 1  # deferred at once
            assert record.original.content.endswith("The end.")
            assert not any(write.could_ping for write in record.writes)
            button_press = await fake_discord.click(record.original, "again", user=fake_discord.alice)
            await button_press.wait_done()
        fake_discord.assert_clean()  # no 400s, no late acknowledgement, no route the fake lacks

Records: `fake.writes` (every create/edit/delete with its `allowed_mentions`), `fake.violations` (each request
Discord would refuse, with its rule), `fake.requests`, `fake.commands`, `fake.gateway` (session, counters).
Faults: `fake.fail_next(2, status=429, match="/callback")`; `await fake.drop_socket()` (the client resumes);
`fake.advance_clock(16 * 60)` lets Discord's deadlines pass without waiting.
DMs from the bot (`await member.send(...)`): `fake.dm_messages(fake.alice)` lists what it sent her, through the
same checks and `fake.writes` as channel messages; `fake.dm_channel(user)` is the channel once opened. With
`fake.alice.dms_open = False` (or a bot as recipient) the send gets 403 50007, recorded as a `cannot_message_user`
violation. Users cannot write to the bot by DM, and interactions in DMs are not modelled.
Users deleting messages: `await fake.delete_message(message, user=fake.mod)` (their own, or anyone's with Manage
Messages) dispatches MESSAGE_DELETE; `await fake.bulk_delete([m1, m2], user=fake.mod)` one MESSAGE_DELETE_BULK, as a
moderation tool's purge would. Only a bot edits its own messages: its REST edits dispatch MESSAGE_UPDATE.
Threads (`Thread`, in `guild.threads`; permissions follow the parent channel): the bot starts them from a message
(`message.create_thread`, the thread takes the message's id) or without one (`channel.create_thread`, public 11 or
private 12; a public one leaves a type-18 "started a thread" message), with Discord's rules (name 1-100 characters,
`auto_archive_duration` 60/1440/4320/10080, one thread per message: 160004). The bot gets THREAD_CREATE /
THREAD_UPDATE / THREAD_DELETE (GUILDS intent) and THREAD_MEMBERS_UPDATE (others' joins only with the members intent).
Messages, edits, deletes and pins in a thread take the usual routes (posting needs SEND_MESSAGES_IN_THREADS, and
joins the poster); `thread.edit(...)` renames, archives, locks (Manage Threads), and an archived thread refuses every
write with 400 50083 until unarchived. `join`/`add_user`/`leave`/`remove_user`/`fetch_members` are modelled. Users:
`fake.slash(..., channel=thread)`, `fake.click` on a message in a thread, `fake.post_message(thread, ...)` (a
member posting unarchives an archived, unlocked thread, as the client does), `await fake.start_thread(channel,
name, user=...)`, `fake.join_thread` / `fake.leave_thread`. Inspect with `fake.threads_of(channel)`,
`fake.thread_named(name)`, `fake.channel_messages(thread)`, `fake.pinned(thread)`, `thread.members`.
Not modelled (a call to a missing route lands in `fake.unmodelled`): user-to-bot DMs, message history, reactions,
select menus, modal submission, autocomplete, Discord's own rate-limit buckets (only injected 429s), forum and
announcement channels, editing or deleting channels other than threads, auto-archiving by inactivity, listing
archived or active threads, interactions in an archived thread, THREAD_MEMBER_UPDATE.
"""

from .errors import ClientRejected, DiscordHTTPError
from .messages import Attachment, Message, MessageWrite, Pings
from .model import (
    Channel,
    DMChannel,
    Guild,
    Member,
    Overwrite,
    OverwriteTarget,
    Role,
    Thread,
    ThreadMember,
    User,
)
from .permissions import Perm
from .records import Callback, InteractionRecord, RestCall, Violation
from .server import FAST_CLIENT_OPTIONS, FakeDiscord, pointed_at

__all__ = [
    "FAST_CLIENT_OPTIONS",
    "Attachment",
    "Callback",
    "Channel",
    "ClientRejected",
    "DMChannel",
    "DiscordHTTPError",
    "FakeDiscord",
    "Guild",
    "InteractionRecord",
    "Member",
    "Message",
    "MessageWrite",
    "Overwrite",
    "OverwriteTarget",
    "Perm",
    "Pings",
    "RestCall",
    "Role",
    "Thread",
    "ThreadMember",
    "User",
    "Violation",
    "pointed_at",
]
