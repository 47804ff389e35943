"""REST for the application: its record, the gateway's address, and global and guild command sync."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ..errors import field_error, invalid_form_body, missing_access
from ..kinds import COMMAND_CHAT_INPUT
from ..model import new_snowflake
from ..world import World
from .http import json_response

CHAT_INPUT_NAME = re.compile(r"^[-_'\w]{1,32}$")


class ApplicationRoutes(World):
    """`/oauth2/applications/@me`, `/gateway/bot` and the bulk overwrite of global and guild commands."""

    async def _get_application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner.payload(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": self.application_flags(),
                "bot": self.bot_user.payload(),
                "interactions_endpoint_url": None,
            }
        )

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    def _command_scope(self, request: web.Request) -> int | None:
        if int(request.match_info["application_id"]) != self.application_id:
            raise missing_access()
        raw_guild = request.match_info.get("guild_id")
        if raw_guild is None:
            return None
        if int(raw_guild) not in self.guilds:
            raise missing_access()
        return int(raw_guild)

    async def _get_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        return json_response([command for key, command in self.commands.items() if key[0] == scope])

    async def _put_commands(self, request: web.Request) -> web.Response:
        """Bulk overwrite: the scope's commands become exactly these; a command keeps its id across syncs."""
        scope = self._command_scope(request)
        body: list[dict[str, Any]] = await request.json()
        errors = _command_errors(body)
        if errors:
            raise invalid_form_body(errors)
        previous = {key: command for key, command in self.commands.items() if key[0] == scope}
        for key in previous:
            del self.commands[key]
        stored = []
        for entry in body:
            kind = entry.get("type", COMMAND_CHAT_INPUT)
            old = previous.get((scope, entry["name"], kind))
            command = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
            } | entry
            command |= {
                "id": old["id"] if old else str(new_snowflake()),
                "application_id": str(self.application_id),
                "version": str(new_snowflake()),
                "type": kind,
                "guild_id": None if scope is None else str(scope),
            }
            self.commands[(scope, entry["name"], kind)] = command
            stored.append(command)
        self.command_syncs += 1
        return json_response(stored)


def _command_errors(commands: list[dict[str, Any]]) -> dict[str, Any]:
    """The checks Discord makes on a bulk overwrite that discord.py does not make first."""
    errors: dict[str, Any] = {}
    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        kind, name = command.get("type", COMMAND_CHAT_INPUT), command.get("name", "")
        problems: dict[str, Any] = {}
        if kind == COMMAND_CHAT_INPUT and not (CHAT_INPUT_NAME.match(name) and name == name.lower()):
            problems["name"] = field_error("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        elif not 1 <= len(name) <= 32:
            problems["name"] = field_error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        description = command.get("description", "")
        if kind == COMMAND_CHAT_INPUT and not 1 <= len(description) <= 100:
            problems["description"] = field_error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if len(command.get("options", [])) > 25:
            problems["options"] = field_error("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if (name, kind) in seen:
            problems["name"] = field_error(
                "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add((name, kind))
        if problems:
            errors[str(index)] = problems
    return errors
