"""Audit exports of provenance records (storage/audit `Record`s): CSV (one row per request), JSONL (one whole
record per line) and PROV-JSON (W3C PROV-DM in its JSON serialisation, https://www.w3.org/submissions/prov-json/).

The PROV graph of one request:

    member (Agent, prov:Person) ──wasAttributedTo── prompt (Entity)
    request (Activity) ──used── prompt;  wasAssociatedWith member (requester) and policy (guardrails)
    generation (Activity, one per attempt) ──used── prompt;  wasInformedBy request;
        wasAssociatedWith model (prov:SoftwareAgent), policy (storyloom:GuardrailPolicy) and member (requester)
    output (Entity, one per attempt) ──wasGeneratedBy── generation;  wasAttributedTo model;  wasDerivedFrom prompt
    story turn (Entity, storyloom:StoryTurn) ──wasDerivedFrom── output of a story request that continues it (its
        options name `story_session` and `parent_turn`); outputs and turns carry `storyloom:storySession`

Content that was erased (storage/erasure.py) is exported as `[erased]`, with its digest in CSV/JSONL.

CSV cells are safe to open in a spreadsheet: a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return
(OWASP's list for CSV injection) is written with a leading `'`, so that `=HYPERLINK(...)` in a prompt stays text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterable, Callable
from datetime import datetime
from typing import Any, Final, TextIO

from storage.audit import NON_PASS, Record
from storage.models import aware
from storage.chain import ERASED

FORMATS: Final = ("csv", "jsonl", "prov-json")
EXTENSIONS: Final = {"csv": "csv", "jsonl": "jsonl", "prov-json": "prov.json"}
MEDIA_TYPES: Final = {"csv": "text/csv", "jsonl": "application/x-ndjson", "prov-json": "application/json"}
PROV_PREFIXES: Final = {
    "storyloom": "urn:storyloom:",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "prov": "http://www.w3.org/ns/prov#",
}

CSV_COLUMNS: Final = (
    "request_id", "created_at", "updated_at", "guild_id", "channel_id", "user_id", "user_name", "interface",
    "command", "kind", "options", "prompt", "parent_request_id", "status", "status_reason", "policy_hash",
    "attempts", "engine", "model_id", "seed", "params", "template_version", "prompt_tokens", "output_tokens",
    "finish_reason", "shown_output", "raw_output", "verdicts", "not_passed", "not_passed_categories",
    "message_ids", "review", "votes_up", "votes_down", "chain", "chain_seq", "chain_hash",
)  # fmt: skip


def _iso(moment: datetime | None) -> str | None:
    moment = aware(moment)
    return None if moment is None else moment.isoformat()


def _text(value: str | None) -> str | None:
    """Erased content reads as such; its digest stays in the JSON record's `*_digest` field."""
    if value is not None and value.startswith(ERASED):
        return "[erased]"
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, str) and value.startswith(ERASED):
            out[key] = "[erased]"
            out[f"{key}_digest"] = value[len(ERASED) :]
        else:
            out[key] = _jsonable(value)
    return out


def record_json(record: Record) -> dict[str, Any]:
    """The whole record as JSON-ready data: the request, every attempt, verdict, message, review, chain position."""
    chain = record.chain
    return {
        "request": row_json(record.request),
        "generations": [row_json(row) for row in record.generations],
        "verdicts": [row_json(row) for row in record.verdicts],
        "deliveries": [row_json(row) for row in record.deliveries],
        "reviews": [row_json(row) for row in record.reviews],
        "votes": {"up": record.votes[0], "down": record.votes[1]},
        "chain": None
        if chain is None
        else {"chain": chain.chain, "seq": chain.seq, "chain_hash": chain.chain_hash, "chained_at": _iso(chain.created_at)},
    }


def csv_row(record: Record) -> dict[str, Any]:
    request, final = record.request, record.final_generation or {}
    flags = record.flags
    review = record.reviews[-1] if record.reviews else None
    chain = record.chain
    return _neutralised({
        "request_id": request["id"],
        "created_at": _iso(request["created_at"]),
        "updated_at": _iso(request.get("updated_at")),
        "guild_id": request.get("guild_id"),
        "channel_id": request.get("channel_id"),
        "user_id": request["user_id"],
        "user_name": _text(request.get("user_name")),
        "interface": request.get("interface"),
        "command": request["command"],
        "kind": request.get("kind"),
        "options": json.dumps(request.get("options") or {}, sort_keys=True),
        "prompt": _text(request.get("prompt")),
        "parent_request_id": request.get("parent_request_id"),
        "status": request["status"],
        "status_reason": request.get("status_reason"),
        "policy_hash": request.get("policy_hash"),
        "attempts": len(record.generations),
        "engine": final.get("engine"),
        "model_id": final.get("model_id"),
        "seed": final.get("seed"),
        "params": json.dumps(final.get("params") or {}, sort_keys=True) if final else None,
        "template_version": final.get("template_version"),
        "prompt_tokens": final.get("prompt_tokens"),
        "output_tokens": final.get("output_tokens"),
        "finish_reason": final.get("finish_reason"),
        "shown_output": _text(final.get("shown_output")),
        "raw_output": _text(final.get("raw_output")),
        "verdicts": len(record.verdicts),
        "not_passed": "; ".join(
            f"{v['stage']} {v['rail']} {v['decision']}" + (f" {v['category']}" if v.get("category") else "") for v in flags
        ),
        "not_passed_categories": " ".join(sorted({v["category"] for v in flags if v.get("category")})),
        "message_ids": " ".join(str(d["message_id"]) for d in record.deliveries if d.get("message_id") is not None),
        "review": None if review is None else f"#{review['id']} {review['status']}",
        "votes_up": record.votes[0],
        "votes_down": record.votes[1],
        "chain": None if chain is None else chain.chain,
        "chain_seq": None if chain is None else chain.seq,
        "chain_hash": None if chain is None else chain.chain_hash,
    })  # fmt: skip


FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
"""OWASP's CSV injection rule: a cell starting with one of these is read as a formula by spreadsheet programs."""


def _neutralised(row: dict[str, Any]) -> dict[str, Any]:
    """Text cells that a spreadsheet would run as a formula get a leading `'` (shown as text, the `'` hidden);
    the csv module quotes what needs it. The JSONL and PROV-JSON exports keep every text exactly as stored."""
    return {
        key: "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value
        for key, value in row.items()
    }


# -- PROV-JSON -----------------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def _local(text: str) -> str:
    """A qualified name's local part: letters, digits, `_ . -` (others become `_`)."""
    return _UNSAFE.sub("_", text)


def _qname(value: str) -> dict[str, str]:
    return {"$": value, "type": "prov:QUALIFIED_NAME"}


def _time(moment: datetime | None) -> dict[str, str] | None:
    iso = _iso(moment)
    return None if iso is None else {"$": iso, "type": "xsd:dateTime"}


def _attributes(**values: Any) -> dict[str, Any]:
    """PROV attributes without the empty ones; keys given as `prov_type` become `prov:type`."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        name = key.replace("prov_", "prov:", 1) if key.startswith("prov_") else f"storyloom:{key}"
        out[name] = value
    return out


class ProvDocument:
    """Accumulates records into one PROV-JSON document (`to_json()`)."""

    SECTIONS: Final = (
        "entity", "activity", "agent", "used", "wasGeneratedBy", "wasAssociatedWith", "wasAttributedTo",
        "wasDerivedFrom", "wasInformedBy",
    )  # fmt: skip

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, Any]] = {section: {} for section in self.SECTIONS}
        self._counter = 0

    def _relation(self, section: str, **members: Any) -> None:
        self._counter += 1
        self.sections[section][f"_:{section}{self._counter}"] = {
            key.replace("prov_", "prov:", 1): value for key, value in members.items() if value is not None
        }

    def _associate(self, activity: str, agent: str, role: str) -> None:
        self._relation("wasAssociatedWith", prov_activity=activity, prov_agent=agent, prov_role=_qname(f"storyloom:{role}"))

    def _agent(self, identifier: str, attributes: dict[str, Any]) -> str:
        self.sections["agent"].setdefault(identifier, attributes)
        return identifier

    def add(self, record: Record) -> None:
        request = record.request
        rid = request["id"]
        member = self._agent(
            f"storyloom:member_{request['user_id']}",
            _attributes(
                prov_type=_qname("prov:Person"), userId=str(request["user_id"]), prov_label=_text(request.get("user_name"))
            ),
        )
        policy = None
        if request.get("policy_hash"):
            policy = self._agent(
                f"storyloom:policy_{request['policy_hash'][:32]}",
                _attributes(prov_type=_qname("storyloom:GuardrailPolicy"), policyHash=request["policy_hash"]),
            )
        prompt = f"storyloom:prompt_{rid}"
        self.sections["entity"][prompt] = _attributes(
            prov_type=_qname("storyloom:Prompt"),
            prov_value=_text(request.get("prompt")) or "",
            command=request["command"],
            kind=request.get("kind"),
            options=json.dumps(request.get("options") or {}, sort_keys=True),
            guildId=None if request.get("guild_id") is None else str(request["guild_id"]),
            channelId=None if request.get("channel_id") is None else str(request["channel_id"]),
        )
        self._relation("wasAttributedTo", prov_entity=prompt, prov_agent=member)

        handling = f"storyloom:request_{rid}"
        self.sections["activity"][handling] = _attributes(
            prov_type=_qname("storyloom:Request"),
            prov_startTime=_time(request["created_at"]),
            prov_endTime=_time(request.get("updated_at")),
            status=request["status"],
            statusReason=request.get("status_reason"),
            continues=request.get("parent_request_id"),
            interface=request.get("interface"),
            chainSeq=None if record.chain is None else record.chain.seq,
            chainHash=None if record.chain is None else record.chain.chain_hash,
        )
        self._relation("used", prov_activity=handling, prov_entity=prompt, prov_time=_time(request["created_at"]))
        self._associate(handling, member, "requester")
        if policy is not None:
            self._associate(handling, policy, "guardrails")

        delivered = request["status"] == "delivered"
        messages = " ".join(
            str(d["message_id"]) for d in record.deliveries if d.get("message_id") is not None and d["kind"] != "notice"
        )
        last = record.generations[-1]["id"] if record.generations else None
        options = request.get("options") or {}
        session = options.get("story_session")
        parent_turn = None
        if session is not None and options.get("parent_turn") is not None and record.generations:
            parent_turn = f"storyloom:story_{_local(str(session))}_turn_{_local(str(options['parent_turn']))}"
            self.sections["entity"].setdefault(
                parent_turn,
                _attributes(
                    prov_type=_qname("storyloom:StoryTurn"), storySession=str(session),
                    turnNumber=options["parent_turn"], requestId=request.get("parent_request_id"),
                ),
            )  # fmt: skip
        for generation in record.generations:
            gid = generation["id"]
            model = self._agent(
                f"storyloom:model_{_local(generation['engine'])}_{_local(generation['model_id'])}",
                _attributes(prov_type=_qname("prov:SoftwareAgent"), engine=generation["engine"], modelId=generation["model_id"]),
            )
            activity = f"storyloom:generation_{gid}"
            self.sections["activity"][activity] = _attributes(
                prov_type=_qname("storyloom:Generation"),
                prov_startTime=_time(generation.get("created_at")),
                attempt=generation.get("attempt"),
                seed=None if generation.get("seed") is None else str(generation["seed"]),
                params=json.dumps(generation.get("params") or {}, sort_keys=True),
                templateVersion=generation.get("template_version"),
                promptTokens=generation.get("prompt_tokens"),
                outputTokens=generation.get("output_tokens"),
                finishReason=generation.get("finish_reason"),
            )
            self._relation("used", prov_activity=activity, prov_entity=prompt, prov_role=_qname("storyloom:prompt"))
            self._relation("wasInformedBy", prov_informed=activity, prov_informant=handling)
            self._associate(activity, model, "model")
            if policy is not None:
                self._associate(activity, policy, "guardrails")
            self._associate(activity, member, "requester")

            checks = [v for v in record.verdicts if v.get("generation_id") == gid]
            output = f"storyloom:output_{gid}"
            self.sections["entity"][output] = _attributes(
                prov_type=_qname("storyloom:Output"),
                prov_value=_text(generation.get("shown_output")) or "",
                rawOutput=_text(generation.get("raw_output")),
                shown=bool(delivered and gid == last),
                status=request["status"] if gid == last else "superseded",
                checks=len(checks),
                notPassed="; ".join(
                    f"{v['rail']} {v['decision']}" + (f" {v['category']}" if v.get("category") else "")
                    for v in checks
                    if v["decision"] in NON_PASS
                ),
                messageIds=messages if gid == last else None,
                storySession=None if session is None else str(session),
            )
            generated = _time(generation.get("created_at"))
            self._relation("wasGeneratedBy", prov_entity=output, prov_activity=activity, prov_time=generated)
            self._relation("wasAttributedTo", prov_entity=output, prov_agent=model)
            self._relation("wasDerivedFrom", prov_generatedEntity=output, prov_usedEntity=prompt, prov_activity=activity)
            if parent_turn is not None:  # an AI turn continues the story's turn before it
                self._relation(
                    "wasDerivedFrom", prov_generatedEntity=output, prov_usedEntity=parent_turn, prov_activity=activity
                )

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"prefix": dict(PROV_PREFIXES)}
        document.update({section: values for section, values in self.sections.items() if values})
        return document


# -- writing ---------------------------------------------------------------------------------------------------------


async def write_export(
    records: AsyncIterable[Record], fmt: str, out: TextIO, *, progress: Callable[[int], Any] | None = None
) -> int:
    """Write every record to `out` in `fmt`; returns how many. `progress(1)` is called once per record."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")
    count = 0
    document = ProvDocument() if fmt == "prov-json" else None
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="raise") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    async for record in records:
        if writer is not None:
            writer.writerow(csv_row(record))
        elif document is not None:
            document.add(record)
        else:
            out.write(json.dumps(record_json(record), ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
        if progress is not None:
            progress(1)
    if document is not None:
        json.dump(document.to_dict(), out, ensure_ascii=False, indent=1, sort_keys=True)
        out.write("\n")
    return count


async def export_bytes(records: AsyncIterable[Record], fmt: str) -> tuple[bytes, int]:
    buffer = io.StringIO(newline="")
    count = await write_export(records, fmt, buffer)
    return buffer.getvalue().encode(), count
