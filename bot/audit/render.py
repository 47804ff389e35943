"""How audit answers read: the provenance card, request lists and stats, for Discord (markdown, mentions that never
ping, timestamps in the reader's zone) and for terminals (plain text, ids and UTC times). Pages stay under
Discord's 2,000 characters. Stored text is shown with its control and bidi characters made visible (bot/core/visible.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.visible import visible
from storage.audit import Page, Record, RequestSummary, Stats
from storage.models import aware
from storage.chain import ERASED

PAGE_CHARS = 1900
"""A page under Discord's message limit (bot/discord/delivery.MESSAGE_LIMIT) with room for the pager's footer."""
TEXT_CHARS = 1500
"""Past this a shown or raw text is cut on the card (the export has it whole)."""


@dataclass(frozen=True, slots=True)
class Style:
    """Discord markdown (`discord=True`) or plain terminal text."""

    discord: bool = True

    def bold(self, text: str) -> str:
        return f"**{text}**" if self.discord else text

    def code(self, text: str) -> str:
        return f"`{text}`" if self.discord else text

    def user(self, user_id: int | None, name: str | None = None) -> str:
        if user_id is None:
            return "-"
        if self.discord:
            return f"<@{user_id}>" + (f" ({_erasable(name)})" if name else "")
        return f"{_erasable(name) if name else 'user'} ({user_id})"

    def channel(self, channel_id: int | None) -> str:
        if channel_id is None:
            return "outside any channel"
        return f"<#{channel_id}>" if self.discord else f"channel {channel_id}"

    def time(self, moment: datetime | None, relative: bool = False) -> str:
        moment = aware(moment)
        if moment is None:
            return "-"
        if self.discord:
            return f"<t:{int(moment.timestamp())}:{'R' if relative else 'f'}>"
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")

    def quote(self, text: str) -> list[str]:
        lines = text.splitlines() or [""]
        return [("> " if self.discord else "  | ") + line for line in lines]


DISCORD, PLAIN = Style(True), Style(False)


def _erasable(text: str | None) -> str:
    if text is None:
        return "-"
    return "[erased]" if text.startswith(ERASED) else text


def _cut(text: str, limit: int = TEXT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text) - limit:,} more characters; the export has them)"


def _score(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def _worst(scores: dict[str, Any], thresholds: dict[str, Any]) -> tuple[str | None, Any, Any]:
    """The category closest to (or furthest over) its threshold: what a pass verdict is best summed up by."""
    if not scores:
        return None, None, None

    def margin(item: tuple[str, Any]) -> float:
        category, score = item
        limit = thresholds.get(category)
        return float(score) - float(limit) if limit is not None else float(score) - 1.0

    category, score = max(scores.items(), key=margin)
    return category, score, thresholds.get(category)


def verdict_line(verdict: dict[str, Any], style: Style) -> str:
    where = verdict["stage"] if verdict.get("chunk_index") is None else f"{verdict['stage']}#{verdict['chunk_index']}"
    decision = verdict["decision"]
    shown_decision = decision if decision in ("pass", "skip") else style.bold(decision)
    category = verdict.get("category")
    scores, thresholds = verdict.get("scores") or {}, verdict.get("thresholds") or {}
    if category:
        score, limit = scores.get(category), thresholds.get(category)
    else:
        category, score, limit = _worst(scores, thresholds)
    measured = f" · {category} {_score(score)} / {_score(limit)}" if category else ""
    line = f"{style.code(where)} {verdict['rail']}/{verdict.get('backend') or '?'} {verdict.get('version') or ''}".rstrip()
    line += f": {shown_decision}{measured}"
    sentence = verdict.get("sentence")
    if decision != "pass" and sentence:
        line += f" · “{_cut(_erasable(sentence).strip(), 160)}”"
    return line


def _params(params: dict[str, Any]) -> str:
    shown = [f"{key} {value}" for key, value in params.items() if key != "seed" and value is not None]
    return " · ".join(shown) or "defaults"


def _message_link(guild_id: int | None, channel_id: int | None, message_id: int | None) -> str:
    if message_id is None:
        return "(terminal)"
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def card_lines(record: Record, style: Style = DISCORD) -> list[str]:
    """Everything recorded about one request, in the order a moderator asks: who, what, checks, why, where."""
    request = record.request
    options = request.get("options") or {}
    lines = [
        f"{style.bold('Provenance')} · request {style.code(request['id'])} · {style.bold(request['status'])}",
        f"Asked by {style.user(request['user_id'], request.get('user_name'))} · {style.time(request['created_at'])} · "
        f"in {style.channel(request.get('channel_id'))} ({request.get('interface')})",
    ]
    ask = f"/{request['command']}" + (f" {request['kind']}" if request.get("kind") else "")
    described = " · ".join(f"{key} {value}" for key, value in options.items() if value is not None)
    lines.append(f"Asked: {style.code(ask)}" + (f" · {described}" if described else ""))
    if request.get("parent_request_id"):
        lines.append(f"Continues request {style.code(request['parent_request_id'])}")
    prompt = request.get("prompt")
    lines.append("Prompt:" if prompt else "Prompt: (none)")
    if prompt:
        lines += style.quote(_cut(_erasable(prompt), 600))
    why = request.get("status_reason")
    lines.append(f"Why {request['status']}: {why}" if why else f"Outcome: {request['status']}")
    lines.append(f"Policy hash: {style.code(request.get('policy_hash') or '-')}")
    up, down = record.votes
    if up or down:  # members' 👍 / 👎 under the piece (bot/discord/cogs/pieces.py)
        lines.append(f"Members' votes: 👍 {up} · 👎 {down}")

    for generation in record.generations:
        lines.append("")
        attempt = style.bold(f"Attempt {generation['attempt']}")
        lines.append(
            f"{attempt} · {generation['engine']} "
            f"{style.code(generation['model_id'])} · template {generation.get('template_version')} · "
            f"seed {generation.get('seed')}"
        )
        usage = []
        if generation.get("prompt_tokens") is not None or generation.get("output_tokens") is not None:
            usage.append(f"{generation.get('prompt_tokens') or 0} prompt + {generation.get('output_tokens') or 0} output tokens")
        if generation.get("finish_reason"):
            usage.append(f"finish {generation['finish_reason']}")
        if generation.get("total_ms") is not None:
            usage.append(f"{generation['total_ms'] / 1000:.1f} s")
        lines.append(f"Parameters: {_params(generation.get('params') or {})}" + (" · " + " · ".join(usage) if usage else ""))
        shown, raw = generation.get("shown_output") or "", generation.get("raw_output") or ""
        lines.append(f"Shown ({len(_erasable(shown)):,} characters):" if shown else "Shown: nothing")
        if shown:
            lines += style.quote(_cut(_erasable(shown)))
        if raw.strip() and raw.strip() != shown.strip():
            lines.append(f"Model output, unfiltered ({len(_erasable(raw)):,} characters):")
            lines += style.quote(_cut(_erasable(raw)))
        elif raw.strip():
            lines.append("Model output, unfiltered: the same as shown")

    lines.append("")
    lines.append(style.bold(f"Checks ({len(record.verdicts)})"))
    attempts = {generation["id"]: generation["attempt"] for generation in record.generations}
    # A language every rail read is one line for all texts, not one per text (guardrails/rails/language.py).
    read = [v for v in record.verdicts if v["rail"] == "language" and v["decision"] == "pass" and not v.get("category")]
    if read:
        found = Counter(v.get("explanation") or "?" for v in read)
        lines.append("Languages (read by every check): " + ", ".join(f"{code} ×{n}" for code, n in found.most_common()))
    for verdict in record.verdicts:
        if any(verdict is v for v in read):
            continue
        prefix = f"a{attempts[verdict['generation_id']]} " if len(attempts) > 1 and verdict.get("generation_id") in attempts else ""
        lines.append(prefix + verdict_line(verdict, style))
    if not record.verdicts:
        lines.append("none ran (refused before the checks)")

    lines.append("")
    for review in record.reviews:
        decided = (
            f"{review['status']} by {style.user(review['decided_by'])} {style.time(review['decided_at'])}"
            if review.get("decided_by") is not None
            else review["status"]
        )
        lines.append(f"Review #{review['id']}: {decided} · held by {review['rail']}/{review.get('category') or '-'}")
    posted = [
        f"{delivery['kind']} {_message_link(request.get('guild_id'), delivery.get('channel_id'), delivery.get('message_id'))}"
        for delivery in record.deliveries
    ]
    lines.append("Messages: " + (", ".join(posted) if posted else "none"))
    chain = record.chain
    if chain is None:
        lines.append("Chain: not chained yet (still open)")
    else:
        again = f", chained {chain.times_chained} times" if chain.times_chained > 1 else ""
        lines.append(
            f"Chain: entry {chain.seq} of chain {chain.chain} · {style.code(chain.chain_hash[:16])}… · "
            f"{style.time(chain.created_at)}{again}"
        )
    return [visible(line) for line in lines]  # stored text never drives the reader's terminal


def summary_line(row: RequestSummary, style: Style = DISCORD) -> str:
    ask = f"/{row.command}" + (f" {row.kind}" if row.kind else "")
    line = (
        f"{style.code(row.id)} {style.time(row.created_at)} {style.user(row.user_id, row.user_name)} "
        f"{ask} · {style.bold(row.status)}"
    )
    flags = _counted(
        f"{flag['rail']} {flag['decision']}" + (f" {flag['category']} {_score(flag['score'])}" if flag["category"] else "")
        for flag in row.flags
    )
    if flags:
        line += " · " + ", ".join(flags[:3]) + (f" (+{len(flags) - 3})" if len(flags) > 3 else "")
    return line


def _counted(items: Iterable[str]) -> list[str]:
    """Each distinct item once, with `×n` when it repeats (the same check failing on every attempt)."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return [item if n == 1 else f"{item} ×{n}" for item, n in counts.items()]


