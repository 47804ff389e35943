"""Story games without Discord: a community writes one story together, members and the AI taking turns.

A front end (the terminal's `/story`, the Discord story cog) calls `StoryService` with the acting member (`Author`,
whose channel or thread addresses the session) and shows what comes back. Refusals raise `StoryError` with a
short message for the member. Everything is in the database as soon as a call returns, so a new service on the
same database (a restart) continues where the last one stopped, a vote included.

Rules:
- Modes: `round-robin` (players in join order; the current player writes, skips, or hands the turn to the AI;
  with a `turn_timeout_s` an idle turn passes to the next player), `free` (any player, any time) and `vote`
  (any player, any time; AI turns always come as choices the players vote on).
- Human turns pass the input rails at the session's rating, with the session's lines (`guardrails/rails/lines.py`) and
  veils (`guardrails/rails/veils.py`: a turn that shows a veiled topic on-screen is refused; one that refers to it passes).
  A blocked turn is refused with a short reason and recorded (a `blocked` turn, and a provenance request with its
  verdicts). Kept human turns are provenance requests too (`command = "story_turn"`), so the hash chain covers
  who wrote what.
- AI turns go through the real pipeline (`WriteJob(command="story")`): its output rails run with the session's
  lines and veils (a sentence showing a veiled topic fades out: `guardrails.rails.veils.FADE`). Each request's options name the session and the turn it continues; each turn row links its parent.
- Votes: one vote per active player per choice set, until the set's deadline. A set closes when every active
  player has voted, when the deadline has passed (at the next call), or when the host or a moderator closes it.
  The most votes win; a tie (no votes at all included) goes to the earliest-generated choice, i.e. the lowest
  choice number (tie-break rule "earliest", stored with the set). The others are kept as `not_chosen`.
- Several bot processes may share the database: every change claims the session row first (`storage.stories.claim`)
  and re-checks what it relies on (whose turn, an open vote) under that claim; closing a vote is a compare-and-swap.
- Undo (host or moderator) takes back the latest kept turn; in round-robin a member's undone turn returns the turn
  to them.

The calls live in mixins by what they do (`lifecycle`, `turns`, `votes`, `ai`, `export`) over `sessions`;
`rules` holds the figures and refusal wording, `views` what calls return, `records` the provenance of what players type.
"""

from __future__ import annotations

import hashlib

from bot.core.story.ai import AiTurns
from bot.core.story.export import Exports
from bot.core.story.lifecycle import Lifecycle
from bot.core.story.turns import Turns
from bot.core.story.votes import Votes


class StoryService(Lifecycle, Turns, Votes, AiTurns, Exports):
    """Story games for any front end: every call takes the acting member (`Author`) and returns a view or a result,
    or raises `StoryError` with a short message for them. Built on a started `bot.core.app.Core`."""


def local_user_id(name: str, default_name: str, default_id: int) -> int:
    """A stable member id for a name typed with `--as NAME` in terminal mode (the terminal's own user keeps its id)."""
    if name == default_name:
        return default_id
    return 1000 + int.from_bytes(hashlib.sha256(name.lower().encode()).digest()[:6], "big")

