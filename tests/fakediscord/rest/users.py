"""REST for users: the bot's own user and the DM channels it opens."""

from __future__ import annotations

from aiohttp import web

from ..errors import field_error, invalid_form_body, unknown_user
from ..model import DMChannel, new_snowflake
from ..world import World
from .http import json_response


class UserRoutes(World):
    """`GET /users/@me` and `POST /users/@me/channels`."""

    async def _get_current_user(self, request: web.Request) -> web.Response:
        return json_response(self.current_user_payload())

    async def _open_dm(self, request: web.Request) -> web.Response:
        """discord.py's `create_dm`: one channel per recipient, reused. Closed DMs only show when the bot sends."""
        body = await request.json()
        raw_id = body.get("recipient_id")
        if raw_id is None:
            raise invalid_form_body({"recipient_id": field_error("BASE_TYPE_REQUIRED", "This field is required")})
        user = self.users.get(int(raw_id))
        if user is None:
            raise unknown_user()
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = self.dm_channels[user.id] = DMChannel(id=new_snowflake(), recipient=user)
        return json_response(channel.payload())
