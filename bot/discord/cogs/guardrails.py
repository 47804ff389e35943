"""Moderators' guardrail settings (Manage Server): `/guardrails show | set | reset` and
`/guardrails misinfo add | remove | list`. Every change is recorded with who, when and the new policy hash."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import policies
from bot.discord.choices import RATING_CHOICES
from bot.discord.context import age_restricted, place
from bot.discord.delivery import MESSAGE_LIMIT, reply
from bot.discord.moderators import require_manage_guild
from guardrails.policy import CATEGORIES, RAIL_ACTIONS, check_action, check_threshold
from guardrails.rails.language import named

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

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
    """`/guardrails`: moderators read and change the rating, thresholds and actions, and the server's own false
    claims, through the policy service (bot/core/policies.py)."""

    misinfo = app_commands.Group(name="misinfo", description="This server's own false claims and their corrections")

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_manage_guild(interaction)

    # -- reading ---------------------------------------------------------------------------------------------

    @app_commands.command(name="show", description="The rating, thresholds and actions that apply in this channel")
    async def show(self, interaction: discord.Interaction) -> None:
        current = await policies.here(self.bot.core, place(interaction))
        guild, channel, policy = current.guild, current.channel, current.policy
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
        lines.append(f"Policy hash: `{policies.hash_of(self.bot.core, policy)[:16]}`")
        await reply(interaction, "\n".join(lines))

    # -- changing --------------------------------------------------------------------------------------------

    async def _change(
        self, interaction: discord.Interaction, changes: dict[str, str | None], *, server: bool
    ) -> None:
        """Apply `changes` at the channel or server scope, record them with the new policy hash, and say so."""
        change = await policies.change_policy(
            self.bot.core, place(interaction), changes, server=server, user_id=interaction.user.id
        )
        if change.problem is not None:
            await reply(interaction, change.problem)
            return
        previous, new_hash = change.previous, change.policy_hash
        where = "this server" if server else "this channel"
        described = "\n".join(
            f"- {key}: {_shown(previous[key])} → **{_shown(value)}**" for key, value in changes.items()
        )
        note = ""
        if changes.get("rating") == "M" and server:
            note = "\nM applies only in age-restricted channels; elsewhere PG-13 holds."
        await reply(
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
                scored = policies.scored_categories(self.bot.core)
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
            await reply(interaction, problem)
            return
        if rating is not None:
            changes["rating"] = rating.value
        if unjudged is not None:
            changes["unjudged"] = unjudged.value
        server_wide = {"review_channel": review_channel, "moderator_role": moderator_role}
        if any(server_wide.values()):
            if not server and changes:
                await reply(
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
        current = await policies.here(self.bot.core, place(interaction))
        cleared = current.guild if server else current.channel
        if not cleared:
            await reply(interaction, "Nothing is set there; the defaults already apply.")
            return
        await self._change(interaction, dict.fromkeys(cleared), server=server)

    # -- this server's misinformation entries ------------------------------------------------------------

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
            await reply(interaction, "Claim and correction each need a few words.")
            return
        entry_id, new_hash = await policies.add_misinfo(
            self.bot.core, place(interaction), user_id=interaction.user.id, claim=claim, correction=correction
        )
        await reply(
            interaction,
            f"Added entry **#{entry_id}**: outputs here that tell readers “{claim}” get the correction "
            f"“{correction}”. Policy hash here `{new_hash[:16]}`.",
        )

    @misinfo.command(name="remove", description="Remove one of this server's entries")
    @app_commands.describe(entry="The entry's number, from /guardrails misinfo list")
    async def misinfo_remove(self, interaction: discord.Interaction, entry: app_commands.Range[int, 1]) -> None:
        assert interaction.guild_id is not None
        new_hash = await policies.remove_misinfo(self.bot.core, place(interaction), user_id=interaction.user.id, entry_id=entry)
        if new_hash is None:
            await reply(interaction, f"This server has no entry #{entry}. `/guardrails misinfo list` shows them.")
            return
        await reply(interaction, f"Removed entry #{entry}. Policy hash here `{new_hash[:16]}`.")

    @misinfo.command(name="list", description="This server's own false claims and corrections")
    async def misinfo_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        entries = await policies.misinfo_list(self.bot.core, interaction.guild_id)
        if not entries:
            await reply(interaction, "No entries of this server's own yet; the shipped knowledge base applies.")
            return
        lines = [f"**#{e.id}** “{e.claim[:120]}” → {e.correction[:120]}" for e in reversed(entries)]
        text = f"{len(entries)} entries, newest first:"
        for line in lines:
            if len(text) + len(line) + 1 > MESSAGE_LIMIT - 100:  # room for the note that ends it
                text += "\n… (older ones not shown)"
                break
            text += "\n" + line
        await reply(interaction, text)


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(GuardrailsCog(bot))
