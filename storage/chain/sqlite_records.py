"""Records' digests read straight from a SQLite file with the standard library's driver: `verify`'s reader there.

The engine's way (`records.current_records`, then `record_digest`) decodes every column into Python values
(datetimes, parsed JSON, `Row` objects), builds each row's digest view and has `json.dumps` write the whole record
again: about 25 µs per row, most of `verify`'s time at a million generations. Here each row is written as canonical
JSON column by column from the values SQLite hands back, with the columns selected in canonical (sorted) order:

- a stored datetime in SQLAlchemy's own format ("2026-12-05 09:03:51.000007") is spelled as `canonical` spells the
  naive UTC datetime it decodes to, without building one;
- a JSON column is decoded by its type's own result processor and written by `canonical`, remembered by its stored
  text (thresholds and parameters repeat across millions of verdicts);
- content columns enter by their SHA-256, as `row_view` has them;
- any other value that is not a plain string, integer, finite float or NULL goes through `canonical` itself.

So the bytes are `canonical(record_view(...))`'s whenever the fast spellings apply, and `canonical`'s own where they
do not (tests/test_chain.py compares both on odd rows). A record whose digest differs is read again the engine's
way (`exact=True`) before anyone calls it changed: this reader can cost time, never a false alarm.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.dialects.sqlite import pysqlite

from storage.chain.digest import (
    ADDED_COLUMNS,
    CONTENT_COLUMNS,
    ERASED,
    canonical,
    content_digest,
    options_view,
    record_digest,
    row_view,
    sha256,
)
from storage.chain.records import CHILDREN, UNCHECKED, child_order, record_view
from storage.models import ModerationAction, Request

_DIALECT = pysqlite.dialect()
_STORED_MOMENT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
"""SQLAlchemy's SQLite storage format for a datetime, which its result processor reads back exactly."""
_CACHED_JSON = 65536
UNREADABLE = "rows that no longer decode"
"""A record's digest where its stored values cannot be read: equal to no chained digest, so the record is changed."""
Encoder = Callable[[Any], str]


