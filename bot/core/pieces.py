"""A member's pieces, for every front end: the previous output `/continue` goes on from, a piece its buttons act on
(looked up in its own server, refused when erased, held, blocked or never shown), writing one again, votes, and the
member's own list (`/mine`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.feedback import DOWN, UP, MinePiece, Piece, cast_vote, find_piece, my_pieces, refusal_for
from storage.queries import PastOutput, last_output, output_for_message

from bot.core.request import WriteJob

if TYPE_CHECKING:
    from bot.core.app import Core

CANNOT_AGAIN = "I can't write that one again from here; ask with `/write` or `/continue`."
PARENT_GONE = "I can't write that one again: the piece it continued is no longer usable."


# -- what `/continue` goes on from ------------------------------------------------------------------------------


async def last_piece(core: Core, *, guild_id: int | None, user_id: int) -> PastOutput | None:
    """The member's latest delivered output here (everything recorded so far included)."""
    await core.recorder.flush()
    return await last_output(core.database, guild_id=guild_id, user_id=user_id)


async def piece_posted_as(core: Core, *, guild_id: int | None, message_id: int) -> PastOutput | None:
    """The output posted as `message_id` in this guild; None for other guilds' messages and anyone else's."""
    await core.recorder.flush()
    return await output_for_message(core.database, guild_id=guild_id, message_id=message_id)


def members_text(text: str) -> PastOutput:
    """Someone's own writing to continue: unchecked, so it passes the input rails like a prompt."""
    return PastOutput("", None, text)


def continuation(previous: PastOutput | None, direction: str | None) -> WriteJob:
    return WriteJob(
        command="continue",
        kind=previous.kind if previous else None,
        prompt=direction,
        previous_text=previous.text if previous else None,
        previous_checked=bool(previous and previous.request_id),
        parent_request_id=(previous.request_id or None) if previous else None,
    )


# -- the buttons under a piece ------------------------------------------------------------------------------------


async def find(core: Core, *, guild_id: int | None, request_id: str) -> tuple[Piece | None, str | None]:
    """The piece in this server, and why a button cannot act on it (None: it can)."""
    await core.recorder.flush()  # a piece delivered a moment ago is in the database before we look
    piece = await find_piece(core.database, guild_id=guild_id, request_id=request_id)
    return piece, refusal_for(piece)


async def again(core: Core, action: str, piece: Piece) -> WriteJob | str:
    """The job that continues `piece` (`continue`) or writes it again with a new seed (`retake`); or why not."""
    if action == "continue":
        return WriteJob(
            command="continue", kind=piece.kind, prompt=None, previous_text=piece.shown, previous_checked=True,
            parent_request_id=piece.id,
        )  # fmt: skip
    options = piece.options
    if piece.command == "write":
        return WriteJob(
            command="write", kind=piece.kind, prompt=piece.prompt, genre=options.get("genre"), tone=options.get("tone"),
            length=options.get("length") or "medium", derived_from=piece.id,
        )  # fmt: skip
    if piece.command == "continue" and piece.parent_request_id:
        parent = await find_piece(core.database, guild_id=piece.guild_id, request_id=piece.parent_request_id)
        if refusal_for(parent) is None and parent is not None:
            return WriteJob(
                command="continue", kind=piece.kind, prompt=piece.prompt, previous_text=parent.shown,
                previous_checked=True, parent_request_id=parent.id, derived_from=piece.id,
            )  # fmt: skip
        return PARENT_GONE
    return CANNOT_AGAIN


@dataclass(frozen=True, slots=True)
class Votes:
    """A member's vote as cast: what they had voted before (None: nothing) and the piece's counts now."""

    value: int
    previous: int | None
    up: int
    down: int

    @property
    def thumbs_up(self) -> bool:
        return self.value == UP


async def vote(core: Core, piece: Piece, *, user_id: int, up: bool) -> Votes:
    value = UP if up else DOWN
    previous, ups, downs = await cast_vote(
        core.database, request_id=piece.id, guild_id=piece.guild_id, user_id=user_id, value=value
    )
    return Votes(value, previous, ups, downs)


# -- `/mine` ------------------------------------------------------------------------------------------------------


async def mine(core: Core, *, guild_id: int | None, user_id: int, offset: int, limit: int) -> tuple[list[MinePiece], int]:
    """One page of the member's delivered pieces here, newest first, and how many there are."""
    await core.recorder.flush()
    return await my_pieces(core.database, guild_id=guild_id, user_id=user_id, offset=offset, limit=limit)
