"""Messages as the fake stores them, every write to them as a record, and Discord's limits on message bodies.

A `Message` holds the current state; each create, edit or delete appends a `MessageWrite` (to the message and
to the server's log) with the `allowed_mentions` the bot sent and who that write could or did ping. Message
bodies are checked against Discord's limits (2,000 characters of content, embed sizes, empty messages, file
counts); a breach raises the 400 Discord would send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import DiscordHTTPError, field_error, invalid_form_body
from .model import AnyChannel, Thread, User, iso_timestamp

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_FILES = 10
MAX_ACTION_ROWS = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
EMBED_FIELD_LIMITS = {"title": 256, "description": 4096}
EMBED_NESTED_LIMITS = {("author", "name"): 256, ("footer", "text"): 2048}
EMBED_MAX_FIELDS = 25
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024

FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
SETTABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2

MESSAGE_TYPE_DEFAULT, MESSAGE_TYPE_REPLY, MESSAGE_TYPE_CHAT_INPUT, MESSAGE_TYPE_CONTEXT_MENU = 0, 19, 20, 23
MESSAGE_TYPE_THREAD_CREATED = 18

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")
DEFAULT_PARSE = ("users", "roles", "everyone")


@dataclass(eq=False)
class Attachment:
    """An uploaded file as a message keeps it, downloadable from `url` on the fake."""

    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    description: str | None = None

    def payload(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "description": self.description,
        }


@dataclass(frozen=True)
class Pings:
    """Who a message notifies: mentions found in the content, filtered by `allowed_mentions` as Discord does."""

    users: frozenset[int] = frozenset()
    roles: frozenset[int] = frozenset()
    everyone: bool = False

    def __bool__(self) -> bool:
        return bool(self.users or self.roles or self.everyone)


def resolve_pings(content: str, allowed_mentions: dict[str, Any] | None, replied_to: User | None) -> Pings:
    """Discord's rule: without `allowed_mentions` everything in the content pings, a reply pings its author.

    The author's permissions (MENTION_EVERYONE, unmentionable roles) are deliberately ignored: a test should
    prove the bot never *asks* to ping, whatever the server's settings happen to be.
    """
    parse = DEFAULT_PARSE if allowed_mentions is None else tuple(allowed_mentions.get("parse", ()))
    allowed_users = {int(user_id) for user_id in (allowed_mentions or {}).get("users", ())}
    allowed_roles = {int(role_id) for role_id in (allowed_mentions or {}).get("roles", ())}
    users = {int(user_id) for user_id in USER_MENTION.findall(content)}
    roles = {int(role_id) for role_id in ROLE_MENTION.findall(content)}
    pinged_users = users if "users" in parse else users & allowed_users
    pinged_roles = roles if "roles" in parse else roles & allowed_roles
    if replied_to is not None and (allowed_mentions is None or allowed_mentions.get("replied_user", False)):
        pinged_users = pinged_users | {replied_to.id}
    everyone = "everyone" in parse and EVERYONE_MENTION.search(content) is not None
    return Pings(users=frozenset(pinged_users), roles=frozenset(pinged_roles), everyone=everyone)


def allows_any_ping(allowed_mentions: dict[str, Any] | None, *, is_reply: bool) -> bool:
    """Whether these `allowed_mentions` would let *some* content ping: the guarantee generated text needs."""
    if allowed_mentions is None:
        return True
    if allowed_mentions.get("parse") or allowed_mentions.get("users") or allowed_mentions.get("roles"):
        return True
    return is_reply and bool(allowed_mentions.get("replied_user", False))


WriteAction = Literal["create", "edit", "delete"]


@dataclass(frozen=True)
class MessageWrite:
    """One change to a message as the bot made it, in the order the fake received it."""

    action: WriteAction
    route: str
    """`METHOD /path` template the bot used, e.g. `PATCH /webhooks/{app}/{token}/messages/@original`."""
    message_id: int
    channel_id: int
    content: str
    allowed_mentions: dict[str, Any] | None
    """As the bot sent it with this write; None when it sent none (Discord then parses every mention)."""
    could_ping: bool
    pinged: Pings
    attachment_names: tuple[str, ...]
    at: float
    """The server's clock (seconds, monotonic plus any `advance_clock`)."""
    interaction_id: int | None = None


