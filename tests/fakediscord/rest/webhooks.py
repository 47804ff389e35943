"""REST for an interaction's webhook: follow-ups and the original response, for 15 minutes after the interaction."""

from __future__ import annotations

from aiohttp import web

from ..errors import invalid_webhook_token, unknown_message, unknown_webhook
from ..messages import SETTABLE_FLAGS, Message
from ..records import InteractionRecord
from ..writes import MessageWrites
from .http import INTERACTION_ID, json_response, read_body, route_name


class WebhookRoutes(MessageWrites):
    """`/webhooks/{application_id}/{token}` and its `messages/{id}` (`@original` included)."""

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
        route = route_name(request)
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
        await self._edit_message(message, body, files, route=route_name(request), interaction=record)
        return json_response(message.payload())

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        message = self._webhook_message(request, record)
        await self._delete_message(message, route=route_name(request), interaction=record)
        return web.Response(status=204)
