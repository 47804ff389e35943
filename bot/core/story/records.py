"""A story game's provenance: starts, human turns and refused ones as requests with their input verdicts.

AI turns and recaps are recorded by the pipeline that writes them; what players type is recorded here, so the
hash chain covers who wrote what.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from bot.core import replies
from bot.core.request import Author
from guardrails.rail import Verdict
from guardrails.stack import RailStack
from storage.models import RequestStatus
from storage.recorder import Recorder


def record_human_turn(
    recorder: Recorder, author: Author, session: Row, parent: Row | None, text: str, rails: RailStack,
    verdicts: list[Verdict], failed: Verdict | None,
) -> str:  # fmt: skip
    """A member's turn as a provenance request with its input verdicts: the chain covers who wrote what."""
    options = {"story_session": session.id, "parent_turn": parent.number if parent else None, "rating": session.rating}
    status = RequestStatus.DELIVERED if failed is None else RequestStatus.BLOCKED
    return record_checked(
        recorder, author, "story_turn", options, text, [(rails, verdicts)], status, replies.reason(failed) if failed else None,
        parent_request_id=parent.request_id if parent else None,
    )  # fmt: skip


def record_start(
    recorder: Recorder, author: Author, title: str, premise: str, lines: Sequence[str], veils: Sequence[str], rating: str,
    checked: list[tuple[RailStack, list[Verdict]]], failed: Verdict | None, field_name: str | None, *,
    session_id: int | None = None, status: RequestStatus | None = None, reason: str | None = None,
) -> str:  # fmt: skip
    """A story's start as a provenance request: refused ones too (`blocked`, the reason naming the field that
    failed: title or premise, and the line it crossed), so moderators see them in `audit flagged` and the chain
    has them.
    The member's words (title, premise, lines, veils) are its prompt, a content field that erasure reaches."""
    text = f"Title: {title}\nPremise: {premise}"
    text += f"\nLines: {'; '.join(lines)}" if lines else ""
    text += f"\nVeils: {'; '.join(veils)}" if veils else ""
    options: dict[str, Any] = {"rating": rating, "lines": len(lines), "veils": len(veils)}
    if session_id is not None:
        options["story_session"] = session_id
    if failed is not None:
        options["refused_field"] = field_name
        status, reason = RequestStatus.BLOCKED, f"{field_name}: {replies.reason(failed)}"
    return record_checked(
        recorder, author, "story_start", options, text, checked, status or RequestStatus.DELIVERED, reason
    )


def record_checked(
    recorder: Recorder, author: Author, command: str, options: dict[str, Any], text: str,
    checked: list[tuple[RailStack, list[Verdict]]], status: RequestStatus, reason: str | None, *,
    parent_request_id: str | None = None,
) -> str:  # fmt: skip
    """A request with the input verdicts of each rail stack that judged it, ended at once."""
    request_id = uuid.uuid4().hex
    for rails, _ in checked:
        recorder.policy_version(rails.policy_hash, rails.describe())
    recorder.request_arrived(
        id=request_id, interface=author.interface, guild_id=author.guild_id, channel_id=author.channel_id,
        user_id=author.user_id, user_name=author.user_name[:100], command=command, kind=None, options=options,
        prompt=text, parent_request_id=parent_request_id,
        policy_hash=checked[0][0].policy_hash if checked else None,
    )  # fmt: skip
    for rails, verdicts in checked:
        recorder.judged(
            verdicts, request_id=request_id, guild_id=author.guild_id, generation_id=None,
            policy_hash=rails.policy_hash,
        )  # fmt: skip
    recorder.request_status(request_id, status, reason)
    return request_id