def list_lines(title: str, page: Page, style: Style = DISCORD) -> list[str]:
    shown = len(page.rows)
    header = f"{style.bold(title)}: {page.total:,} request{'s' if page.total != 1 else ''}"
    if page.total > shown:
        header += f", the newest {shown} here (the export has them all)"
    lines = [header]
    if not page.rows:
        lines.append("nothing recorded")
    lines += [summary_line(row, style) for row in page.rows]
    if page.rows:
        how = "`/audit message <request id>`" if style.discord else "storyloom audit message REQUEST_ID"
        lines.append(f"{how} shows one in full.")
    return [visible(line) for line in lines]  # stored text never drives the reader's terminal


def stats_lines(result: Stats, style: Style = DISCORD) -> list[str]:
    period = f"since {style.time(result.since)}" if result.since else "all time"
    lines = [
        f"{style.bold('Audit stats')} · {period}",
        f"Requests: {result.requests:,} from {result.members:,} member{'s' if result.members != 1 else ''} · "
        f"{result.flagged_requests:,} with a flag, block, redaction or error",
        "By status: " + (" · ".join(f"{status} {n:,}" for status, n in result.by_status.items()) or "none"),
        style.bold("Checks (rail: decisions)"),
    ]
    rails: dict[str, list[tuple[str, int]]] = {}
    for (rail, decision), n in sorted(result.by_rail.items()):
        rails.setdefault(rail, []).append((decision, n))
    for rail, decisions in rails.items():
        lines.append(f"  {rail}: " + ", ".join(f"{decision} {n:,}" for decision, n in decisions))
    if not rails:
        lines.append("  none ran")
    lines.append(
        "Top categories (not passed): "
        + (" · ".join(f"{category} {n:,}" for category, n in result.top_categories) or "none")
    )
    lines.append(style.bold("Members' votes (kind, model: 👍 / 👎)"))
    lines += [f"  {kind}, {style.code(model)}: {up:,} / {down:,}" for kind, model, up, down in result.votes] or ["  none"]
    if result.unread_languages:
        lines.append(
            "Languages no check here reads: "
            + " · ".join(f"{language} {outcome} {n:,}" for (language, outcome), n in sorted(result.unread_languages.items()))
        )
    return [visible(line) for line in lines]  # stored text never drives the reader's terminal


