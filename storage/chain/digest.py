"""What enters the chain: canonical JSON of a record's rows, content by its own SHA-256 (so it can be erased),
and the RFC 6962 leaf and link hashes over those digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any


GENESIS = "0" * 64
ERASED = "erased:sha256:"

# Text that belongs to members or to the model: it enters a digest as its own SHA-256, so it can be erased.
CONTENT_COLUMNS: dict[str, frozenset[str]] = {
    "requests": frozenset({"prompt", "user_name"}),
    "generations": frozenset({"rendered_prompt", "raw_output", "shown_output"}),
    "verdicts": frozenset({"sentence", "explanation"}),
    "deliveries": frozenset(),
    "reviews": frozenset({"text"}),
    "story_turns": frozenset({"text", "author_name"}),  # not digested (turns are chained through their requests)
    "moderation_actions": frozenset(),
}
# Columns added after records were first chained: NULL there is left out of the digest, so the records chained
# before the column existed still verify.
ADDED_COLUMNS: dict[str, frozenset[str]] = {
    "generations": frozenset({"replicas"}),
    "requests": frozenset({"instance", "lease_id"}),
}
CONTENT_OPTIONS = frozenset({"genre", "tone"})
"""Free text members type into /write's options: part of the request's `options`, treated like content."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def erased_marker(text: str | None) -> str | None:
    """What erased content is replaced with: it keeps the digest the chain committed to."""
    if text is None or text.startswith(ERASED):
        return text
    return ERASED + sha256(text.encode())


def content_digest(value: str | None) -> str | None:
    if value is None:
        return None
    if value.startswith(ERASED):
        return value[len(ERASED) :]
    return sha256(value.encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLite hands back naive UTC, PostgreSQL aware: one spelling for both
        if value.tzinfo is None:  # naive UTC spelled as its aware self, without building one (verify's hot path)
            return value.isoformat(timespec="microseconds") + "+00:00"
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    raise TypeError(f"{type(value).__name__} has no canonical form")


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8; floats as Python's shortest round-trip repr (the same 64-bit float prints
    the same from every database)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode()


def row_view(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as it enters a digest: content fields (and the free-text options) by their digest."""
    content = CONTENT_COLUMNS[table]
    added = ADDED_COLUMNS.get(table, frozenset())
    view = {
        key: content_digest(value) if key in content else value
        for key, value in row.items()
        if not (value is None and key in added)
    }
    if table == "requests" and isinstance(view.get("options"), dict):
        view["options"] = options_view(view["options"])
    return view


def options_view(options: dict[str, Any]) -> dict[str, Any]:
    """A request's options as its digest sees them: the member's free text by its digest."""
    return _options(options, content_digest)


def erased_options(options: Any) -> Any:
    """A request's options with the member's free text erased (digests kept), the rest as it was."""
    return _options(options, erased_marker) if isinstance(options, dict) else options


def _options(options: dict[str, Any], transform: Callable[[str | None], str | None]) -> dict[str, Any]:
    return {key: transform(value) if key in CONTENT_OPTIONS and isinstance(value, str) else value for key, value in options.items()}


def record_digest(record: Any) -> str:
    return sha256(canonical(record))


def leaf_hash(kind: str, record_id: str, digest: str) -> str:
    return sha256(b"\x00" + canonical({"kind": kind, "record_id": record_id, "digest": digest}))


def link_hash(previous: str, leaf: str) -> str:
    return sha256(b"\x01" + bytes.fromhex(previous) + bytes.fromhex(leaf))

