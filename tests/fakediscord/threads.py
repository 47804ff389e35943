"""Threads as Discord runs them, whoever starts or joins them (the bot through REST, a user through the driver).

A thread starts with its creator as first member (from a message, taking its id, or on its own), is joined and
left, archived and unarchived, each with the THREAD_* gateway events the bot's intents and visibility allow; and
Discord's checks on a thread's fields when it is started or edited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import field_error
from .gateway import INTENT_GUILD_MEMBERS, INTENT_GUILDS
from .messages import FLAG_HAS_THREAD, MESSAGE_TYPE_THREAD_CREATED, Message
from .model import (
    AUTO_ARCHIVE_DURATIONS,
    THREAD_PRIVATE,
    THREAD_PUBLIC,
    Channel,
    Thread,
    ThreadMember,
    User,
    iso_timestamp,
    new_snowflake,
)
from .writes import MessageWrites

THREAD_NAME_MAX, RATE_LIMIT_PER_USER_MAX = 100, 21_600


class ThreadLifecycle(MessageWrites):
    """Starts threads, adds and removes their members, archives them, and dispatches what the bot may see of it."""

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


def thread_body_errors(body: Mapping[str, Any], *, name_required: bool, type_required: bool) -> dict[str, Any]:
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