def paginate(lines: Iterable[str], limit: int = PAGE_CHARS) -> list[str]:
    """Pages of whole lines (a line longer than a page is cut into pieces) of at most `limit` characters."""
    pages: list[str] = []
    current = ""
    for line in lines:
        pieces = [line[i : i + limit] for i in range(0, len(line), limit)] or [""]
        for piece in pieces:
            candidate = f"{current}\n{piece}" if current else piece
            if len(candidate) > limit and current:
                pages.append(current)
                candidate = piece
            current = candidate
    if current.strip() or not pages:
        pages.append(current)
    return pages


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int = 48) -> str:
    """A plain fixed-width table for terminals."""
    cells = [[_cell(value, max_width) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    out = ["  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * width for width in widths))
    out += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(out)


def _cell(value: Any, max_width: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return aware(value).strftime("%Y-%m-%d %H:%M")  # type: ignore[union-attr]
    text = visible(" ".join(str(value).split()))
    return text if len(text) <= max_width else text[: max_width - 1] + "…"


def requests_table(page: Page) -> str:
    rows = [
        (
            row.id,
            row.created_at,
            row.guild_id,
            row.channel_id,
            f"{_erasable(row.user_name)} ({row.user_id})",
            f"/{row.command}" + (f" {row.kind}" if row.kind else ""),
            row.status,
            ", ".join(
                _counted(
                    f"{flag['rail']}:{flag['decision']}" + (f":{flag['category']}" if flag["category"] else "")
                    for flag in row.flags
                )
            ),
        )
        for row in page.rows
    ]
    headers = ("request", "created (UTC)", "guild", "channel", "member", "command", "status", "not passed")
    more = f"\n{page.total:,} in all"
    if page.total > len(page.rows):
        more += f"; {len(page.rows)} shown (--limit, --offset for more)"
    return table(headers, rows, max_width=40) + more


def stats_tables(result: Stats) -> str:
    period = "since " + PLAIN.time(result.since) if result.since else "all time"
    parts = [
        f"Audit stats, {period}: {result.requests:,} requests from {result.members:,} members, "
        f"{result.flagged_requests:,} with a check not passed",
        "",
        table(("status", "requests"), result.by_status.items()),
        "",
        table(("rail", "decision", "verdicts"), ((r, d, n) for (r, d), n in sorted(result.by_rail.items()))),
        "",
        table(("category (not passed)", "verdicts"), result.top_categories),
        "",
        table(("kind", "model", "votes up", "votes down"), result.votes),
    ]
    if result.unread_languages:
        unread = ((language, outcome, n) for (language, outcome), n in sorted(result.unread_languages.items()))
        parts += ["", table(("language no check reads", "outcome", "texts"), unread)]
    return "\n".join(parts)