@dataclass(eq=False)
class Message:
    """A message's current state (any author, any channel), with every write the bot made to it in `writes`."""

    id: int
    channel: AnyChannel
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    replied_to: Message | None = None
    pinged: Pings = field(default_factory=Pings)
    mentioned_users: list[User] = field(default_factory=list)
    """The pinged users Discord knows, as it lists them in `mentions`."""
    pinned: bool = False
    pinned_at: str | None = None
    deleted: bool = False
    created_at: str = field(default_factory=iso_timestamp)
    edited_at: str | None = None
    writes: list[MessageWrite] = field(default_factory=list)
    thread: Thread | None = None
    """The thread started from this message, if any."""

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A deferred interaction's "is thinking..." placeholder, not yet replaced."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def edit_times(self) -> list[float]:
        return [write.at for write in self.writes if write.action == "edit"]

    def find_component(self, custom_id: str) -> dict[str, Any] | None:
        pending = list(self.components)
        while pending:
            component = pending.pop()
            if component.get("custom_id") == custom_id:
                return component
            pending.extend(component.get("components", []))
            if "accessory" in component:
                pending.append(component["accessory"])
        return None

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel.id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": self.created_at,
            "edited_timestamp": self.edited_at,
            "tts": False,
            "mention_everyone": self.pinged.everyone,
            "mentions": [user.payload() for user in self.mentioned_users],
            "mention_roles": [str(role_id) for role_id in sorted(self.pinged.roles)],
            "attachments": [attachment.payload() for attachment in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": self.pinned,
            "type": self.type,
            "flags": self.flags,
        }
        if self.webhook_id is not None:
            payload["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            payload["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            payload["interaction_metadata"] = self.interaction_metadata
        if self.reference is not None:
            payload["message_reference"] = self.reference
            if self.type == MESSAGE_TYPE_REPLY:
                payload["referenced_message"] = None if self.replied_to is None else self.replied_to.payload()
        if self.thread is not None:
            payload["thread"] = self.thread.payload()
        return payload


@dataclass(frozen=True)
class UploadedFile:
    """One `files[n]` part of a multipart body."""

    index: int
    filename: str
    data: bytes
    content_type: str | None


def check_message_body(body: dict[str, Any], files: list[UploadedFile], *, error_path: tuple[str, ...] = ()) -> None:
    """Raise the 400 Discord sends for a body over its limits; `error_path` nests errors (`data` for callbacks)."""
    errors: dict[str, Any] = {}
    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        errors["content"] = field_error("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.")
    embed_errors = _embed_errors(body.get("embeds") or [])
    if embed_errors:
        errors["embeds"] = embed_errors
    component_errors = _component_errors(body.get("components") or [])
    if component_errors:
        errors["components"] = component_errors
    if len(files) > MAX_FILES:
        errors["files"] = field_error("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length.")
    if errors:
        for key in reversed(error_path):
            errors = {key: errors}
        raise invalid_form_body(errors)


def check_not_empty(
    content: str, embeds: list[dict[str, Any]], components: list[dict[str, Any]], attachments: list[Attachment]
) -> None:
    """Discord refuses a message with nothing to show (whitespace-only content counts as nothing)."""
    if not (content.strip() or embeds or components or attachments):
        raise DiscordHTTPError(400, 50006, "Cannot send an empty message", kind="empty_message")


def _embed_errors(embeds: list[dict[str, Any]]) -> dict[str, Any]:
    if len(embeds) > MAX_EMBEDS:
        return field_error("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
    errors: dict[str, Any] = {}
    total = 0
    for index, embed in enumerate(embeds):
        embed_errors: dict[str, Any] = {}
        for key, limit in EMBED_FIELD_LIMITS.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                embed_errors[key] = field_error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        for (outer, inner), limit in EMBED_NESTED_LIMITS.items():
            text = (embed.get(outer) or {}).get(inner) or ""
            total += len(text)
            if len(text) > limit:
                embed_errors[outer] = {
                    inner: field_error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
                }
        fields = embed.get("fields") or []
        if len(fields) > EMBED_MAX_FIELDS:
            embed_errors["fields"] = field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {EMBED_MAX_FIELDS} or fewer in length."
            )
        for field_index, embed_field in enumerate(fields):
            name, value = embed_field.get("name", ""), embed_field.get("value", "")
            total += len(name) + len(value)
            if len(name) > EMBED_FIELD_NAME or len(value) > EMBED_FIELD_VALUE:
                embed_errors.setdefault("fields", {})[str(field_index)] = field_error(
                    "BASE_TYPE_MAX_LENGTH", "Field name or value is too long."
                )
        if embed_errors:
            errors[str(index)] = embed_errors
    if total > MAX_EMBED_TOTAL:
        errors.setdefault("_errors", []).append(
            {"code": "MESSAGE_EMBED_TOTAL_LENGTH", "message": f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"}
        )
    return errors


def _component_errors(components: list[dict[str, Any]]) -> dict[str, Any]:
    if len(components) > MAX_ACTION_ROWS and all(row.get("type") == 1 for row in components):
        return field_error("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ACTION_ROWS} or fewer in length.")
    errors: dict[str, Any] = {}
    pending = [(str(index), component) for index, component in enumerate(components)]
    while pending:
        path, component = pending.pop()
        custom_id = component.get("custom_id")
        if custom_id is not None and len(custom_id) > MAX_CUSTOM_ID:
            errors[path] = field_error("BASE_TYPE_MAX_LENGTH", f"custom_id must be {MAX_CUSTOM_ID} or fewer in length.")
        label = component.get("label")
        if component.get("type") == 2 and label is not None and len(label) > MAX_BUTTON_LABEL:
            errors[path] = field_error("BASE_TYPE_MAX_LENGTH", f"label must be {MAX_BUTTON_LABEL} or fewer in length.")
        pending.extend((f"{path}.{index}", child) for index, child in enumerate(component.get("components", [])))
    return errors
