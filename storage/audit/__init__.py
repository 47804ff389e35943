"""Moderators' audit queries: who asked for an output, what the model got, which checks ran, why it was shown or
blocked. Pure SQLAlchemy 2.0 Core, no dialect-specific SQL (SQLite and PostgreSQL).

Every query takes a guild scope (`scope`) and sees only that guild's rows. Modules: `scope`, `parsing` (what
moderators type), `records` (provenance cards), `lists` (pages and exports), `overview` (`/audit stats`).
"""

from storage.audit.scope import ALL_GUILDS, GuildScope
from storage.audit.parsing import Target, parse_since, parse_target
from storage.audit.records import ChainPosition, Record, find_request, owner_guild, provenance, provenance_for
from storage.audit.lists import Page, RequestSummary, count_requests, iter_records, list_requests
from storage.audit.overview import Stats, stats
from storage.models import NON_PASS

__all__ = [
    "ALL_GUILDS",
    "ChainPosition",
    "GuildScope",
    "NON_PASS",
    "Page",
    "Record",
    "RequestSummary",
    "Stats",
    "Target",
    "count_requests",
    "find_request",
    "iter_records",
    "list_requests",
    "owner_guild",
    "parse_since",
    "parse_target",
    "provenance",
    "provenance_for",
    "stats",
]
