"""The guard models' own published prompt formats: their categories, the prompt each model card gives, and how a
first token's log-probabilities read as a probability of "unsafe".

- **Llama Guard 3**: the categories S1-S14 in, "safe" or "unsafe\\nS1,S9" out; a prompt is judged as the 'User'
  turn, the model's writing as the 'Agent' turn.
- **ShieldGemma**: one policy per request ("No Dangerous Content", ...), "Yes" (it violates) or "No" out; a
  prompt is the "Human Question", the model's writing the "Chatbot Response".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from guardrails.rail import Stage

Format = Literal["llamaguard3", "shieldgemma"]
FORMATS: tuple[Format, ...] = ("llamaguard3", "shieldgemma")


@dataclass(frozen=True, slots=True)
class GuardCategory:
    """One category a guard model judges against, and the Storyloom category it maps onto."""

    code: str
    """The model's own name for it: `S1`..`S14` (Llama Guard 3), a policy key (ShieldGemma)."""
    title: str
    """What the prompt says: Llama Guard's category name, ShieldGemma's policy text."""
    category: str
    """Storyloom's category: what a verdict records and the member's message names."""


# Llama Guard 3's categories (the MLCommons hazard taxonomy), as its model card lists them.
LLAMA_GUARD_3: tuple[GuardCategory, ...] = (
    GuardCategory("S1", "Violent Crimes", "threat"),
    GuardCategory("S2", "Non-Violent Crimes", "dangerous_instructions"),
    GuardCategory("S3", "Sex Crimes", "sexual_harassment"),
    GuardCategory("S4", "Child Exploitation", "child_exploitation"),
    GuardCategory("S5", "Defamation", "defamation"),
    GuardCategory("S6", "Specialized Advice", "specialized_advice"),
    GuardCategory("S7", "Privacy", "privacy"),
    GuardCategory("S8", "Intellectual Property", "intellectual_property"),
    GuardCategory("S9", "Indiscriminate Weapons", "dangerous_instructions"),
    GuardCategory("S10", "Hate", "identity_attack"),
    GuardCategory("S11", "Self-Harm", "self_harm"),
    GuardCategory("S12", "Sexual Content", "sexual_explicit"),
    GuardCategory("S13", "Elections", "misinformation"),
    GuardCategory("S14", "Code Interpreter Abuse", "dangerous_instructions"),
)
# Not asked by default: characters give advice in stories (the misinformation rail judges false claims), and fan
# fiction is a creative-writing community's daily work.
LLAMA_GUARD_3_OFF_BY_DEFAULT = frozenset({"S6", "S8"})

# ShieldGemma's four harm types, in the wording of its model card; "{subject}" is "prompt" or "chatbot".
SHIELDGEMMA: tuple[GuardCategory, ...] = (
    GuardCategory(
        "dangerous",
        '"No Dangerous Content": The {subject} shall not contain or seek generation of content that harming oneself '
        "and/or others (e.g., accessing or building firearms and explosive devices, promotion of terrorism, "
        "instructions for suicide).",
        "dangerous_instructions",
    ),
    GuardCategory(
        "harassment",
        '"No Harassment": The {subject} shall not contain or seek generation of content that is malicious, '
        "intimidating, bullying, or abusive content targeting another individual (e.g., physical threats, denial of "
        "tragic events, disparaging victims of violence).",
        "harassment",
    ),
    GuardCategory(
        "hate",
        '"No Hate Speech": The {subject} shall not contain or seek generation of content that targeting identity '
        "and/or protected attributes (e.g., racial slurs, promotion of discrimination, calls to violence against "
        "protected groups) or dehumanizing/belittling/vilifying on the bases of race, ethnicity, religion, "
        "disability, age, nationality, veteran status, sexual orientation, gender, gender identity, caste, or any "
        "other protected status. We do allow content that includes a reference to a protected individual or group "
        "in a positive manner.",
        "identity_attack",
    ),
    GuardCategory(
        "sexual",
        '"No Sexually Explicit Information": The {subject} shall not contain or seek generation of content that '
        "contains references to sexual acts or other lewd content (e.g., sexually graphic descriptions, content "
        "aimed at causing arousal). Medical or scientific terms related to human anatomy or sex education are "
        "permitted.",
        "sexual_explicit",
    ),
)

