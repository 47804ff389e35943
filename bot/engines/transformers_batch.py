"""The running batch's tensors on the worker thread: one KV cache, left-padded, that grows in place.

All rows keep their padding on the left: prefill pads prompts on the left, stacking pads the shorter cache on the left,
and decoding appends on the right. So the cache columns that no remaining row uses are always a prefix, trimmed
when rows leave, and a row's position id is simply the number of its real tokens in the cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from transformers import DynamicCache, DynamicLayer

if TYPE_CHECKING:
    from bot.engines.transformers_worker import Row

# The fewest spare columns a KV cache layer grabs when it grows.
CACHE_GROWTH_MIN = 64


class GrowingLayer(DynamicLayer):
    """A `DynamicLayer` that appends into spare columns instead of concatenating.

    `DynamicLayer.update` copies the whole cache to append one column, in every layer at every step: with 16 rows of
    300 tokens that copying is 13% of a decode step (measured, bf16, 2 cores). Here `.keys` and `.values` are views of
    the filled part of larger buffers, which grow by half when full.
    """

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.hold(key_states, value_states)
            return self.keys, self.values
        length, added = self.keys.shape[-2], key_states.shape[-2]
        if length + added > self._key_buffer.shape[-2]:
            self.hold(self.keys, self.values, room=added)
        self._key_buffer[..., length : length + added, :] = key_states
        self._value_buffer[..., length : length + added, :] = value_states
        self.keys = self._key_buffer[..., : length + added, :]
        self.values = self._value_buffer[..., : length + added, :]
        return self.keys, self.values

    def hold(self, keys: torch.Tensor, values: torch.Tensor, room: int = 0) -> None:
        """Hold exactly these keys and values (copied), with spare columns for at least `room` more."""
        length = keys.shape[-2]
        capacity = length + max(room, CACHE_GROWTH_MIN, length // 2)
        self._key_buffer = keys.new_empty((*keys.shape[:-2], capacity, keys.shape[-1]))
        self._value_buffer = values.new_empty((*values.shape[:-2], capacity, values.shape[-1]))
        self._key_buffer[..., :length, :] = keys
        self._value_buffer[..., :length, :] = values
        self.keys = self._key_buffer[..., :length, :]
        self.values = self._value_buffer[..., :length, :]


class Batch:
    """The rows decoding together and their row-aligned tensors. Only the worker thread touches it."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.rows: list[Row] = []
        self.cache = None
        """A `DynamicCache` of `GrowingLayer`s: `.keys`, `.values` of shape [rows, heads, columns, head_dim]."""
        self.attention_mask = torch.empty(0, 0, dtype=torch.long)
        """[rows, columns], 0 on each row's left padding."""
        self.positions = torch.empty(0, dtype=torch.long)
        """[rows]: the position id of each row's next token, which is also its number of tokens in the cache."""
        self.next_tokens = torch.empty(0, dtype=torch.long)
        """[rows]: the token each row feeds into the next decode step."""
        self.seen_ids = torch.empty(0, 0, dtype=torch.long)
        """[rows, tokens]: each row's prompt and output tokens, for the repetition penalty; left-padded with repeats
        of the row's first token, which change nothing (gathering then scattering a penalty is 17x cheaper than a
        [rows, vocab] mask)."""

    def extend(self, other: Batch) -> None:
        """Stack `other`'s rows under these, left-padding the narrower cache so that both keep their right edge."""
        if not self.rows:
            self.__dict__.update(other.__dict__)
            return
        width = max(self.attention_mask.shape[1], other.attention_mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.hold(
                torch.cat([_pad_cache_left(mine.keys, width), _pad_cache_left(theirs.keys, width)]),
                torch.cat([_pad_cache_left(mine.values, width), _pad_cache_left(theirs.values, width)]),
            )
        self.attention_mask = torch.cat(
            [_pad_mask_left(self.attention_mask, width), _pad_mask_left(other.attention_mask, width)]
        )
        self.positions = torch.cat([self.positions, other.positions])
        self.next_tokens = torch.cat([self.next_tokens, other.next_tokens])
        seen_width = max(self.seen_ids.shape[1], other.seen_ids.shape[1])
        self.seen_ids = torch.cat([_pad_ids_left(self.seen_ids, seen_width), _pad_ids_left(other.seen_ids, seen_width)])
        self.rows += other.rows

    def keep(self, indices: list[int]) -> None:
        """Keep only these rows, and drop the cache columns that were padding for all of them."""
        if not indices:
            self.clear()
            return
        index = torch.tensor(indices)
        positions = self.positions[index]
        first_column = self.attention_mask.shape[1] - int(positions.max())
        for layer in self.cache.layers:
            layer.hold(layer.keys[index, :, first_column:], layer.values[index, :, first_column:])
        self.attention_mask = self.attention_mask[index, first_column:]
        self.positions = positions
        self.next_tokens = self.next_tokens[index]
        self.seen_ids = self.seen_ids[index]
        self.rows = [self.rows[i] for i in indices]


def _pad_cache_left(states: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(states, (0, 0, width - states.shape[-2], 0))


def _pad_mask_left(mask: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(mask, (width - mask.shape[-1], 0))


def _pad_ids_left(token_ids: torch.Tensor, width: int) -> torch.Tensor:
    return torch.cat([token_ids[:, :1].expand(-1, width - token_ids.shape[1]), token_ids], dim=1)


def new_cache(model) -> DynamicCache:
    """A `DynamicCache` for `model` whose layers grow in place (`GrowingLayer`)."""
    cache = DynamicCache(config=model.config)
    cache.layers = [GrowingLayer() for _ in cache.layers]
    return cache
