"""Moderators' guardrail settings (Manage Server): `/guardrails show | set | reset` and
`/guardrails misinfo add | remove | list`. Every change is recorded with who, when and the new policy hash."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.delivery import NO_PINGS
from bot.discord.moderators import require_manage_guild
from guardrails.policy import CATEGORIES, RAIL_ACTIONS, Policy, check_action, check_threshold, resolve_policy
from guardrails.rails.language import named
from guardrails.ratings import RATINGS
from guardrails.stack import describe_policy, policy_hash
from storage.policies import change_settings, misinfo_entries, record_action, stored_settings

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

RATING_CHOICES = [app_commands.Choice(name=rating, value=rating) for rating in RATINGS]
SCOPE_CHOICES = [app_commands.Choice(name="this channel", value="channel"), app_commands.Choice(name="server", value="server")]
CATEGORY_CHOICES = [app_commands.Choice(name=category, value=category) for category in CATEGORIES]
RAIL_CHOICES = [app_commands.Choice(name=rail, value=rail) for rail in RAIL_ACTIONS]
UNJUDGED_CHOICES = [
    app_commands.Choice(name=name, value=value)
    for name, value in (
        ("refuse: tell the member which languages the checks read (default)", "refuse"),
        ("hold: a moderator reads it before anyone sees the result", "hold"),
        ("allow: pass it unjudged (recorded)", "allow"),
    )
]
ACTION_CHOICES = [
    app_commands.Choice(name=name, value=value)
    for name, value in (
        ("block: refuse, show nothing", "block"),
        ("redact: mask the failing sentences", "redact"),
        ("regenerate: write it again, more gently", "regenerate"),
        ("hold: a moderator approves or rejects it", "hold"),
        ("note: show it with a correction (misinformation)", "note"),
    )
]


def age_restricted(channel: object) -> bool:
    return bool(getattr(channel, "nsfw", False) or getattr(getattr(channel, "parent", None), "nsfw", False))


THREAD_TYPES = (discord.ChannelType.public_thread, discord.ChannelType.private_thread, discord.ChannelType.news_thread)


def in_thread(channel: object) -> bool:
    return getattr(channel, "type", None) in THREAD_TYPES


def settings_channel_id(channel: object, channel_id: int | None) -> int | None:
    """Where a channel's settings live: a thread follows its parent channel."""
    if in_thread(channel):
        return getattr(channel, "parent_id", None) or channel_id
    return channel_id


async def policy_in(bot: StoryloomBot, guild_id: int | None, channel: object, channel_id: int | None) -> Policy:
    """The policy a request (or a plain message) in this channel or thread is judged under."""
    if guild_id is None:
        return Policy()
    guild, settings = await stored_settings(bot.core.database, guild_id, settings_channel_id(channel, channel_id))
    return await _with_house_style(bot, guild_id, resolve_policy(guild, settings, age_restricted=age_restricted(channel)))


async def _with_house_style(bot: StoryloomBot, guild_id: int, policy: Policy) -> Policy:
    """The server's house style (`/settings`) is part of the policy a request is written and hashed under."""
    from bot.core.server_settings import choices_for, with_house_style

    return with_house_style(policy, await choices_for(bot, guild_id))


async def channel_policy(bot: StoryloomBot, interaction: discord.Interaction) -> Policy:
    return await policy_in(bot, interaction.guild_id, interaction.channel, interaction.channel_id)


def record_policy_hash(bot: StoryloomBot, policy: Policy) -> str:
    """The hash of `policy` (house style included), with what it stands for recorded (`policy_versions`)."""
    described = describe_policy(bot.core.rails.for_policy(policy), policy)
    digest = policy_hash(described)
    bot.core.recorder.policy_version(digest, described)
    return digest


