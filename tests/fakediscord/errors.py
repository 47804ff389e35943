"""Errors the fake raises: Discord's own JSON errors (sent to the bot), and refusals of the test driver.

`DiscordHTTPError` is what a route handler raises to answer the bot the way Discord would (status, JSON `code`,
`message`, and for a bad form body the nested `errors` tree). Its `kind` names the rule the bot broke; the server
records each one as a `Violation`. `ClientRejected` is raised to the *test* when it asks for something Discord's
own client would never send (an unsynced or hidden command, a missing option, a button that is not there).
"""

from __future__ import annotations

from typing import Any


class DiscordHTTPError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        kind: str,
        errors: dict[str, Any] | None = None,
        late_by: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message} ({kind})")
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind
        self.errors = errors
        self.late_by = late_by

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def field_error(code: str, message: str) -> dict[str, Any]:
    """One leaf of Discord's nested error tree: `{"_errors": [{"code": ..., "message": ...}]}`."""
    return {"_errors": [{"code": code, "message": message}]}


def invalid_form_body(errors: dict[str, Any]) -> DiscordHTTPError:
    return DiscordHTTPError(400, 50035, "Invalid Form Body", kind="invalid_form_body", errors=errors)


def unknown_channel() -> DiscordHTTPError:
    return DiscordHTTPError(404, 10003, "Unknown Channel", kind="unknown_channel")


def unknown_message() -> DiscordHTTPError:
    return DiscordHTTPError(404, 10008, "Unknown Message", kind="unknown_message")


def unknown_webhook(kind: str = "unknown_webhook") -> DiscordHTTPError:
    return DiscordHTTPError(404, 10015, "Unknown Webhook", kind=kind)


def unknown_interaction(kind: str = "unknown_interaction", late_by: float | None = None) -> DiscordHTTPError:
    return DiscordHTTPError(404, 10062, "Unknown interaction", kind=kind, late_by=late_by)


def unknown_member() -> DiscordHTTPError:
    return DiscordHTTPError(404, 10007, "Unknown Member", kind="unknown_member")


def unknown_user() -> DiscordHTTPError:
    return DiscordHTTPError(404, 10013, "Unknown User", kind="unknown_user")


def cannot_message_user() -> DiscordHTTPError:
    """A DM to a bot (the bot itself included) or to a user who closed DMs: the bot cannot know until it tries."""
    return DiscordHTTPError(403, 50007, "Cannot send messages to this user", kind="cannot_message_user")


def unauthorized() -> DiscordHTTPError:
    return DiscordHTTPError(401, 0, "401: Unauthorized", kind="unauthorized")


def invalid_webhook_token(kind: str = "invalid_webhook_token") -> DiscordHTTPError:
    return DiscordHTTPError(401, 50027, "Invalid Webhook Token", kind=kind)


def missing_access() -> DiscordHTTPError:
    return DiscordHTTPError(403, 50001, "Missing Access", kind="missing_access")


def missing_permissions() -> DiscordHTTPError:
    return DiscordHTTPError(403, 50013, "Missing Permissions", kind="missing_permissions")


def invalid_channel_type() -> DiscordHTTPError:
    """E.g. starting a thread in a thread or a DM, or a thread-member route on a channel that is no thread."""
    return DiscordHTTPError(400, 50024, "Cannot execute action on this channel type", kind="invalid_channel_type")


def thread_archived() -> DiscordHTTPError:
    """Any write to an archived thread (messages, pins, members) until it is unarchived."""
    return DiscordHTTPError(400, 50083, "Thread is archived", kind="thread_archived")


def thread_already_created() -> DiscordHTTPError:
    return DiscordHTTPError(400, 160004, "A thread has already been created for this message", kind="thread_exists")


def thread_locked() -> DiscordHTTPError:
    """Posting in a locked thread without Manage Threads."""
    return DiscordHTTPError(400, 160005, "Thread is locked", kind="thread_locked")


class ClientRejected(Exception):
    """Discord's client would not let a user do this (the test asked for something impossible)."""
