"""The hash chain's tables (storage/chain): its entries, each chain's head, and periodic checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class ChainEntry(Base):
    """One link of a guild's append-only hash chain (storage/chain): a record's digest, in order.

    `chain` is the guild id (0 for requests from outside any guild: terminal mode). Leaf and link hashes are
    domain-separated as in RFC 6962: leaf = H(0x00 || entry), link = H(0x01 || previous link || leaf)."""

    __tablename__ = "chain_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # request | delivery | moderation | erasure
    record_id: Mapped[str] = mapped_column(String(64))
    record_digest: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("chain", "seq", name="uq_chain_entries_chain_seq"),
        Index("ix_chain_entries_record", "kind", "record_id"),
    )


class ChainHead(Base):
    """The last link of each chain: appends lock this row, so two processes never fork a chain."""

    __tablename__ = "chain_heads"

    chain: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))


class ChainCheckpoint(Base):
    """A chain's link hash every `CHECKPOINT_EVERY` entries: `storyloom audit verify` prints the latest ones so
    operators can keep them elsewhere; a rewritten history no longer matches a checkpoint kept outside."""

    __tablename__ = "chain_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_chain_checkpoints_chain_seq"),)
