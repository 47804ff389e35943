"""One request from Discord into the pipeline (`/write`, `/continue`, a piece's Continue and Another take): the
server's gate, the policy and author of where it was asked, a sink that streams into the interaction's reply, and
the buttons under the delivered piece. A refusal at the gate goes through the pipeline too, so it is recorded."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from bot.discord.context import author_of, channel_policy, gate
from bot.discord.delivery import InteractionSink
from bot.discord.views import piece_view

if TYPE_CHECKING:
    import discord

    from bot.core.app import Core
    from bot.core.request import WriteJob


async def write(core: Core, interaction: discord.Interaction, job: WriteJob) -> None:
    passed = await gate(core, interaction)
    if passed.refused is not None and job.refused is None:
        job.refused = passed.refused
    sink = InteractionSink(interaction, core.settings.stream_edit_interval_s, buttons=piece_view)
    policy = await channel_policy(core, interaction)
    # The shared limiter above counted this request; the pipeline's in-process one must not count it again.
    author = replace(author_of(interaction, policy), exempt_from_rate_limit=passed.counted)
    await core.pipeline.run(author, job, sink)
