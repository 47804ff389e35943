"""What moderators type: a period (`7d`, a date) and a target (a message link or id, a request id)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


_SINCE_SPAN = re.compile(r"^\s*(\d{1,5})\s*(m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|wk|weeks?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """`7d`, `24h`, `90m`, `2w`, `2026-11-01` or `2026-11-01T18:30` (UTC unless an offset is given) → an aware
    datetime; None for nothing given. Raises ValueError with a message a moderator can act on."""
    if text is None or not text.strip():
        return None
    now = now or datetime.now(UTC)
    span = _SINCE_SPAN.match(text)
    if span is not None:
        amount, unit = int(span.group(1)), span.group(2)[0].lower()
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"`{text.strip()[:40]}` is not a time I understand: use 7d, 24h, 90m, 2w or a date like 2026-11-01"
        ) from None
    # In UTC: SQLite stores datetimes without their offset, so a bound value must already be in UTC.
    moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if moment > now:
        raise ValueError(f"{moment.date().isoformat()} is in the future")
    return moment


_LINK = re.compile(r"channels/([0-9]{1,19}|@me)/([0-9]{1,19})/([0-9]{1,19})(?![0-9])")
_SNOWFLAKE = re.compile(r"^[0-9]{1,19}$")
_MAX_ID = 2**63 - 1
"""Ids past a BIGINT would overflow the query (an OverflowError), so they are no message of ours."""
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class Target:
    """What `/audit message` was given: a message (link or id) or a request id (from an output's disclosure)."""

    message_id: int | None = None
    request_id: str | None = None
    link_guild_id: int | None = None
    """The guild a message link names, when it was a link."""


def parse_target(text: str) -> Target:
    text = text.strip().strip("<>").strip("`")
    link = _LINK.search(text)
    if link is not None and all(part == "@me" or int(part) <= _MAX_ID for part in link.groups()):
        guild = None if link.group(1) == "@me" else int(link.group(1))
        return Target(message_id=int(link.group(3)), link_guild_id=guild)
    if _SNOWFLAKE.match(text) and int(text) <= _MAX_ID:
        return Target(message_id=int(text))
    if _REQUEST_ID.match(text.lower()):
        return Target(request_id=text.lower())
    raise ValueError("Give a message link, a message id, or the request id from an output's footer.")
