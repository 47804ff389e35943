"""REST for interaction callbacks: an interaction's first response, accepted once and only within Discord's 3 s."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import DiscordHTTPError, field_error, invalid_form_body, unknown_interaction
from ..kinds import INTERACTION_APPLICATION_COMMAND, INTERACTION_COMPONENT
from ..messages import FLAG_EPHEMERAL, SETTABLE_FLAGS, Message
from ..records import Callback
from ..writes import MessageWrites
from .http import INTERACTION_ID, json_response, read_body, route_name

# Which callback types Discord accepts for each interaction type.
CALLBACKS_ALLOWED = {INTERACTION_APPLICATION_COMMAND: {4, 5, 9}, INTERACTION_COMPONENT: {4, 5, 6, 7, 9}}


class InteractionRoutes(MessageWrites):
    """`POST /interactions/{id}/{token}/callback`: reply, defer, update the clicked message or acknowledge."""

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        record = self.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.token != request.match_info["token"]:
            raise unknown_interaction()
        request[INTERACTION_ID] = record.id
        body, files = await read_body(request)
        delay = self.clock() - record.dispatched_at
        if delay > self.ack_deadline_s:
            raise unknown_interaction(kind="late_ack", late_by=delay)
        if record.callback is not None:
            raise DiscordHTTPError(
                400, 40060, "Interaction has already been acknowledged.", kind="already_acknowledged"
            )
        kind: int = body.get("type", 0)
        data: dict[str, Any] = body.get("data") or {}
        if kind not in CALLBACKS_ALLOWED[record.type]:
            raise invalid_form_body(
                {"type": field_error("INTERACTION_RESPONSE_TYPE_INVALID", f"Invalid type {kind} here")}
            )
        route = route_name(request)
        message: Message | None = None
        if kind == 4:
            message = await self._create_message(
                record.channel,
                data,
                files,
                route=route,
                interaction=record,
                error_path=("data",),
                flags_allowed=SETTABLE_FLAGS,
            )
            record.original = message
        elif kind == 5:
            message = await self._create_placeholder(
                record, ephemeral=bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            )
            record.original = message
        elif kind in (6, 7):
            message = record.source_message
            if kind == 7 and message is not None:
                await self._edit_message(message, data, files, route=route, interaction=record, error_path=("data",))
            record.original = message  # `@original` of a component interaction is the clicked message
        record.callback = Callback(type=kind, data=data, at=self.clock(), delay=delay)
        response: dict[str, Any] = {"interaction": {"id": str(record.id), "type": record.type}}
        if message is not None:
            response["interaction"] |= {
                "response_message_id": str(message.id),
                "response_message_loading": message.loading,
                "response_message_ephemeral": message.ephemeral,
            }
            if kind in (4, 5, 7):
                response["resource"] = {"type": kind, "message": message.payload()}
        return json_response(response)
