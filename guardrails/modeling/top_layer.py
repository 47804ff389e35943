"""A tuned copy of the shared encoder's last layer.

A head on frozen token states judges a sentence shape it never saw by resemblance: "nobody should wish the {group}
killed" and "the {group} should be killed" read alike to it (docs/guardrail-judgement.md). A rail that needs more
runs its own copy of the encoder's last layer, tuned with its head, on the states that enter that layer
(`SentenceEncoder.encode_top_inputs`): the first layers still run once for every rail, and the rail adds one
layer's work (a sixth of MiniLM's) instead of a second encoder.

Stored beside the head's arrays in its .npz, each name prefixed with `LAYER_PREFIX`, in float16.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from guardrails.modeling.heads import pad_states

if TYPE_CHECKING:
    import torch

LAYER_PREFIX = "layer."


def layer_arrays(layer: torch.nn.Module) -> dict[str, np.ndarray]:
    """A layer's weights by state-dict name, as float16: as they are stored, so a tuned layer is measured as shipped."""
    return {name: value.detach().cpu().numpy().astype(np.float16) for name, value in layer.state_dict().items()}


def run_layer(layer: torch.nn.Module, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A BERT-style layer over a padded (rows, tokens, dim) batch; `mask` (rows, tokens) is True on real tokens."""
    import torch

    additive = torch.zeros(mask.shape, dtype=h.dtype, device=h.device).masked_fill(~mask, torch.finfo(h.dtype).min)
    out = layer(h, attention_mask=additive[:, None, None, :])
    return out[0] if isinstance(out, tuple) else out


class TopLayer:
    """The tuned last layer at inference: states entering the layer in, the layer's token states out."""

    def __init__(self, module: torch.nn.Module, device: str = "cpu", bfloat16: bool = False) -> None:
        import torch

        self._torch = torch
        self.device = device
        self.bfloat16 = bfloat16
        self.module = module.eval().to(device)

    @classmethod
    def load(cls, encoder: Any, arrays: dict[str, np.ndarray]) -> TopLayer:
        """`arrays` (state-dict names) in a copy of `encoder`'s last layer, on its device and at its precision."""
        import torch

        module = encoder.top_layer()
        module.load_state_dict({name: torch.from_numpy(value.astype(np.float32)) for name, value in arrays.items()})
        return cls(module, getattr(encoder, "device", "cpu"), getattr(encoder, "precision", "float32") == "bfloat16")

    def states(self, entering: Sequence[np.ndarray], batch: int = 64) -> list[np.ndarray]:
        """Per text, (tokens, dim) float32: the tuned layer's output for the (tokens, dim) states entering it."""
        torch = self._torch
        out: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(entering)
        order = np.argsort([len(s) for s in entering], kind="stable")  # similar lengths pad less
        autocast = torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bfloat16)
        with torch.inference_mode(), autocast:
            for start in range(0, len(order), batch):
                idx = order[start : start + batch]
                h, mask = pad_states(entering, idx)
                result = run_layer(self.module, torch.from_numpy(h).to(self.device), torch.from_numpy(mask).to(self.device))
                result = result.float().cpu().numpy()
                for row, i in enumerate(idx):
                    out[i] = result[row, : len(entering[i])]
        return out
