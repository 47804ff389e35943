"""Token ids to text deltas, never splitting a multi-byte character: what an engine that decodes itself streams."""

from __future__ import annotations

from collections.abc import Callable


class IncrementalDetokenizer:
    """Turns a growing list of token ids into text deltas without splitting multi-byte characters.

    Byte-level BPE tokens can end inside a UTF-8 character, which decodes to U+FFFD until the next token completes it.
    The text is only released once it no longer ends in U+FFFD; `flush` releases whatever remains at the end, less
    a character left unfinished.
    Decoding re-reads the tokens from `prefix_offset` so that tokenizers whose decoding depends on the neighbouring
    token (SentencePiece's leading spaces) still get the context they need.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self.token_ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0

    def add(self, token_id: int) -> str:
        self.token_ids.append(token_id)
        prefix_text = self._decode(self.token_ids[self._prefix_offset : self._read_offset])
        full_text = self._decode(self.token_ids[self._prefix_offset :])
        if len(full_text) <= len(prefix_text) or full_text.endswith("\ufffd"):
            return ""
        self._prefix_offset, self._read_offset = self._read_offset, len(self.token_ids)
        return full_text[len(prefix_text) :]

    def flush(self) -> str:
        """The text not yet released, less a character the last token left unfinished (a stream cut by the token
        limit mid-character would otherwise end in U+FFFD)."""
        prefix_text = self._decode(self.token_ids[self._prefix_offset : self._read_offset])
        full_text = self._decode(self.token_ids[self._prefix_offset :])
        self._prefix_offset = self._read_offset = len(self.token_ids)
        return full_text[len(prefix_text) :].rstrip("\ufffd")