CATALOGUES: dict[Format, tuple[GuardCategory, ...]] = {"llamaguard3": LLAMA_GUARD_3, "shieldgemma": SHIELDGEMMA}
# The model cards' languages: Llama Guard 3 was trained and evaluated in these eight; ShieldGemma in English.
LANGUAGES: dict[Format, frozenset[str]] = {
    "llamaguard3": frozenset({"en", "fr", "de", "hi", "it", "pt", "es", "th"}),
    "shieldgemma": frozenset({"en"}),
}
# Categories a rating may switch off: sexual content between adults is within an M channel's rating.
OFF_AT_M = frozenset({"sexual_explicit"})
ANSWER_TOKENS = {"llamaguard3": 10, "shieldgemma": 1}
"""Enough for "unsafe\\nS1,S2,S9"; ShieldGemma's first token is its answer (the rest is its reasoning)."""

LLAMA_GUARD_3_PROMPT = (
    "<|start_header_id|>user<|end_header_id|>\n\n"
    "Task: Check if there is unsafe content in '{role}' messages in conversations according our safety policy "
    "with the below categories.\n\n"
    "<BEGIN UNSAFE CONTENT CATEGORIES>\n{categories}\n<END UNSAFE CONTENT CATEGORIES>\n\n"
    "<BEGIN CONVERSATION>\n\n{conversation}\n\n<END CONVERSATION>\n\n"
    "Provide your safety assessment for ONLY THE LAST {role} message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories."
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
)
"""The model card's prompt without its leading `<|begin_of_text|>`: the server's tokenizer adds that itself."""

SHIELDGEMMA_PROMPT = (
    "You are a policy expert trying to help determine whether {what} is in violation of the defined safety "
    "policies.\n\n"
    "<start_of_turn>\nHuman Question: {question}\n<end_of_turn>\n\n"
    "{response}"
    "Our safety principle is defined in the below:\n\n* {policy}\n\n===\n\n"
    "Does the {judged} violate the above principle? Your answer must start with 'Yes' or 'No'. And then walk "
    "through step by step to be sure we answer correctly.\n\n"
)
SHIELDGEMMA_RESPONSE = "<start_of_turn>\nChatbot Response: {response}\n<end_of_turn>\n\n"
# The model card words a response's policies "The chatbot shall not generate content that ...".
RESPONSE_WORDING = ("shall not contain or seek generation of", "shall not generate")
STAND_IN_REQUEST = "Write a piece of creative writing."
"""The request an output chunk is judged as answering: rails see the text alone, and the prompt had its own check."""


def llama_guard_3_prompt(text: str, stage: Stage, categories: Sequence[GuardCategory]) -> str:
    """Llama Guard 3's prompt: a prompt is the conversation's 'User' turn; the model's writing its 'Agent' turn."""
    if stage == "input":
        role, conversation = "User", f"User: {text.strip()}"
    else:
        role, conversation = "Agent", f"User: {STAND_IN_REQUEST}\n\nAgent: {text.strip()}"
    listed = "\n".join(f"{entry.code}: {entry.title}." for entry in categories)
    return LLAMA_GUARD_3_PROMPT.format(role=role, categories=listed, conversation=conversation)


def shieldgemma_prompt(text: str, stage: Stage, policy: GuardCategory) -> str:
    """ShieldGemma's prompt for one policy: a prompt is the "Human Question", the model's writing the response."""
    if stage == "input":
        return SHIELDGEMMA_PROMPT.format(
            what="a user prompt", question=text.strip(), response="",
            policy=policy.title.format(subject="prompt"), judged="human question",
        )  # fmt: skip
    return SHIELDGEMMA_PROMPT.format(
        what="an AI response to prompt", question=STAND_IN_REQUEST,
        response=SHIELDGEMMA_RESPONSE.format(response=text.strip()),
        policy=policy.title.format(subject="chatbot").replace(RESPONSE_WORDING[0], RESPONSE_WORDING[1]),
        judged="Chatbot Response",
    )  # fmt: skip


def two_way(logprobs: Mapping[str, float], positive: str, negative: str) -> float | None:
    """P(positive) between the two answers from the first token's log-probabilities; None when neither is there."""
    best: dict[str, float] = {}
    for token, logprob in logprobs.items():
        word = token.strip().lower()
        if word in (positive, negative) and logprob > best.get(word, -math.inf):
            best[word] = logprob
    if not best:
        return None
    yes = math.exp(best[positive]) if positive in best else None
    no = math.exp(best[negative]) if negative in best else None
    if yes is not None and no is not None:
        return yes / (yes + no)
    return yes if yes is not None else 1.0 - no  # type: ignore[operator]
