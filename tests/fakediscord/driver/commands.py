"""Users running commands and clicking buttons, checked against the synced commands as Discord's client checks them."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from ..errors import ClientRejected
from ..kinds import (
    COMMAND_CHAT_INPUT,
    COMMAND_MESSAGE,
    COMMAND_USER,
    COMPONENT_BUTTON,
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_COMPONENT,
    OPTION_ATTACHMENT,
    OPTION_BOOLEAN,
    OPTION_CHANNEL,
    OPTION_INTEGER,
    OPTION_MENTIONABLE,
    OPTION_NUMBER,
    OPTION_ROLE,
    OPTION_STRING,
    OPTION_SUB_COMMAND,
    OPTION_SUB_COMMAND_GROUP,
    OPTION_USER,
)
from ..messages import Message, UploadedFile
from ..model import Channel, GuildChannel, Member, Role, Thread, User, new_snowflake
from ..permissions import Perm
from ..records import InteractionRecord
from ..writes import MessageWrites

OptionValue = str | int | float | bool | User | Member | Role | Channel | Thread | tuple[str, bytes]
"""A slash-command option as a test gives it; `(filename, data)` for an attachment option."""


class CommandActions(MessageWrites):
    """`slash`, `message_command`, `user_command` and `click`: a user's interaction, dispatched to the bot."""

    async def slash(
        self,
        name: str,
        options: Mapping[str, OptionValue] | None = None,
        *,
        user: User | Member,
        channel: GuildChannel | None = None,
        subcommand: str | None = None,
        locale: str = "en-US",
        bypass_client_checks: bool = False,
    ) -> InteractionRecord:
        """A user runs `/name [subcommand] options...` in `channel` (default #general), or in a thread.

        `subcommand` is "sub" or "group sub". Values are checked against the *synced* schema, as Discord's client
        does (types, choices, ranges, required options). `bypass_client_checks` skips only the visibility rules
        (default_member_permissions, age restriction) to test the bot's own checks behind them.
        """
        channel = channel or self.general
        member = self._member_of(user, channel.guild)
        command = self._command_for(name, COMMAND_CHAT_INPUT, member, channel, bypass_client_checks)
        schema: list[dict[str, Any]] = command.get("options", [])
        chain: list[tuple[str, int]] = []
        for part in subcommand.split() if subcommand else []:
            sub = next((option for option in _subcommands(schema) if option["name"] == part), None)
            if sub is None:
                raise ClientRejected(f"/{name} has no subcommand {part!r}")
            chain.append((part, sub["type"]))
            schema = sub.get("options", [])
        if _subcommands(schema):
            raise ClientRejected(f"/{name} {subcommand or ''} needs a subcommand")
        resolved: dict[str, dict[str, Any]] = {}
        given = dict(options or {})
        values = [
            self._option_payload(o, given.pop(o["name"]), member, channel, resolved)
            for o in schema
            if o["name"] in given
        ]
        if given:
            raise ClientRejected(f"/{name} has no option(s) {sorted(given)}")
        missing = [o["name"] for o in schema if o.get("required") and not any(v["name"] == o["name"] for v in values)]
        if missing:
            raise ClientRejected(f"/{name} needs option(s) {missing}")
        for part, kind in reversed(chain):
            values = [{"type": kind, "name": part, "options": values}]
        data = self._command_data(command, values, resolved)
        return await self._dispatch_interaction(INTERACTION_APPLICATION_COMMAND, data, member, channel, locale=locale)

    async def message_command(
        self, name: str, message: Message, *, user: User | Member, locale: str = "en-US"
    ) -> InteractionRecord:
        """A user picks Apps → `name` on `message` (a message context-menu command)."""
        channel = self._guild_channel_of(message)
        member = self._member_of(user, channel.guild)
        resolved: dict[str, dict[str, Any]] = {"messages": {str(message.id): message.payload()}}
        return await self._context_menu(name, COMMAND_MESSAGE, message.id, resolved, member, channel, locale)

    async def user_command(
        self,
        name: str,
        target: User | Member,
        *,
        user: User | Member,
        channel: GuildChannel | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """A user picks Apps → `name` on `target` (a user context-menu command)."""
        channel = channel or self.general
        member = self._member_of(user, channel.guild)
        resolved: dict[str, dict[str, Any]] = {}
        target_user = self._resolve_user(target, channel, resolved)
        return await self._context_menu(name, COMMAND_USER, target_user.id, resolved, member, channel, locale)

    async def _context_menu(
        self,
        name: str,
        kind: int,
        target_id: int,
        resolved: dict[str, dict[str, Any]],
        member: Member,
        channel: GuildChannel,
        locale: str,
    ) -> InteractionRecord:
        """Run the message or user command `name` on `target_id`, once Discord's client has resolved the target."""
        command = self._command_for(name, kind, member, channel, False)
        data = self._command_data(command, None, resolved) | {"target_id": str(target_id)}
        return await self._dispatch_interaction(INTERACTION_APPLICATION_COMMAND, data, member, channel, locale=locale)

    async def click(
        self, message: Message, custom_id: str, *, user: User | Member, locale: str = "en-US"
    ) -> InteractionRecord:
        """A user clicks the button `custom_id` on `message` (a component interaction carrying that message)."""
        channel = self._guild_channel_of(message)
        member = self._member_of(user, channel.guild)
        if message.deleted:
            raise ClientRejected(f"message {message.id} is deleted")
        component = message.find_component(custom_id)
        if component is None or component.get("type") != COMPONENT_BUTTON:
            raise ClientRejected(f"message {message.id} has no button {custom_id!r}")
        if component.get("disabled"):
            raise ClientRejected(f"button {custom_id!r} is disabled")
        data = {"custom_id": custom_id, "component_type": COMPONENT_BUTTON}
        return await self._dispatch_interaction(
            INTERACTION_COMPONENT, data, member, channel, locale=locale, source_message=message
        )

    def _command_for(
        self, name: str, kind: int, member: Member, channel: GuildChannel, bypass: bool
    ) -> dict[str, Any]:
        guild = channel.guild
        command = self.commands.get((guild.id, name, kind)) or self.commands.get((None, name, kind))
        if command is None:
            synced = sorted(key[1] for key in self.commands if key[0] in (None, guild.id))
            raise ClientRejected(f"no synced command {name!r} of type {kind} in {guild.name}; synced: {synced}")
        if bypass:
            return command
        if command.get("contexts") is not None and 0 not in command["contexts"]:
            raise ClientRejected(f"{name!r} is not usable in guilds")
        if command.get("nsfw") and not channel.nsfw:
            raise ClientRejected(f"{name!r} is age-restricted and #{channel.name} is not")
        permissions = guild.permissions(member, channel)
        if not permissions & Perm.USE_APPLICATION_COMMANDS:
            raise ClientRejected(f"{member.user.username} may not use application commands in #{channel.name}")
        required = command.get("default_member_permissions")
        # "0" hides the command from everyone but administrators.
        if required is not None and not permissions & Perm.ADMINISTRATOR:
            needed = int(required)
            if needed == 0 or permissions & needed != needed:
                raise ClientRejected(f"{name!r} is hidden from {member.user.username} by default_member_permissions")
        return command

    def _command_data(
        self, command: dict[str, Any], options: list[dict[str, Any]] | None, resolved: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": command["type"]}
        if options is not None:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if command.get("guild_id") is not None:
            data["guild_id"] = command["guild_id"]
        return data

    def _option_payload(
        self,
        schema: dict[str, Any],
        value: OptionValue,
        member: Member,
        channel: GuildChannel,
        resolved: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        kind, name = schema["type"], schema["name"]
        wire: str | int | float | bool
        if kind == OPTION_STRING and isinstance(value, str):
            if not schema.get("min_length", 0) <= len(value) <= schema.get("max_length", 6000):
                raise ClientRejected(f"option {name!r}: length {len(value)} outside the command's limits")
            wire = value
        elif kind == OPTION_INTEGER and isinstance(value, int) and not isinstance(value, bool):
            wire = value
        elif kind == OPTION_NUMBER and isinstance(value, int | float) and not isinstance(value, bool):
            wire = value
        elif kind == OPTION_BOOLEAN and isinstance(value, bool):
            wire = value
        elif kind in (OPTION_USER, OPTION_MENTIONABLE) and isinstance(value, User | Member):
            wire = str(self._resolve_user(value, channel, resolved).id)
        elif kind in (OPTION_ROLE, OPTION_MENTIONABLE) and isinstance(value, Role):
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            wire = str(value.id)
        elif kind == OPTION_CHANNEL and isinstance(value, Channel | Thread):
            if schema.get("channel_types") and value.type not in schema["channel_types"]:
                raise ClientRejected(f"option {name!r} does not accept channel type {value.type}")
            permissions = value.guild.permissions(member, value)
            resolved.setdefault("channels", {})[str(value.id)] = value.payload() | {"permissions": str(permissions)}
            wire = str(value.id)
        elif kind == OPTION_ATTACHMENT and isinstance(value, tuple):
            filename, data = value
            attachment = self._store_attachment(channel, UploadedFile(0, filename, data, None), filename, None)
            resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.payload() | {"ephemeral": True}
            wire = str(attachment.id)
        else:
            raise ClientRejected(f"option {name!r} of type {kind} cannot take {value!r}")
        is_number = isinstance(wire, int | float) and not isinstance(wire, bool)
        if is_number and not schema.get("min_value", wire) <= wire <= schema.get("max_value", wire):
            raise ClientRejected(f"option {name!r}: {wire} outside the command's range")
        choices = schema.get("choices")
        if choices and wire not in [choice["value"] for choice in choices]:
            raise ClientRejected(f"option {name!r}: {wire!r} is not one of the command's choices")
        return {"name": name, "type": kind, "value": wire}

    def _resolve_user(self, target: User | Member, channel: GuildChannel, resolved: dict[str, dict[str, Any]]) -> User:
        user = target.user if isinstance(target, Member) else target
        resolved.setdefault("users", {})[str(user.id)] = user.payload()
        member = channel.guild.members.get(user.id)
        if member is not None:
            permissions = channel.guild.permissions(member, channel)
            resolved.setdefault("members", {})[str(user.id)] = member.payload(with_user=False) | {
                "permissions": str(permissions)
            }
        return user

    async def _dispatch_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        member: Member,
        channel: GuildChannel,
        *,
        locale: str,
        source_message: Message | None = None,
    ) -> InteractionRecord:
        if isinstance(channel, Thread) and channel.archived:
            raise ClientRejected(
                f"thread {channel.name!r} is archived: interactions in archived threads are not modelled"
                " (post a message to unarchive it first)"
            )
        guild = channel.guild
        permissions = guild.permissions(member, channel)
        app_permissions = guild.permissions(guild.member(self.bot_user), channel)
        interaction_id, token = new_snowflake(), f"aW50ZXJhY3Rpb246{secrets.token_urlsafe(48)}"
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            "guild_locale": guild.preferred_locale,
            "channel_id": str(channel.id),
            "channel": channel.payload() | {"permissions": str(permissions)},
            "member": member.payload() | {"permissions": str(permissions)},
            "token": token,
            "version": 1,
            "app_permissions": str(app_permissions),
            "locale": locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": guild.upload_limit,
        }
        if source_message is not None:
            payload["message"] = source_message.payload()
        record = InteractionRecord(
            server=self,
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            member=member,
            guild=guild,
            channel=channel,
            dispatched_at=self.clock(),
            source_message=source_message,
        )
        self.interactions[record.id] = record
        self._interactions_by_token[token] = record
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        self.changes.notify()
        return record


def _subcommands(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [option for option in options if option["type"] in (OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP)]
