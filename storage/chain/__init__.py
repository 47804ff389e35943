"""Tamper evidence: a per-guild, append-only hash chain over canonical digests of the provenance records.

What is chained, and when:
- a request, whenever a write touches it after it reached an end state (`delivered`, `blocked`, ...; a held
  request again when it is decided, and again when one of its messages is edited or deleted): the digest covers
  the request row, its generations, verdicts, deliveries and reviews as they are then;
- each moderation action, each erasure.

A record's digest is SHA-256 over canonical JSON of its rows, where every content field (prompts, outputs,
sentences) enters as the SHA-256 of its text. Erasure replaces the text with `erased:sha256:<that digest>`, so
the record's digest, and the chain, still verify after the content is gone (storage/erasure.py).

Hashes follow RFC 6962's domain separation: leaf = H(0x00 || canonical entry), link = H(0x01 || previous link ||
leaf), the first link's previous being 32 zero bytes. Appends lock the chain's head row, so two processes writing
at once extend a chain one after the other. `verify` walks every chain and checks each record's latest digest
against the rows as they are now.

Modules: `digest` (canonical digests and hashes), `records` (a record read back for its digest), `sqlite_records`
(the same digests straight from a SQLite file's stored rows, verify's reader there), `links` (appending), `walk`
(one chain checked, here or in worker processes), `verification` (`verify`).
"""

from storage.chain.digest import (
    CONTENT_COLUMNS,
    ERASED,
    GENESIS,
    canonical,
    content_digest,
    erased_marker,
    erased_options,
    leaf_hash,
    link_hash,
    record_digest,
    row_view,
    sha256,
)
from storage.chain.records import (
    CLOSED_STATUSES,
    current_records,
    moderation_record,
    record_view,
    request_children,
    request_record,
    request_records,
)
from storage.chain.links import (
    CHECKPOINT_EVERY,
    Link,
    append,
    append_chains,
    append_many,
    chain_fact,
    chain_moderation,
    chain_request,
    chain_requests,
)
from storage.chain.walk import Broken, Report
from storage.chain.verification import current_heads, parse_pin, verify
from storage.models import NO_GUILD

__all__ = [
    "Broken",
    "CHECKPOINT_EVERY",
    "CLOSED_STATUSES",
    "CONTENT_COLUMNS",
    "ERASED",
    "GENESIS",
    "Link",
    "NO_GUILD",
    "Report",
    "append",
    "append_chains",
    "append_many",
    "canonical",
    "chain_fact",
    "chain_moderation",
    "chain_request",
    "chain_requests",
    "content_digest",
    "current_heads",
    "current_records",
    "erased_marker",
    "erased_options",
    "leaf_hash",
    "link_hash",
    "moderation_record",
    "parse_pin",
    "record_digest",
    "record_view",
    "request_children",
    "request_record",
    "request_records",
    "row_view",
    "sha256",
    "verify",
]
