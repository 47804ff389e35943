"""REST for channel messages: create, fetch, edit and delete as the bot's permissions allow, pins, and downloads."""

from __future__ import annotations

from aiohttp import web

from ..errors import DiscordHTTPError, cannot_message_user, missing_access, missing_permissions, thread_locked
from ..messages import FLAG_EPHEMERAL, SETTABLE_FLAGS
from ..model import DMChannel, Thread, iso_timestamp
from ..permissions import Perm
from ..threads import ThreadLifecycle
from ..writes import channel_ids, refuse_if_archived, send_permission
from .http import json_response, read_body, route_name


class MessageRoutes(ThreadLifecycle):
    """`/channels/{id}/messages...` (pins included) and `/attachments/...`."""

    async def _create_channel_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if isinstance(channel, DMChannel) and (channel.recipient.bot or not channel.recipient.dms_open):
            raise cannot_message_user()
        permissions = self._bot_permissions(channel)
        if not permissions & Perm.VIEW_CHANNEL:
            raise missing_access()
        body, files = await read_body(request)
        if not permissions & send_permission(channel) or (files and not permissions & Perm.ATTACH_FILES):
            raise missing_permissions()
        if isinstance(channel, Thread) and channel.locked and not channel.archived:
            if not permissions & Perm.MANAGE_THREADS:
                raise thread_locked()
        message = await self._create_message(
            channel, body, files, route=route_name(request), flags_allowed=SETTABLE_FLAGS & ~FLAG_EPHEMERAL
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
        await self._edit_message(message, body, files, route=route_name(request))
        return json_response(message.payload())

    async def _delete_channel_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._channel_message(request, channel)
        if message.author is not self.bot_user and not self._bot_permissions(channel) & Perm.MANAGE_MESSAGES:
            raise missing_permissions()
        await self._delete_message(message, route=route_name(request))
        return web.Response(status=204)

    async def _get_pins(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        items = [{"pinned_at": message.pinned_at, "message": message.payload()} for message in self.pinned(channel)]
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
        refuse_if_archived(channel)
        message.pinned = pinned
        message.pinned_at = iso_timestamp() if pinned else None
        last_pin = max((m.pinned_at for m in self.channel_messages(channel) if m.pinned_at), default=None)
        await self.gateway.dispatch_if_connected(
            "CHANNEL_PINS_UPDATE",
            channel_ids(channel) | {"last_pin_timestamp": last_pin},
        )
        return web.Response(status=204)

    async def _download_attachment(self, request: web.Request) -> web.Response:
        attachment = self.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None:
            raise web.HTTPNotFound()
        return web.Response(body=attachment.data, content_type=attachment.content_type or "application/octet-stream")
