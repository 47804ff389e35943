"""The one path every message write takes, whether a REST route or an interaction response makes it.

Discord's checks on the body (2,000 characters, embeds, files, upload size), replies, attachments, who the write
pings, its `MessageWrite` in `writes` with the `allowed_mentions` sent, and the MESSAGE_* gateway events the bot's
intents allow.
"""

from __future__ import annotations

from typing import Any

from .errors import DiscordHTTPError, field_error, invalid_form_body, thread_archived
from .gateway import INTENT_DIRECT_MESSAGES, INTENT_GUILD_MESSAGES, INTENT_MESSAGE_CONTENT
from .kinds import COMMAND_CHAT_INPUT, INTERACTION_APPLICATION_COMMAND
from .messages import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    MESSAGE_TYPE_CHAT_INPUT,
    MESSAGE_TYPE_CONTEXT_MENU,
    MESSAGE_TYPE_DEFAULT,
    MESSAGE_TYPE_REPLY,
    USER_MENTION,
    Attachment,
    Message,
    MessageWrite,
    Pings,
    UploadedFile,
    WriteAction,
    allows_any_ping,
    check_message_body,
    check_not_empty,
    resolve_pings,
)
from .model import AnyChannel, DMChannel, Thread, iso_timestamp, new_snowflake
from .permissions import Perm
from .records import InteractionRecord
from .world import World


