"""The output-check stage: one generation (`Attempt`) judged chunk by chunk, and what the policy does with each.

A chunk that passes is shown; one the policy redacts is masked; past `MAX_REDACTIONS` masks, or on a block,
regenerate or hold, the attempt stops being shown. When the engine is done the shown text gets a clean end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core import prompts, shapes
from bot.core.admission import defuse
from bot.core.replies import GO_ON, fact_check_notes
from bot.core.request import WriteJob
from bot.engines.base import Usage
from guardrails.policy import Action
from guardrails.rail import Verdict
from guardrails.rails.veils import FADE
from guardrails.stack import RailStack

REDACTED = "[sentence removed]"
MAX_REDACTIONS = 3
"""Past this many masked sentences an output is blocked: a story that is mostly holes helps nobody."""
# When several rails fail one chunk, the strictest action wins.
_SEVERITY: dict[Action, int] = {"redact": 1, "hold": 2, "regenerate": 3, "block": 4}


def strictest(rails: RailStack, verdicts: list[Verdict], index: int) -> tuple[Action | None, Verdict | None]:
    """The action the policy takes on chunk `index` and the verdict that decided it (None, None: it passed).
    Numbers each verdict with the chunk, and marks the ones whose text is masked."""
    action: Action | None = None
    failing: Verdict | None = None
    for verdict in verdicts:
        verdict.chunk_index = index
        wanted = rails.action_for(verdict)
        if wanted == "redact":
            verdict.decision = "redact"
        if wanted is not None and (action is None or _SEVERITY[wanted] > _SEVERITY[action]):
            action, failing = wanted, verdict
    return action, failing


@dataclass(slots=True)
class Attempt:
    """One generation of a request: what the member saw, what the engine wrote, and how it ended."""

    number: int
    generation_id: str
    raw: list[str] = field(default_factory=list)
    shown: str = ""
    written: str = ""
    """Every chunk judged, unmasked: what moderators review when the output is held."""
    verdicts: list[Verdict] = field(default_factory=list)
    action: Action | None = None
    failed: Verdict | None = None
    redactions: int = 0
    usage: Usage | None = None
    trimmed: bool = False
    """Whether the text shown stops short of what the engine wrote (cut back to a clean end)."""
    shape_problems: list[str] = field(default_factory=list)
    """What keeps the piece from its kind's shape (bot/core/shapes.py); empty when presentable."""

    @property
    def stopped(self) -> bool:
        """Whether the engine should stop: the output will not be shown whatever comes next."""
        return self.action in ("block", "regenerate")

    def take(self, chunk: str, action: Action | None, failing: Verdict | None) -> bool:
        """Add a judged chunk as the policy says; True when the text to show grew (or a mask was added to it)."""
        self.written += chunk
        if self.action == "hold":
            return False  # held outputs are written to the end for the moderator, and shown to no one meanwhile
        # A story's veil (guardrails/rails/veils.py): the sentence fades out, a run of them as one fade. A fade is the
        # story going as the players asked, not a hole in it: it does not count towards MAX_REDACTIONS.
        fade = action == "redact" and failing is not None and failing.category == "veil"
        if action == "redact" and not fade:
            self.redactions += 1
            if self.redactions > MAX_REDACTIONS:
                action = "block"
        if action in ("block", "regenerate", "hold"):
            self.action, self.failed = action, failing
            return False
        if action == "redact":
            self.action = self.action or "redact"
            self.failed = self.failed or failing
            trailing = chunk[len(chunk.rstrip()) :]
            if not (fade and self.shown.rstrip().endswith(FADE)):
                self.shown += (FADE if fade else REDACTED) + (trailing or " ")
        else:
            self.shown += defuse(chunk)  # judged as written; shown unable to ping or invite (engine output)
        return True

    def finish(self, job: WriteJob, cleaned: str, shaped: bool) -> None:
        """The shown text as the member gets it: a clean end (when `shaped`), its shape checked, notes below."""
        if self.action not in (None, "redact") or not self.shown.strip():
            return
        note = ""
        if shaped:  # never a half word, a broken character or a heading with nothing under it
            kind = job.kind if job.command != "story" and job.kind in prompts.KINDS else "story"
            whole = self.shown.strip()
            self.shown = shapes.clean_end(whole, kind)
            cut = self.usage is not None and self.usage.finish_reason == "length"
            self.trimmed = self.shown != whole.replace(shapes.BROKEN, "").rstrip()
            if job.command == "write":
                form = shapes.poem_form(cleaned, job.genre) if kind == "poem" else None
                self.shape_problems = shapes.problems(kind, self.shown, form)
            if (self.trimmed or cut) and job.command != "story" and self.shown:
                note = GO_ON
        # defused again as a whole: a mention or invite may have been cut between two chunks; a character an engine
        # cut in half (U+FFFD) is never shown or stored as shown
        shown = self.shown.replace(shapes.BROKEN, "").strip()
        self.shown = defuse(shown + fact_check_notes(self.verdicts) + note)
