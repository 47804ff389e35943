"""Numbers that members and operators type (story options, votes, audit ids and limits): ASCII digits only, bounded
to what the command means and to what the database can hold, refused with a short message otherwise.

`int()` alone is not enough: it takes `١٢` and raises on `²` (which `str.isdigit` accepts), and a Discord id past
2**63 - 1 overflows SQLite's INTEGER and PostgreSQL's BIGINT when it is bound to a query.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

MAX_ID = 2**63 - 1
"""The largest id a BIGINT column holds (Discord's snowflakes stay far below it)."""
MAX_LIMIT = 10_000
"""Rows one audit listing shows (`audit export` has them all)."""


def whole_number(text: str, *, name: str, low: int, high: int) -> int:
    """`text` as an int from `low` to `high`, or a ValueError whose message says what to type."""
    digits = text.strip()
    if not digits or not digits.isascii() or not digits.isdigit() or len(digits) > len(str(high)):
        raise ValueError(f"{name} is a whole number from {low:,} to {high:,}.")
    value = int(digits)
    if not low <= value <= high:
        raise ValueError(f"{name} is a whole number from {low:,} to {high:,}.")
    return value


def argument(name: str, low: int, high: int) -> Callable[[str], int]:
    """An argparse `type=` that bounds the number: argparse then prints one usage line and exits 2."""

    def parse(text: str) -> int:
        try:
            return whole_number(text, name=name, low=low, high=high)
        except ValueError:
            shown = text if len(text) <= 24 else text[:23] + "…"
            raise argparse.ArgumentTypeError(f"{shown!r} is not a whole number from {low:,} to {high:,}") from None

    parse.__name__ = name  # argparse names the type in its message
    return parse


discord_id = argument("id", 0, MAX_ID)
"""A user, guild or message id on the command line."""
