"""A member's rate limit shared by every bot process on one database (shards, replicas): a counter per member,
server and minute, raised by one atomic upsert per request (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, on
SQLite 3.35+ and PostgreSQL).

The window slides: the limit is compared with this minute's count plus the previous minute's, weighted by how much
of the previous minute is still inside the last 60 seconds. A refused request gives its count back, so only admitted
requests use up the limit (as the in-process `bot.core.admission.RateLimiter`). Cost: one transaction of two
statements per request (`python -m bench ratelimit` measures it); old counters are deleted once a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import RateCounter, guild_key

# Plain SQL that SQLite (3.35+) and PostgreSQL both take: prepared once, no per-call compilation.
_COUNT_ONE = text(
    "INSERT INTO rate_counters (guild_id, user_id, minute, count) VALUES (:g, :u, :m, 1) "
    "ON CONFLICT (guild_id, user_id, minute) DO UPDATE SET count = rate_counters.count + 1 RETURNING count"
)
_PREVIOUS = text("SELECT count FROM rate_counters WHERE guild_id = :g AND user_id = :u AND minute = :m")


class SharedRateLimiter:
    def __init__(self, database: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self._clock = clock
        self._swept_minute = -1

    async def admit(self, *, guild_id: int | None, user_id: int, per_minute: int) -> float | None:
        """Count one request; None when it is within `per_minute`, else the seconds to wait (not counted)."""
        now = self._clock()
        minute, into = divmod(now, 60.0)
        minute = int(minute)
        guild = guild_key(guild_id)
        key = (RateCounter.guild_id == guild) & (RateCounter.user_id == user_id)
        async with self.database.begin() as connection:
            current = int((await connection.execute(_COUNT_ONE, {"g": guild, "u": user_id, "m": minute})).scalar_one())
            previous = (await connection.execute(_PREVIOUS, {"g": guild, "u": user_id, "m": minute - 1})).scalar_one_or_none() or 0
            weight = 1.0 - into / 60.0
            if current + previous * weight <= per_minute:
                wait = None
            else:
                await connection.execute(
                    update(RateCounter).where(key, RateCounter.minute == minute).values(count=RateCounter.count - 1)
                )
                # Admitted again once the previous minute's weight has fallen to the room left, or next minute.
                room = per_minute - current
                wait = 60.0 - into if room < 0 or previous == 0 else max(1.0, 60.0 * (1 - room / previous) - into)
            if minute != self._swept_minute:  # once a minute per process: counters older than the window go
                self._swept_minute = minute
                await connection.execute(delete(RateCounter).where(RateCounter.minute < minute - 1))
        return wait