def _shown(value: str | None) -> str:
    return "default" if value is None else value


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class GuardrailsCog(
    commands.GroupCog,
    name="Guardrails",
    group_name="guardrails",
    group_description="Content rating and checks for this server",
):
    misinfo = app_commands.Group(name="misinfo", description="This server's own false claims and their corrections")

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_manage_guild(interaction)

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text[:2000], ephemeral=True, allowed_mentions=NO_PINGS)

    def _policy_hash(self, policy: Policy) -> str:
        """The hash of `policy`, with what it stands for recorded (`policy_versions`)."""
        return record_policy_hash(self.bot, policy)

    def _scored_categories(self) -> set[str]:
        rails = self.bot.core.rails
        return {
            category
            for rail in (*rails.input_rails, *rails.output_rails)
            for category in (rail.describe().get("thresholds") or {})
            if category in CATEGORIES
        }

    async def _here(self, interaction: discord.Interaction) -> tuple[dict[str, str], dict[str, str], Policy]:
        assert interaction.guild_id is not None
        where = settings_channel_id(interaction.channel, interaction.channel_id)
        guild, channel = await stored_settings(self.bot.core.database, interaction.guild_id, where)
        policy = resolve_policy(guild, channel, age_restricted=age_restricted(interaction.channel))
        return guild, channel, await _with_house_style(self.bot, interaction.guild_id, policy)

    # -- reading ---------------------------------------------------------------------------------------------

    @app_commands.command(name="show", description="The rating, thresholds and actions that apply in this channel")
    async def show(self, interaction: discord.Interaction) -> None:
        guild, channel, policy = await self._here(interaction)
        rails = self.bot.core.rails.for_policy(policy)
        restricted = "; age-restricted channel" if age_restricted(interaction.channel) else ""
        lines = [
            f"**Rating here: {policy.rating}** (channel: {channel.get('rating', 'not set')}, "
            f"server: {guild.get('rating', 'not set')}{restricted})",
        ]
        for stage, stage_rails in (("Prompts", rails.input_rails), ("Output", rails.output_rails)):
            described = []
            for rail in stage_rails:
                thresholds = rail.describe().get("thresholds") or {}
                if rail.name == "misinformation":
                    thresholds = {"misinformation": thresholds.get("misinformation", 0.0)}
                shown = ", ".join(f"{name} {value:g}" for name, value in sorted(thresholds.items()))
                # A rail without a moderator-set action (the guard model) blocks, as `Policy.action_for` says.
                action = f" → {policy.all_actions().get(rail.name, 'block')}" if stage == "Output" else " → block"
                described.append(f"{rail.name}" + (f" ({shown})" if shown else "") + action)
            lines.append(f"{stage}: " + "; ".join(described))
        if policy.thresholds or policy.actions:
            set_here = [f"{c} {v:g}" for c, v in policy.thresholds] + [f"{r} → {a}" for r, a in policy.actions]
            lines.append("Set by moderators: " + ", ".join(set_here))
        lines.append(
            f"Languages the checks read: prompts {named(rails.readable_languages('input'))}, output "
            f"{named(rails.readable_languages('output'))}. Any other: **{policy.unjudged}**"
            + (" (set by a moderator: text no check reads is shown unjudged)" if policy.unjudged == "allow" else "")
        )
        review = f"<#{policy.review_channel_id}>" if policy.review_channel_id else "not set (hold blocks instead)"
        lines.append(f"Review channel: {review}")
        if "moderator_role" in guild:
            lines.append(f"Moderator role: <@&{guild['moderator_role']}>")
        lines.append(f"Policy hash: `{policy_hash(describe_policy(rails, policy))[:16]}`")
        await self._reply(interaction, "\n".join(lines))

    # -- changing --------------------------------------------------------------------------------------------

    async def _change(
        self, interaction: discord.Interaction, changes: dict[str, str | None], *, server: bool
    ) -> None:
        """Apply `changes` at the channel or server scope, record them with the new policy hash, and say so."""
        assert interaction.guild_id is not None
        guild, channel, _ = await self._here(interaction)
        target = guild if server else channel
        updated = {key: value for key, value in {**target, **changes}.items() if value is not None}
        new_guild, new_channel = (updated, channel) if server else (guild, updated)
        policy = resolve_policy(new_guild, new_channel, age_restricted=age_restricted(interaction.channel))
        policy = await _with_house_style(self.bot, interaction.guild_id, policy)
        holds = "hold" in policy.all_actions().values() or policy.unjudged == "hold"
        if policy.review_channel_id is None and holds:
            await self._reply(
                interaction,
                "Hold needs a review channel: add `review_channel:` (the moderators' channel) to this command.",
            )
            return
        new_hash = self._policy_hash(policy)
        previous = await change_settings(
            self.bot.core.database,
            guild_id=interaction.guild_id,
            channel_id=None if server else settings_channel_id(interaction.channel, interaction.channel_id),
            changes=changes,
            user_id=interaction.user.id,
            policy_hash=new_hash,
        )
        where = "this server" if server else "this channel"
        described = "\n".join(
            f"- {key}: {_shown(previous[key])} → **{_shown(value)}**" for key, value in changes.items()
        )
        note = ""
        if changes.get("rating") == "M" and server:
            note = "\nM applies only in age-restricted channels; elsewhere PG-13 holds."
        await self._reply(
            interaction, f"Guardrails for {where}:\n{described}{note}\nPolicy hash here `{new_hash[:16]}`."
        )

    @app_commands.command(name="set", description="Set the rating, a category's threshold, or a rail's action")
    @app_commands.describe(
        scope="Where it applies (default: this channel)",
        rating="G, PG-13 (default) or M (age-restricted channels only)",
        category="The category whose threshold to set",
        threshold="The score from which that category fails (0.01 to 1)",
        rail="The output check whose action to set",
        action="What happens when that check fails",
        review_channel="Where held outputs go for a moderator's decision (server-wide)",
        unjudged="Text in a language no check here can read: refuse (default), hold or allow",
        moderator_role="Members with this role may use /audit and decide held pieces (server-wide)",
    )
    @app_commands.choices(
        scope=SCOPE_CHOICES, rating=RATING_CHOICES, category=CATEGORY_CHOICES, rail=RAIL_CHOICES, action=ACTION_CHOICES,
        unjudged=UNJUDGED_CHOICES,
    )
    async def set_guardrails(
        self,
        interaction: discord.Interaction,
        scope: app_commands.Choice[str] | None = None,
        rating: app_commands.Choice[str] | None = None,
        category: app_commands.Choice[str] | None = None,
        threshold: app_commands.Range[float, 0.01, 1.0] | None = None,
        rail: app_commands.Choice[str] | None = None,
        action: app_commands.Choice[str] | None = None,
        review_channel: discord.TextChannel | None = None,
        moderator_role: discord.Role | None = None,
        unjudged: app_commands.Choice[str] | None = None,
    ) -> None:
        server = scope is not None and scope.value == "server"
        changes: dict[str, str | None] = {}
        problem = None
        if (category is None) != (threshold is None):
            problem = "Give both `category` and `threshold`."
        elif (rail is None) != (action is None):
            problem = "Give both `rail` and `action`."
        elif (
            rating is None and category is None and rail is None and review_channel is None and moderator_role is None
            and unjudged is None
        ):  # fmt: skip
            problem = (
                "Nothing to set: give a rating, a category and threshold, a rail and action, what to do with "
                "languages no check reads, a review channel or a moderator role."
            )
        elif rating is not None and rating.value == "M" and not server and not age_restricted(interaction.channel):
            problem = "M is only for channels Discord marks age-restricted. Mark this channel first, or pick G or PG-13."
        try:
            if problem is None and category is not None and threshold is not None:
                check_threshold(category.value, threshold)
                scored = self._scored_categories()
                if category.value not in scored:
                    raise ValueError(
                        f"the checks running here do not score {category.value}; they score {', '.join(sorted(scored))}"
                    )
                changes[f"threshold.{category.value}"] = f"{threshold:g}"
            if problem is None and rail is not None and action is not None:
                check_action(rail.value, action.value)
                changes[f"action.{rail.value}"] = action.value
        except ValueError as error:
            problem = f"{str(error)[0].upper()}{str(error)[1:]}."
        if problem is not None:
            await self._reply(interaction, problem)
            return
        if rating is not None:
            changes["rating"] = rating.value
        if unjudged is not None:
            changes["unjudged"] = unjudged.value
        server_wide = {"review_channel": review_channel, "moderator_role": moderator_role}
        if any(server_wide.values()):
            if not server and changes:
                await self._reply(
                    interaction, "Review channel and moderator role are server-wide: set them on their own or with `scope: server`."
                )
                return
            changes.update({key: str(value.id) for key, value in server_wide.items() if value is not None})
            server = True
        await self._change(interaction, changes, server=server)

    @app_commands.command(name="reset", description="Clear every setting made for this channel or the server")
    @app_commands.describe(scope="What to clear (default: this channel)")
    @app_commands.choices(scope=SCOPE_CHOICES)
    async def reset(self, interaction: discord.Interaction, scope: app_commands.Choice[str] | None = None) -> None:
        server = scope is not None and scope.value == "server"
        guild, channel, _ = await self._here(interaction)
        cleared = guild if server else channel
        if not cleared:
            await self._reply(interaction, "Nothing is set there; the defaults already apply.")
            return
        await self._change(interaction, dict.fromkeys(cleared), server=server)

    # -- this server's misinformation entries ------------------------------------------------------------

    async def _record_entry_change(self, interaction: discord.Interaction, action: str, details: dict) -> str:
        """Record a knowledge-base change with the policy hash it gives this channel; returns that hash."""
        _, _, policy = await self._here(interaction)
        new_hash = self._policy_hash(policy)
        await record_action(
            self.bot.core.database,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            action=action,
            details=details,
            policy_hash=new_hash,
        )
        return new_hash

    @misinfo.command(name="add", description="Add a false claim and its correction for this server")
    @app_commands.describe(claim="The false claim, as people state it", correction="What is true instead (shown to readers)")
    async def misinfo_add(
        self,
        interaction: discord.Interaction,
        claim: app_commands.Range[str, 8, 300],
        correction: app_commands.Range[str, 8, 300],
    ) -> None:
        assert interaction.guild_id is not None
        claim, correction = " ".join(claim.split()), " ".join(correction.split())
        if len(claim) < 8 or len(correction) < 8:
            await self._reply(interaction, "Claim and correction each need a few words.")
            return
        core = self.bot.core
        entry_id = await core.add_misinfo_entry(
            guild_id=interaction.guild_id, claim=claim, correction=correction, user_id=interaction.user.id
        )
        new_hash = await self._record_entry_change(
            interaction, "misinfo_add", {"entry": entry_id, "claim": claim, "correction": correction}
        )
        await self._reply(
            interaction,
            f"Added entry **#{entry_id}**: outputs here that tell readers “{claim}” get the correction "
            f"“{correction}”. Policy hash here `{new_hash[:16]}`.",
        )

    @misinfo.command(name="remove", description="Remove one of this server's entries")
    @app_commands.describe(entry="The entry's number, from /guardrails misinfo list")
    async def misinfo_remove(self, interaction: discord.Interaction, entry: app_commands.Range[int, 1]) -> None:
        assert interaction.guild_id is not None
        core = self.bot.core
        if not await core.remove_misinfo_entry(guild_id=interaction.guild_id, row_id=entry, user_id=interaction.user.id):
            await self._reply(interaction, f"This server has no entry #{entry}. `/guardrails misinfo list` shows them.")
            return
        new_hash = await self._record_entry_change(interaction, "misinfo_remove", {"entry": entry})
        await self._reply(interaction, f"Removed entry #{entry}. Policy hash here `{new_hash[:16]}`.")

    @misinfo.command(name="list", description="This server's own false claims and corrections")
    async def misinfo_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        entries = await misinfo_entries(self.bot.core.database, interaction.guild_id)
        if not entries:
            await self._reply(interaction, "No entries of this server's own yet; the shipped knowledge base applies.")
            return
        lines = [f"**#{e.id}** “{e.claim[:120]}” → {e.correction[:120]}" for e in reversed(entries)]
        text = f"{len(entries)} entries, newest first:"
        for line in lines:
            if len(text) + len(line) + 1 > 1900:
                text += "\n… (older ones not shown)"
                break
            text += "\n" + line
        await self._reply(interaction, text)


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(GuardrailsCog(bot))