class MessageWrites(World):
    """Creates, edits and deletes messages as Discord does, records each write and tells the bot."""

    async def _create_message(
        self,
        channel: AnyChannel,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        route: str,
        flags_allowed: int,
        interaction: InteractionRecord | None = None,
        error_path: tuple[str, ...] = (),
    ) -> Message:
        refuse_if_archived(channel)
        check_message_body(body, files, error_path=error_path)
        self._check_upload_size(files, channel.upload_limit)
        replied_to = self._reply_target(body, channel)
        attachments = self._attachments(channel, body, files, existing=[])
        content, embeds, components = body.get("content") or "", body.get("embeds") or [], body.get("components") or []
        check_not_empty(content, embeds, components, attachments)
        message = Message(
            id=new_snowflake(),
            channel=channel,
            author=self.bot_user,
            content=content,
            embeds=embeds,
            components=components,
            attachments=attachments,
            flags=int(body.get("flags") or 0) & flags_allowed,
            type=MESSAGE_TYPE_REPLY if replied_to is not None else MESSAGE_TYPE_DEFAULT,
        )
        if replied_to is not None:
            message.reference, message.replied_to = body["message_reference"], replied_to
        if interaction is not None:
            self._mark_interaction_message(message, interaction)
        self._set_pings(message, body.get("allowed_mentions"))
        self._store_message(message)
        self._record_write(message, "create", route, body, interaction)
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        return message

    async def _create_placeholder(self, record: InteractionRecord, *, ephemeral: bool) -> Message:
        """The deferred response's "is thinking..." message: not a write of the bot's, so not in `writes`."""
        message = Message(
            id=new_snowflake(),
            channel=record.channel,
            author=self.bot_user,
            flags=FLAG_LOADING | (FLAG_EPHEMERAL if ephemeral else 0),
        )
        self._mark_interaction_message(message, record)
        self._store_message(message)
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        return message

    async def _edit_message(
        self,
        message: Message,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        route: str,
        interaction: InteractionRecord | None = None,
        error_path: tuple[str, ...] = (),
    ) -> Message:
        """Discord's PATCH: only the fields present change; `attachments` lists what to keep."""
        refuse_if_archived(message.channel)
        check_message_body(body, files, error_path=error_path)
        self._check_upload_size(files, message.channel.upload_limit)
        content = message.content if "content" not in body else body["content"] or ""
        embeds = message.embeds if "embeds" not in body else body["embeds"] or []
        components = message.components if "components" not in body else body["components"] or []
        attachments = self._attachments(message.channel, body, files, existing=message.attachments)
        check_not_empty(content, embeds, components, attachments)
        # Replacing a deferred placeholder is the response itself, not an edit the user sees as "(edited)".
        if not message.loading:
            message.edited_at = iso_timestamp()
        message.content, message.embeds = content, embeds
        message.components, message.attachments = components, attachments
        if "flags" in body:
            message.flags = (message.flags & ~FLAG_SUPPRESS_EMBEDS) | (int(body["flags"] or 0) & FLAG_SUPPRESS_EMBEDS)
        message.flags &= ~FLAG_LOADING
        if "content" in body:
            self._set_pings(message, body.get("allowed_mentions"))
        self._record_write(message, "edit", route, body, interaction)
        await self._dispatch_message_event("MESSAGE_UPDATE", message)
        return message

    async def _delete_message(
        self, message: Message, *, route: str, interaction: InteractionRecord | None = None
    ) -> None:
        refuse_if_archived(message.channel)
        self._forget_message(message)
        self._record_write(message, "delete", route, {}, interaction)
        if not message.ephemeral:
            payload = {"id": str(message.id)} | channel_ids(message.channel)
            await self.gateway.dispatch_if_connected("MESSAGE_DELETE", payload)

    def _store_message(self, message: Message) -> None:
        """Keep a new message; in a thread, count it as Discord does (`message_count`, `total_message_sent`)."""
        self.messages[message.id] = message
        channel = message.channel
        if isinstance(channel, Thread) and not message.ephemeral:
            channel.message_count += 1
            channel.total_message_sent += 1
            channel.last_message_id = message.id

    def _forget_message(self, message: Message) -> None:
        message.deleted = True
        channel = message.channel
        if isinstance(channel, Thread) and not message.ephemeral:
            channel.message_count = max(0, channel.message_count - 1)

    def _mark_interaction_message(self, message: Message, record: InteractionRecord) -> None:
        message.webhook_id = message.application_id = self.application_id
        metadata: dict[str, Any] = {
            "id": str(record.id),
            "type": record.type,
            "user": record.member.user.payload(),
            "authorizing_integration_owners": {"0": str(record.guild.id)},
        }
        if record.source_message is not None:
            metadata["interacted_message_id"] = str(record.source_message.id)
        message.interaction_metadata = metadata
        if record.original is None and record.type == INTERACTION_APPLICATION_COMMAND:
            command_type = record.payload["data"]["type"]
            message.type = MESSAGE_TYPE_CHAT_INPUT if command_type == COMMAND_CHAT_INPUT else MESSAGE_TYPE_CONTEXT_MENU

    def _check_upload_size(self, files: list[UploadedFile], limit: int) -> None:
        if any(len(file.data) > limit for file in files):
            raise DiscordHTTPError(413, 40005, "Request entity too large", kind="file_too_large")

    def _reply_target(self, body: dict[str, Any], channel: AnyChannel) -> Message | None:
        reference = body.get("message_reference")
        if not reference:
            return None
        target = self.messages.get(int(reference["message_id"]))
        if target is None or target.channel is not channel or target.deleted:
            raise invalid_form_body(
                {"message_reference": field_error("MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")}
            )
        return target

    def _attachments(
        self, channel: AnyChannel, body: dict[str, Any], files: list[UploadedFile], *, existing: list[Attachment]
    ) -> list[Attachment]:
        """Existing attachments named in `attachments` are kept; `{"id": n}` entries take the upload `files[n]`."""
        uploads = {file.index: file for file in files}
        specs: list[dict[str, Any]] | None = body.get("attachments")
        new_specs: list[dict[str, Any]]
        if specs is None:
            kept, new_specs = list(existing), [{"id": file.index} for file in files]
        else:
            existing_by_id = {attachment.id: attachment for attachment in existing}
            kept = [existing_by_id[int(spec["id"])] for spec in specs if int(spec["id"]) in existing_by_id]
            new_specs = [spec for spec in specs if int(spec["id"]) in uploads and int(spec["id"]) not in existing_by_id]
        added = [
            self._store_attachment(channel, uploads[int(spec["id"])], spec.get("filename"), spec.get("description"))
            for spec in new_specs
        ]
        return kept + added

    def _store_attachment(
        self, channel: AnyChannel, upload: UploadedFile, filename: str | None, description: str | None
    ) -> Attachment:
        attachment_id = new_snowflake()
        name = filename or upload.filename
        attachment = Attachment(
            id=attachment_id,
            filename=name,
            data=upload.data,
            url=f"{self.base_url}/attachments/{channel.id}/{attachment_id}/{name}",
            content_type=upload.content_type,
            description=description,
        )
        self.attachments[attachment.id] = attachment
        return attachment

    def _set_pings(self, message: Message, allowed_mentions: dict[str, Any] | None) -> None:
        replied_author = message.replied_to.author if message.replied_to is not None else None
        message.pinged = resolve_pings(message.content, allowed_mentions, replied_author)
        message.mentioned_users = [
            self.users[user_id] for user_id in sorted(message.pinged.users) if user_id in self.users
        ]

    def _record_write(
        self,
        message: Message,
        action: WriteAction,
        route: str,
        body: dict[str, Any],
        interaction: InteractionRecord | None,
    ) -> None:
        allowed_mentions = body.get("allowed_mentions")
        write = MessageWrite(
            action=action,
            route=route,
            message_id=message.id,
            channel_id=message.channel.id,
            content=message.content,
            allowed_mentions=allowed_mentions,
            # A write without content cannot ping; with content, what matters is what the bot allowed.
            could_ping="content" in body and allows_any_ping(allowed_mentions, is_reply=message.reference is not None),
            pinged=message.pinged if "content" in body else Pings(),
            attachment_names=tuple(attachment.filename for attachment in message.attachments),
            at=self.clock(),
            interaction_id=None if interaction is None else interaction.id,
        )
        message.writes.append(write)
        self.writes.append(write)
        if interaction is not None:
            interaction.writes.append(write)

    async def _dispatch_message_event(self, event: str, message: Message) -> None:
        """Dispatch as the intents allow (GUILD_MESSAGES, DIRECT_MESSAGES); guild content only with MESSAGE_CONTENT."""
        session = self.gateway.session
        if session is None or message.ephemeral:
            return
        channel = message.channel
        if isinstance(channel, DMChannel):
            # DMs always carry their content; Discord sends no guild_id and no member.
            if session.intents & INTENT_DIRECT_MESSAGES:
                await self.gateway.dispatch(event, message.payload())
            return
        if not session.intents & INTENT_GUILD_MESSAGES:
            return
        if isinstance(channel, Thread) and not self._bot_sees(channel):
            return  # a private thread the bot is not in
        payload = message.payload() | {"guild_id": str(channel.guild.id)}
        member = channel.guild.members.get(message.author.id)
        if member is not None:
            payload["member"] = member.payload(with_user=False)
        mentions_bot = self.bot_user.id in {int(user_id) for user_id in USER_MENTION.findall(message.content)}
        if not (session.intents & INTENT_MESSAGE_CONTENT or message.author is self.bot_user or mentions_bot):
            payload |= {"content": "", "embeds": [], "attachments": [], "components": []}
        await self.gateway.dispatch(event, payload)


def channel_ids(channel: AnyChannel) -> dict[str, str]:
    """`channel_id`, plus `guild_id` for a guild channel: a DM's gateway events carry no guild."""
    ids = {"channel_id": str(channel.id)}
    if not isinstance(channel, DMChannel):
        ids["guild_id"] = str(channel.guild.id)
    return ids


def send_permission(channel: AnyChannel) -> Perm:
    """SEND_MESSAGES has no effect in a thread: SEND_MESSAGES_IN_THREADS takes its place there."""
    return Perm.SEND_MESSAGES_IN_THREADS if isinstance(channel, Thread) else Perm.SEND_MESSAGES


def refuse_if_archived(channel: AnyChannel) -> None:
    if isinstance(channel, Thread) and channel.archived:
        raise thread_archived()
