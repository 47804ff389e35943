"""Counters behind `/audit stats`: kept as rows arrive, so stats over a million generations read a few rows.

The recorder (storage/recorder.py) applies a batch's counts in the transaction that writes the batch; a status
changed outside it (`storage.db.mark_interrupted`) moves its count the same way. Erasure replaces content only
(ids, times, statuses and decisions stay), so it changes no count. `rebuild` recounts everything from the rows
(migration 0012's backfill, and databases filled by raw inserts such as bench/audit_db.py).

A period starting at `since` is exact: the whole UTC days after `since` come from the counters, and the part of
`since`'s own day from the rows (through the same indexes as before, over at most a day). Distinct members and
flagged requests stay exact through the day of each one's latest request or non-pass verdict (models.AuditMember,
models.AuditFlaggedCount).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, case, exists, func, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import (
    AuditFlaggedCount, AuditMember, AuditRequestCount, AuditVerdictCount, NON_PASS, Request, Verdict, aware, guild_key,
)  # fmt: skip


def day_of(moment: datetime) -> str:
    return aware(moment).astimezone(UTC).strftime("%Y-%m-%d")  # type: ignore[union-attr]


# -- keeping them -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Deltas:
    """One transaction's changes to the counters."""

    statuses: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    verdicts: Counter[tuple[int, str, str, str, str]] = field(default_factory=Counter)
    flagged: Counter[tuple[int, str]] = field(default_factory=Counter)
    members: dict[tuple[int, int], str] = field(default_factory=dict)

    def request(self, guild_id: int | None, created_at: datetime, status: str, user_id: int) -> None:
        day = day_of(created_at)
        self.statuses[(guild_key(guild_id), day, str(status))] += 1
        member = (guild_key(guild_id), user_id)
        self.members[member] = max(day, self.members.get(member, day))

    def moved(self, guild_id: int | None, created_at: datetime, before: str, after: str) -> None:
        if str(before) != str(after):
            day = day_of(created_at)
            self.statuses[(guild_key(guild_id), day, str(before))] -= 1
            self.statuses[(guild_key(guild_id), day, str(after))] += 1

    def verdict(self, row: dict[str, Any]) -> None:
        key = (guild_key(row.get("guild_id")), day_of(row["created_at"]), row["rail"], row["decision"], row.get("category") or "")
        self.verdicts[key] += 1


