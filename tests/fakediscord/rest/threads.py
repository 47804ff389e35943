"""REST for threads: starting, fetching, editing and deleting them, and their members.

Fetching, editing and deleting go through the channel routes; editing or deleting other channels is not modelled.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import (
    invalid_channel_type,
    invalid_form_body,
    missing_access,
    missing_permissions,
    thread_already_created,
    thread_archived,
    unknown_member,
)
from ..gateway import INTENT_GUILD_MEMBERS, INTENT_GUILDS
from ..messages import FLAG_HAS_THREAD, Message
from ..model import THREAD_PRIVATE, THREAD_PUBLIC, Channel, Thread, ThreadMember, User, iso_timestamp
from ..permissions import Perm
from ..threads import ThreadLifecycle, thread_body_errors
from .http import json_response


class ThreadRoutes(ThreadLifecycle):
    """`/channels/{id}` for threads, `/channels/{id}/threads`, `.../messages/{id}/threads`, `.../thread-members`."""

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
        errors = thread_body_errors(body, name_required=True, type_required=False)
        if errors:
            raise invalid_form_body(errors)
        if message.thread is not None:
            raise thread_already_created()
        return await self._bot_opens_thread(channel, body, kind=THREAD_PUBLIC, starter=message)

    async def _start_thread_without_message(self, request: web.Request) -> web.Response:
        """discord.py's `TextChannel.create_thread` without a message (it asks for a *private* thread by default)."""
        channel, permissions = await self._parent_for_new_thread(request)
        body = await request.json()
        errors = thread_body_errors(body, name_required=True, type_required=True)
        if errors:
            raise invalid_form_body(errors)
        kind = int(body["type"])
        if not permissions & (Perm.CREATE_PRIVATE_THREADS if kind == THREAD_PRIVATE else Perm.CREATE_PUBLIC_THREADS):
            raise missing_permissions()
        return await self._bot_opens_thread(channel, body, kind=kind)

    async def _bot_opens_thread(
        self, channel: Channel, body: dict[str, Any], *, kind: int, starter: Message | None = None
    ) -> web.Response:
        """The bot's new thread as the request body names and configures it (`invitable` counts only if private)."""
        thread = await self._open_thread(
            channel,
            self.bot_user,
            body["name"].strip(),
            kind=kind,
            auto_archive_duration=body.get("auto_archive_duration") or 1440,
            starter=starter,
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
        errors = thread_body_errors(body, name_required=False, type_required=False)
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
