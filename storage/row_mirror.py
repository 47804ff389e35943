"""Open requests' rows as the database holds them, kept in memory from their first insert, so that the recorder
chains an ended request from memory instead of reading it back (`storage.chain.chain_requests`)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, Float, Table

from storage.chain import CLOSED_STATUSES, record_view
from storage.models import Delivery, Generation, Request, RequestStatus, Verdict
from storage.write_batch import Insert, Op

MAX_MIRRORED = 50_000
"""Open requests whose rows the recorder keeps in memory to chain them without reading them back; past this many
(a stuck database, a flood) the rest are read back when they end, as after a restart."""
CHILD_KEYS = {Generation.__table__: "generations", Verdict.__table__: "verdicts", Delivery.__table__: "deliveries"}


class RowMirror:
    """The rows of the open requests this recorder wrote, as {"request": row, "generations": {id: row},
    "verdicts": [...], "deliveries": [...]} per request."""

    def __init__(self) -> None:
        self._requests: dict[str, dict[str, Any]] = {}
        self._generation_request: dict[str, str] = {}

    def apply(self, ops: list[Op]) -> dict[int, dict[str, Any]]:
        """Apply `ops`, in order, to the open requests' rows in memory; the inserted rows still waiting for the id
        the database gives them, by `id(op)`."""
        waiting: dict[int, dict[str, Any]] = {}
        for op in ops:
            table = op.table
            if isinstance(op, Insert):
                if op.if_absent:
                    continue
                if table is Request.__table__:
                    if len(self._requests) < MAX_MIRRORED:
                        self._requests[op.row["id"]] = {
                            "request": as_stored(table, op.row), "generations": {}, "verdicts": [], "deliveries": [],
                        }  # fmt: skip
                elif table in CHILD_KEYS and (mirror := self._requests.get(op.row["request_id"])) is not None:
                    row = as_stored(table, op.row)
                    if table is Generation.__table__:
                        mirror["generations"][row["id"]] = row
                        self._generation_request[row["id"]] = op.row["request_id"]
                    else:
                        mirror[CHILD_KEYS[table]].append(row)
                        waiting[id(op)] = row
            elif table is Request.__table__:
                if (mirror := self._requests.get(op.key)) is not None:
                    mirror["request"].update(as_stored(table, op.values, complete=False))
            elif table is Generation.__table__:
                request_id = self._generation_request.get(op.key)
                mirror = self._requests.get(request_id) if request_id is not None else None
                if mirror is not None and op.key in mirror["generations"]:
                    mirror["generations"][op.key].update(as_stored(table, op.values, complete=False))
        return waiting

    def ended_records(self, request_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The digest views of those requests that have ended with all their rows in memory. A held request is read
        back: its review row is written by the review desk (storage/reviews.py), not here."""
        records = {}
        for request_id in request_ids:
            mirror = self._requests.get(request_id)
            if mirror is None:
                continue
            status = mirror["request"]["status"]
            if status not in CLOSED_STATUSES or status == RequestStatus.HELD:
                continue
            children = {
                "generations": sorted(mirror["generations"].values(), key=lambda row: (row["attempt"], row["id"])),
                "verdicts": sorted(mirror["verdicts"], key=lambda row: row["id"]),
                "deliveries": sorted(mirror["deliveries"], key=lambda row: row["id"]),
            }
            records[request_id] = record_view(mirror["request"], children)
        return records

    def forget(self, request_id: str) -> None:
        mirror = self._requests.pop(request_id, None)
        if mirror is not None:
            for generation_id in mirror["generations"]:
                self._generation_request.pop(generation_id, None)

    def forget_closed(self, request_ids: list[str]) -> None:
        """Drop the requests that have ended (and so are chained): anything later (a review, an edit) is read back."""
        for request_id in request_ids:
            mirror = self._requests.get(request_id)
            if mirror is not None and mirror["request"]["status"] in CLOSED_STATUSES:
                self.forget(request_id)


_PLAIN, _JSON, _FLOAT = 0, 1, 2
_NO_DEFAULT = object()


def _plan(table: Table) -> list[tuple[str, int, Any, bool]]:
    """Per column: name, how its value comes back, its default (`_NO_DEFAULT`: the database's own id), callable."""
    plan = []
    for column in table.columns:
        kind = _JSON if isinstance(column.type, JSON) else _FLOAT if isinstance(column.type, Float) else _PLAIN
        if column.primary_key and column.autoincrement is True:
            default, is_callable = _NO_DEFAULT, False
        elif column.default is None:
            default, is_callable = None, False
        else:
            default, is_callable = column.default.arg, column.default.is_callable  # type: ignore[union-attr]
        plan.append((column.name, kind, default, is_callable))
    return plan


_PLANS = {table: _plan(table) for table in (Request.__table__, Generation.__table__, Verdict.__table__, Delivery.__table__)}


_SCALARS = (str, int, float, bool, type(None))


def _decoded(value: Any) -> Any:
    """A JSON column's value as it comes back: a flat dict of scalars under text keys (scores, options, params)
    unchanged, anything else through an encode and decode."""
    if type(value) is dict and all(type(key) is str and isinstance(item, _SCALARS) for key, item in value.items()):
        return dict(value)
    return json.loads(json.dumps(value))


def as_stored(table: Table, row: dict[str, Any], *, complete: bool = True) -> dict[str, Any]:
    """`row` as the database hands it back: every column (`complete`; a missing one at its default, the database's
    own ids left out until it assigns them), JSON as it decodes, floats as floats."""
    stored: dict[str, Any] = {}
    for name, kind, default, is_callable in _PLANS[table]:
        if name in row:
            value = row[name]
            if value is not None and kind:
                value = _decoded(value) if kind == _JSON else float(value)
            stored[name] = value
        elif complete and default is not _NO_DEFAULT:
            if is_callable:  # the same value goes to the database (a default of `utcnow` would differ)
                stored[name] = row[name] = default(None)
            else:
                stored[name] = default
    return stored