async def flagged_moves(
    connection: AsyncConnection, deltas: Deltas, non_pass_rows: list[dict[str, Any]]
) -> None:
    """Move each request's flagged count to the day of its latest non-pass verdict; call before those rows are
    inserted (reads the latest one already there)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in non_pass_rows:
        held = latest.get(row["request_id"])
        if held is None or aware(row["created_at"]) > aware(held["created_at"]):  # type: ignore[operator]
            latest[row["request_id"]] = row
    if not latest:
        return
    query = (
        select(Verdict.request_id, func.max(Verdict.created_at))
        .where(Verdict.request_id.in_(list(latest)), Verdict.decision.in_(NON_PASS))
        .group_by(Verdict.request_id)
    )
    before = {request_id: aware(moment) for request_id, moment in await connection.execute(query)}
    for request_id, row in latest.items():
        guild, moment, previous = guild_key(row.get("guild_id")), aware(row["created_at"]), before.get(request_id)
        if previous is None:
            deltas.flagged[(guild, day_of(moment))] += 1  # type: ignore[arg-type]
        elif moment > previous and day_of(moment) != day_of(previous):  # type: ignore[operator]
            deltas.flagged[(guild, day_of(previous))] -= 1
            deltas.flagged[(guild, day_of(moment))] += 1  # type: ignore[arg-type]


def _upsert(connection: AsyncConnection, table: Table) -> Any:
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table)


async def apply(connection: AsyncConnection, deltas: Deltas) -> None:
    """Add `deltas` to the counters (rows in key order: concurrent writers lock them in the same order)."""
    for table, counts in (
        (AuditRequestCount.__table__, deltas.statuses),
        (AuditVerdictCount.__table__, deltas.verdicts),
        (AuditFlaggedCount.__table__, deltas.flagged),
    ):
        keys = [column.name for column in table.primary_key.columns]
        rows = [dict(zip(keys, key, strict=True), n=n) for key, n in sorted(counts.items()) if n]
        if rows:
            statement = _upsert(connection, table)
            statement = statement.on_conflict_do_update(index_elements=keys, set_={"n": table.c.n + statement.excluded.n})
            await connection.execute(statement, rows)
    if deltas.members:
        table = AuditMember.__table__
        statement = _upsert(connection, table)
        later = case((statement.excluded.last_day > table.c.last_day, statement.excluded.last_day), else_=table.c.last_day)
        statement = statement.on_conflict_do_update(index_elements=["guild_id", "user_id"], set_={"last_day": later})
        rows = [{"guild_id": g, "user_id": u, "last_day": day} for (g, u), day in sorted(deltas.members.items())]
        await connection.execute(statement, rows)


def rebuild_statements(dialect: str) -> list[str]:
    """SQL that recounts every counter from the rows (migration 0012's backfill; `rebuild`)."""
    if dialect == "postgresql":
        day = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    else:  # SQLite stores DateTime as 'YYYY-MM-DD HH:MM:SS.ffffff', written in UTC
        day = "substr({}, 1, 10)"
    non_pass = ", ".join(f"'{decision}'" for decision in NON_PASS)
    return [
        "DELETE FROM audit_request_counts",
        "DELETE FROM audit_verdict_counts",
        "DELETE FROM audit_flagged_counts",
        "DELETE FROM audit_members",
        "INSERT INTO audit_request_counts (guild_id, day, status, n) "
        f"SELECT coalesce(guild_id, 0), {day.format('created_at')}, status, count(*) FROM requests GROUP BY 1, 2, 3",
        "INSERT INTO audit_verdict_counts (guild_id, day, rail, decision, category, n) "
        f"SELECT coalesce(guild_id, 0), {day.format('created_at')}, rail, decision, coalesce(category, ''), count(*) "
        "FROM verdicts GROUP BY 1, 2, 3, 4, 5",
        "INSERT INTO audit_flagged_counts (guild_id, day, n) SELECT guild, day, count(*) FROM ("
        f"SELECT coalesce(guild_id, 0) AS guild, {day.format('max(created_at)')} AS day FROM verdicts "
        f"WHERE decision IN ({non_pass}) GROUP BY request_id, guild_id) AS latest GROUP BY guild, day",
        "INSERT INTO audit_members (guild_id, user_id, last_day) "
        f"SELECT coalesce(guild_id, 0), user_id, max({day.format('created_at')}) FROM requests GROUP BY 1, 2",
    ]


async def rebuild(connection: AsyncConnection) -> None:
    for statement in rebuild_statements(connection.dialect.name):
        await connection.execute(text(statement))


# -- reading them -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Counted:
    by_status: dict[str, int]
    members: int
    by_rail: dict[tuple[str, str], int]
    categories: list[tuple[str, int]]
    """Non-pass verdicts by category, most first (then by name)."""
    flagged_requests: int


def _scope(column: Any, guild: int | None, every_guild: bool) -> ColumnElement[bool]:
    return true() if every_guild else column == guild_key(guild)


async def counted_stats(
    connection: AsyncConnection,
    guild: int | None,
    *,
    every_guild: bool,
    since: datetime | None,
    request_scope: ColumnElement[bool],
    verdict_scope: ColumnElement[bool],
) -> Counted:
    """Stats since `since` (None: all time): whole days from the counters, the rest of `since`'s day from the rows
    (`request_scope`/`verdict_scope`: the guild's filter on requests and verdicts)."""
    first_day: str | None = None
    window: tuple[datetime, datetime] | None = None
    if since is not None:
        start = aware(since).astimezone(UTC)  # type: ignore[union-attr]
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        if start == midnight:
            first_day = day_of(start)
        else:
            window = (start, midnight + timedelta(days=1))
            first_day = day_of(window[1])

    def counters(table: Any) -> list[ColumnElement[bool]]:
        where = [_scope(table.guild_id, guild, every_guild)]
        if first_day is not None:
            where.append(table.day >= first_day)
        return where

    by_status: Counter[str] = Counter()
    query = select(AuditRequestCount.status, func.sum(AuditRequestCount.n)).where(*counters(AuditRequestCount))
    for status, n in await connection.execute(query.group_by(AuditRequestCount.status)):
        by_status[status] += int(n)
    by_rail: Counter[tuple[str, str]] = Counter()
    categories: Counter[str] = Counter()
    query = select(AuditVerdictCount.rail, AuditVerdictCount.decision, AuditVerdictCount.category, func.sum(AuditVerdictCount.n))
    query = query.where(*counters(AuditVerdictCount)).group_by(
        AuditVerdictCount.rail, AuditVerdictCount.decision, AuditVerdictCount.category
    )
    for rail, decision, category, n in await connection.execute(query):
        by_rail[(rail, decision)] += int(n)
        if decision in NON_PASS and category:
            categories[category] += int(n)
    query = select(func.coalesce(func.sum(AuditFlaggedCount.n), 0)).where(*counters(AuditFlaggedCount))
    flagged = int((await connection.execute(query)).scalar_one())
    query = select(func.count(func.distinct(AuditMember.user_id)) if every_guild else func.count()).where(
        _scope(AuditMember.guild_id, guild, every_guild), *([AuditMember.last_day >= first_day] if first_day else [])
    )
    members = int((await connection.execute(query)).scalar_one())

    if window is not None:  # the rest of since's day, from the rows
        start, end = window
        in_requests = [request_scope, Request.created_at >= start, Request.created_at < end]
        statuses = select(AuditRequestCount.status).distinct().where(_scope(AuditRequestCount.guild_id, guild, every_guild))
        named_statuses = (await connection.execute(statuses)).scalars().all()  # ix_requests_guild_status_created ranges
        query = select(Request.status, func.count()).where(*in_requests, Request.status.in_(sorted(named_statuses)))
        query = query.group_by(Request.status)
        for status, n in await connection.execute(query):
            by_status[status] += int(n)
        counted_later = exists().where(
            AuditMember.user_id == Request.user_id,
            _scope(AuditMember.guild_id, guild, every_guild),
            AuditMember.last_day >= first_day,
        )
        query = select(func.count(func.distinct(Request.user_id))).where(*in_requests, ~counted_later)
        members += int((await connection.execute(query)).scalar_one())
        # The guild's rails, decisions and categories named (all there are, from the counters) so the verdicts of
        # the window are ranges of covering indexes: ix_verdicts_guild_rail (guild, rail, decision, created_at) and
        # ix_verdicts_guild_decision (guild, decision, category, created_at, ...), not the guild's whole index.
        query = select(AuditVerdictCount.rail, AuditVerdictCount.decision, AuditVerdictCount.category).distinct()
        known = (await connection.execute(query.where(_scope(AuditVerdictCount.guild_id, guild, every_guild)))).all()
        window = [Verdict.created_at >= start, Verdict.created_at < end]
        in_verdicts = [
            verdict_scope,
            Verdict.rail.in_(sorted({rail for rail, _, _ in known})),
            Verdict.decision.in_(sorted({decision for _, decision, _ in known})),
            *window,
        ]
        query = select(Verdict.rail, Verdict.decision, func.count()).where(*in_verdicts)
        for rail, decision, n in await connection.execute(query.group_by(Verdict.rail, Verdict.decision)):
            by_rail[(rail, decision)] += int(n)
        named = sorted({category for _, _, category in known if category})
        query = select(Verdict.category, func.count()).where(
            verdict_scope, Verdict.decision.in_(NON_PASS), Verdict.category.in_(named), *window
        )
        for category, n in await connection.execute(query.group_by(Verdict.category)):
            categories[category] += int(n)
        later = Verdict.__table__.alias("later")
        flagged_later = exists().where(
            later.c.request_id == Verdict.request_id, later.c.decision.in_(NON_PASS), later.c.created_at >= end
        )
        query = select(func.count(func.distinct(Verdict.request_id))).where(
            *in_verdicts, Verdict.decision.in_(NON_PASS), ~flagged_later
        )
        flagged += int((await connection.execute(query)).scalar_one())

    return Counted(
        by_status={status: n for status, n in by_status.items() if n},
        members=members,
        by_rail={key: n for key, n in by_rail.items() if n},
        categories=sorted(((c, n) for c, n in categories.items() if n), key=lambda item: (-item[1], item[0])),
        flagged_requests=flagged,
    )


async def scanned_stats(
    connection: AsyncConnection,
    *,
    since: datetime | None,
    request_scope: ColumnElement[bool],
    verdict_scope: ColumnElement[bool],
) -> Counted:
    """The same figures counted from the rows themselves (what `/audit stats` did before the counters): the
    reference the counters are tested against, and the baseline of `python -m bench audit`."""
    in_requests = [request_scope] + ([Request.created_at >= since] if since is not None else [])
    in_verdicts = [verdict_scope] + ([Verdict.created_at >= since] if since is not None else [])
    members = (await connection.execute(select(func.count(func.distinct(Request.user_id))).where(*in_requests))).scalar_one()
    by_status = select(Request.status, func.count()).where(*in_requests).group_by(Request.status)
    by_rail = select(Verdict.rail, Verdict.decision, func.count()).where(*in_verdicts).group_by(Verdict.rail, Verdict.decision)
    count = func.count().label("n")
    categories = (
        select(Verdict.category, count)
        .where(*in_verdicts, Verdict.decision.in_(NON_PASS), Verdict.category.is_not(None))
        .group_by(Verdict.category)
        .order_by(count.desc(), Verdict.category)
    )
    flagged = select(func.count(func.distinct(Verdict.request_id))).where(*in_verdicts, Verdict.decision.in_(NON_PASS))
    return Counted(
        by_status={status: int(n) for status, n in await connection.execute(by_status)},
        members=int(members),
        by_rail={(rail, decision): int(n) for rail, decision, n in await connection.execute(by_rail)},
        categories=[(category, int(n)) for category, n in await connection.execute(categories)],
        flagged_requests=int((await connection.execute(flagged)).scalar_one()),
    )


__all__ = ["Counted", "Deltas", "apply", "counted_stats", "day_of", "flagged_moves", "rebuild", "rebuild_statements", "scanned_stats"]

