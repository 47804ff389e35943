"""A record as its digest sees it, read from the database: a request with its generations, verdicts, deliveries
and reviews, or a moderation action."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.chain.digest import row_view
from storage.models import Delivery, Generation, ModerationAction, Request, RequestStatus, Review, Verdict

CLOSED_STATUSES = tuple(status.value for status in RequestStatus if not status.is_open)
UNCHECKED = object()
"""`current_records`' answer for entries with no rows to compare (erasures)."""


async def rows_of(connection: AsyncConnection, table: Table, *where: Any, order: Iterable[Any] = ()) -> list[dict]:
    result = await connection.execute(select(table).where(*where).order_by(*order))
    keys = list(result.keys())  # once: `dict(row._mapping)` built the key list again for every row (verify's hot path)
    return [dict(zip(keys, row)) for row in result]


CHILDREN: tuple[tuple[str, Table], ...] = (
    ("generations", Generation.__table__),
    ("verdicts", Verdict.__table__),
    ("deliveries", Delivery.__table__),
    ("reviews", Review.__table__),
)


def child_order(key: str) -> tuple[str, ...]:
    """The order of a request's children of one kind in its record (a generation's attempts in turn)."""
    return ("request_id", "attempt", "id") if key == "generations" else ("request_id", "id")


async def request_children(connection: AsyncConnection, ids: list[str]) -> dict[str, dict[str, list[dict]]]:
    """The generations, verdicts, deliveries and reviews of many requests (one query per table), each list in a
    fixed order: what a request's record is made of (here for its digest, in storage/audit for its card)."""
    children: dict[str, dict[str, list[dict]]] = {request_id: {key: [] for key, _ in CHILDREN} for request_id in ids}
    if not ids:
        return children
    for key, table in CHILDREN:
        order = [table.c[column] for column in child_order(key)]
        for row in await rows_of(connection, table, table.c.request_id.in_(ids), order=order):
            children[row["request_id"]][key].append(row)
    return children


async def request_records(connection: AsyncConnection, request_rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The records of many requests, as their digests see them."""
    children = await request_children(connection, [row["id"] for row in request_rows])
    return {row["id"]: record_view(row, children[row["id"]]) for row in request_rows}


def record_view(request_row: Mapping[str, Any], children: Mapping[str, list[Mapping[str, Any]]]) -> dict[str, Any]:
    """A request's record as its digest sees it, from its row and its children's (each list in `request_children`'s
    order; a missing list is empty)."""
    record: dict[str, Any] = {"request": row_view("requests", request_row)}
    for key, table in CHILDREN:
        record[key] = [row_view(table.name, child) for child in children.get(key, ())]
    return record


async def request_record(
    connection: AsyncConnection, request_id: str, *, closed_only: bool = False
) -> dict[str, Any] | None:
    """One request's record; None when the request is gone (or, with `closed_only`, still open)."""
    requests = await rows_of(connection, Request.__table__, Request.id == request_id)
    if not requests or (closed_only and requests[0]["status"] not in CLOSED_STATUSES):
        return None
    return (await request_records(connection, requests))[request_id]


async def moderation_record(connection: AsyncConnection, action_id: str) -> dict[str, Any] | None:
    table = ModerationAction.__table__
    rows = await rows_of(connection, table, table.c.id == int(action_id))
    return row_view(table.name, rows[0]) if rows else None


async def current_records(connection: AsyncConnection, kind: str, record_ids: list[str]) -> dict[str, Any]:
    """Records by id as they are now (absent ids: the rows are gone); erasure entries have no rows to compare."""
    if kind == "request":
        rows = await rows_of(connection, Request.__table__, Request.id.in_(record_ids))
        return await request_records(connection, rows)
    if kind == "moderation":
        table = ModerationAction.__table__
        rows = await rows_of(connection, table, table.c.id.in_([int(i) for i in record_ids]))
        return {str(row["id"]): row_view(table.name, row) for row in rows}
    return dict.fromkeys(record_ids, UNCHECKED)