def _plain(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return encode_basestring(value)  # what json.dumps(ensure_ascii=False) writes for a string
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if value is None:
        return "null"
    return canonical(value).decode()


def _content(value: Any) -> str:
    if type(value) is str and not value.startswith(ERASED):
        return '"' + sha256(value.encode()) + '"'
    return _plain(content_digest(value))


def _moment(processor: Callable[[Any], Any]) -> Encoder:
    def encode(value: Any) -> str:
        if type(value) is str and _STORED_MOMENT.fullmatch(value):
            return '"' + value[:10] + "T" + value[11:] + '+00:00"'
        return canonical(processor(value)).decode() if value is not None else "null"

    return encode


def _json(processor: Callable[[Any], Any], options: bool) -> Encoder:
    @functools.lru_cache(maxsize=_CACHED_JSON)
    def encode_text(value: str) -> str:
        decoded = processor(value)
        if options and isinstance(decoded, dict):  # the member's free text in /write's options, by its digest
            decoded = options_view(decoded)
        return canonical(decoded).decode()

    def encode(value: Any) -> str:
        if value is None:
            return "null"
        if type(value) is str:
            return encode_text(value)
        return canonical(processor(value)).decode()

    return encode


class StoredTable:
    """One table's rows as SQLite stores them, selected in canonical column order, and each row's canonical JSON."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = sorted(column.name for column in table.columns)
        content = CONTENT_COLUMNS[table.name]
        added = ADDED_COLUMNS.get(table.name, frozenset())
        self.prefixes = [encode_basestring(name) + ":" for name in self.columns]
        self.processors = [table.c[name].type.dialect_impl(_DIALECT).result_processor(_DIALECT, None) for name in self.columns]
        self.encoders = [self._encoder(name, processor, content) for name, processor in zip(self.columns, self.processors)]
        self.optional = [name in added for name in self.columns]
        self.any_optional = any(self.optional)
        self.select = f"SELECT {', '.join(self.columns)} FROM {table.name}"

    def _encoder(self, name: str, processor: Callable[[Any], Any] | None, content: frozenset[str]) -> Encoder:
        column_type = self.table.c[name].type
        if name in content:
            return _content
        if processor is None:
            return _plain
        if isinstance(column_type, DateTime):
            return _moment(processor)
        if isinstance(column_type, JSON):
            return _json(processor, options=self.table.name == "requests" and name == "options")
        return lambda value: canonical(processor(value)).decode()  # pragma: no cover - no such column today

    def position(self, name: str) -> int:
        return self.columns.index(name)

    def text(self, row: tuple) -> str:
        """The row's canonical JSON, as `canonical(row_view(table, decoded row))` writes it."""
        parts = [prefix + encode(value) for prefix, encode, value in zip(self.prefixes, self.encoders, row)]
        if self.any_optional:  # a column added later is left out where NULL, as row_view does
            parts = [part for part, value, optional in zip(parts, row, self.optional) if value is not None or not optional]
        return "{" + ",".join(parts) + "}"

    def decoded(self, row: tuple) -> dict[str, Any]:
        """The row as the engine decodes it (for the second look, the engine's way)."""
        return {
            name: processor(value) if processor is not None else value
            for name, processor, value in zip(self.columns, self.processors, row)
        }


_REQUESTS = StoredTable(Request.__table__)
_MODERATION = StoredTable(ModerationAction.__table__)
_STORED_CHILDREN = [(key, StoredTable(table)) for key, table in CHILDREN]
_RECORD_KEYS = sorted(["request", *(key for key, _ in CHILDREN)])


class StoredRecords:
    """Records' digests as their rows are now, from one SQLite connection (the caller holds it in one read
    transaction, as the engine's `current_records` is read)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def digests(self, kind: str, expected: list[tuple[str, int, str]]) -> dict[str, Any]:
        """`(record id, seq, digest)` chained -> each record's digest now (absent: its rows are gone; UNCHECKED for
        entries with no rows to compare). A digest that differs is computed again the engine's way first."""
        ids = [record_id for record_id, _, _ in expected]
        if kind == "request":
            now = self.request_digests(ids, exact=False)
        elif kind == "moderation":
            now = self.moderation_digests(ids, exact=False)
        else:
            return dict.fromkeys(ids, UNCHECKED)
        differ = [record_id for record_id, _, digest in expected if record_id in now and now[record_id] != digest]
        if differ:
            again = self.request_digests if kind == "request" else self.moderation_digests
            now.update(again(differ, exact=True))
        return now

    def _rows(self, stored: StoredTable, column: str, ids: list[Any], order: str = "") -> list[tuple]:
        marks = ",".join("?" * len(ids))
        return self.connection.execute(f"{stored.select} WHERE {column} IN ({marks}){order}", ids).fetchall()

    def moderation_digests(self, ids: list[str], *, exact: bool) -> dict[str, str]:
        at = _MODERATION.position("id")
        rows = self._rows(_MODERATION, "id", [int(record_id) for record_id in ids])
        if not exact:
            return {str(row[at]): _fast(lambda row=row: _MODERATION.text(row)) for row in rows}
        return {str(row[at]): _exactly(lambda row=row: row_view(_MODERATION.table.name, _MODERATION.decoded(row))) for row in rows}

    def request_digests(self, ids: list[str], *, exact: bool) -> dict[str, str]:
        requests = self._rows(_REQUESTS, "id", ids)
        children: dict[str, dict[str, list[tuple]]] = {request_id: {key: [] for key, _ in _STORED_CHILDREN} for request_id in ids}
        for key, stored in _STORED_CHILDREN:
            at = stored.position("request_id")
            for row in self._rows(stored, "request_id", ids, " ORDER BY " + ", ".join(child_order(key))):
                children[row[at]][key].append(row)
        at = _REQUESTS.position("id")
        digests: dict[str, str] = {}
        for row in requests:
            mine = children[row[at]]
            if exact:
                digests[row[at]] = _exactly(lambda row=row, mine=mine: record_view(
                    _REQUESTS.decoded(row),
                    {key: [stored.decoded(child) for child in mine[key]] for key, stored in _STORED_CHILDREN},
                ))  # fmt: skip
                continue
            digests[row[at]] = _fast(lambda row=row, mine=mine: _record_text(row, mine))
        return digests


def _record_text(request: tuple, children: dict[str, list[tuple]]) -> str:
    parts = {"request": _REQUESTS.text(request)}
    for key, stored in _STORED_CHILDREN:
        parts[key] = "[" + ",".join(stored.text(child) for child in children[key]) + "]"
    return "{" + ",".join(f'"{key}":{parts[key]}' for key in _RECORD_KEYS) + "}"


def _fast(text: Callable[[], str]) -> str:
    """The digest of a record's canonical text written from its stored values; UNREADABLE where they do not decode."""
    try:
        return sha256(text().encode())
    except (TypeError, ValueError):
        return UNREADABLE


def _exactly(view: Callable[[], Any]) -> str:
    """The engine's digest of a record's view; UNREADABLE where its rows no longer decode (as a row changed behind
    the chain's back may not), where the engine would have stopped on the error."""
    try:
        return record_digest(view())
    except (TypeError, ValueError):
        return UNREADABLE
