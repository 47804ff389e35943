"""The terminal mode's `/mine [PAGE]` and `/privacy export`: the same services as in Discord, for the local user."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from bot.core import pieces
from bot.core.privacy import describe_export, export_member

if TYPE_CHECKING:
    from bot.core.app import Core
    from bot.core.request import Author
    from bot.terminal.parser import TypedCommand

PAGE_SIZE = 10


async def run_typed_member_command(core: Core, author: Author, command: TypedCommand, out: TextIO) -> None:
    if command.name == "mine":
        out.write(await mine_text(core, author, int(command.text or "1")) + "\n")
    else:
        out.write(await export_to_file(core, author) + "\n")
    out.flush()


async def mine_text(core: Core, author: Author, page: int) -> str:
    found, total = await pieces.mine(
        core, guild_id=author.guild_id, user_id=author.user_id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    if not total:
        return "You have no pieces here yet: try /write."
    pages = -(-total // PAGE_SIZE)
    lines = [f"Your pieces ({total}), newest first, page {min(page, pages)} of {pages}:"]
    for piece in found:
        topic = "(erased)" if piece.topic is None else " ".join(piece.topic.split())[:60]
        lines.append(f"  {piece.created_at:%Y-%m-%d %H:%M} {piece.kind or piece.command:<9} {topic}  request {piece.request_id}")
    if not found:
        lines.append("  (no pieces on this page)")
    return "\n".join(lines)


async def export_to_file(core: Core, author: Author) -> str:
    data, file = await export_member(core, guild_id=author.guild_id, channel_id=author.channel_id, user_id=author.user_id)
    folder = core.settings.data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"storyloom-{author.guild_id or 0}-{author.user_id}.json"
    path.write_bytes(file)
    return f"Everything stored about you here ({describe_export(data)}) is in {path}"
