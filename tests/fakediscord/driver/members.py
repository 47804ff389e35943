"""Users acting outside commands: posting, starting, joining and leaving threads, and deleting messages."""

from __future__ import annotations

from typing import Any

from ..errors import ClientRejected
from ..gateway import INTENT_GUILD_MESSAGES
from ..messages import MESSAGE_TYPE_REPLY, Message
from ..model import THREAD_PRIVATE, THREAD_PUBLIC, Channel, GuildChannel, Member, Thread, User, new_snowflake
from ..permissions import Perm
from ..threads import ThreadLifecycle, thread_body_errors
from ..writes import channel_ids, send_permission


class MemberActions(ThreadLifecycle):
    """`post_message`, `start_thread`, `join_thread`, `leave_thread`, `delete_message` and `bulk_delete`."""

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
        if not permissions & send_permission(channel):
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
        errors = thread_body_errors(body, name_required=True, type_required=False)
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
            await self.gateway.dispatch(event, payload | channel_ids(channel))
        self.changes.notify()
