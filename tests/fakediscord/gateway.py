"""The fake's gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME with replay, member chunks.

Frames are plain JSON text: discord.py only inflates binary frames, so the zlib stream it asks for is not needed.
A session outlives its socket, as Discord's does: what is dispatched while the socket is down is replayed when
the client RESUMEs. Sharding as Discord does it: an IDENTIFY with `shard: [id, count]` opens a session of its own that
gets only the guilds with `(guild_id >> 22) % count == id` (and direct messages on shard 0); one bot's shards, or
several bot processes, each hold one.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from .world import World

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE_UPDATE = 0, 1, 2, 3
OP_RESUME, OP_REQUEST_GUILD_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 6, 8, 9, 10, 11
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT


@dataclass(eq=False)
class GatewaySession:
    """One IDENTIFY's session: survives a dropped socket, and replays what the client missed on RESUME."""

    session_id: str
    intents: int
    shard: list[int] | None
    ws: web.WebSocketResponse | None
    sequence: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session's shard gets the guild's events (direct messages, `None`, go to shard 0)."""
        if not self.shard:
            return True
        shard_id, count = self.shard
        return (guild_id >> 22) % count == shard_id if guild_id is not None else shard_id == 0


class Gateway:
    """The websocket endpoint: sessions (one per shard), heartbeats, resumes, and dispatch to the client."""

    def __init__(self, fake: World, heartbeat_interval_ms: int) -> None:
        self.fake = fake
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.reset()

    def reset(self) -> None:
        self.session: GatewaySession | None = None
        """The latest IDENTIFY's session (with sharding, `sessions` holds every shard's)."""
        self.sessions: list[GatewaySession] = []
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.presence: dict[str, Any] | None = None
        """The last PRESENCE_UPDATE the bot sent."""

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}))
        try:
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                op, data = message.get("op"), message.get("d")
                if op == OP_HEARTBEAT:
                    self.heartbeats += 1
                    await ws.send_str(json.dumps({"op": OP_HEARTBEAT_ACK}))
                elif op == OP_IDENTIFY:
                    await self._identify(ws, data)
                elif op == OP_RESUME:
                    await self._resume(ws, data)
                elif op == OP_REQUEST_GUILD_MEMBERS:
                    await self._send_member_chunk(data)
                elif op == OP_PRESENCE_UPDATE:
                    self.presence = data
                self.fake.changes.notify()
        finally:
            for session in self.sessions:
                if session.ws is ws:
                    session.ws = None
            self.fake.changes.notify()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        fake = self.fake
        if data.get("token") != fake.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = data.get("intents")
        if intents is None:
            await ws.close(code=4013, message=b"Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~fake.enabled_privileged_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard")
        if shard is not None and not (len(shard) == 2 and 0 <= shard[0] < shard[1]):
            await ws.close(code=4010, message=b"Invalid shard.")
            return
        self.identifies += 1
        session = GatewaySession(session_id=uuid.uuid4().hex, intents=intents, shard=shard, ws=ws)
        # A new IDENTIFY replaces the session of the same shard (a client that could not resume); other shards stay.
        self.sessions = [kept for kept in self.sessions if kept.shard and shard and kept.shard != shard] + [session]
        self.session = session
        guilds = [guild for guild in fake.guilds.values() if session.owns(guild.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": fake.current_user_payload(),
            "guilds": [{"id": str(guild.id), "unavailable": True} for guild in guilds],
            "session_id": self.session.session_id,
            "resume_gateway_url": fake.gateway_url,
            "application": {"id": str(fake.application_id), "flags": fake.application_flags()},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "presences": [],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self.dispatch("READY", ready, session=session)
        if intents & INTENT_GUILDS:
            for guild in guilds:
                # Without the presences intent Discord lists only the bot itself; the rest come by chunking.
                everyone = intents & INTENT_GUILD_PRESENCES
                members = list(guild.members.values()) if everyone else [guild.member(fake.bot_user)]
                await self.dispatch(
                    "GUILD_CREATE", guild.payload(members=members, bot_user_id=fake.bot_user.id), session=session
                )

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        session = next((known for known in self.sessions if known.session_id == data.get("session_id")), None)
        if session is None or data.get("token") != self.fake.token:
            await ws.send_str(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
            return
        session.ws = ws
        seen = data.get("seq") or 0
        for frame in [frame for frame in session.sent if frame["s"] > seen]:
            await ws.send_str(json.dumps(frame))
        self.resumes += 1
        await self.dispatch("RESUMED", {}, session=session)

    async def _send_member_chunk(self, data: dict[str, Any]) -> None:
        guild = self.fake.guilds.get(int(data["guild_id"]))
        if guild is None:
            return
        members = list(guild.members.values())
        if data.get("user_ids"):
            wanted = {int(user_id) for user_id in data["user_ids"]}
            members = [member for member in members if member.user.id in wanted]
        else:
            query = (data.get("query") or "").lower()
            members = [member for member in members if member.user.username.lower().startswith(query)]
            members = members[: data.get("limit") or None]
        chunk = {
            "guild_id": str(guild.id),
            "members": [member.payload() for member in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": data.get("nonce"),
        }
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def dispatch(self, event: str, data: dict[str, Any], *, session: GatewaySession | None = None) -> None:
        """Send to `session`, or to the session whose shard owns the event's guild."""
        if session is None:
            guild_id = data.get("guild_id")
            owners = [known for known in self.sessions if known.owns(int(guild_id) if guild_id else None)]
            if self.sessions and not owners:
                return  # the shard that owns this guild is not connected: no one receives it
            session = owners[-1] if owners else self.require_session()
        session.sequence += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": session.sequence, "d": data}
        session.sent.append(frame)
        if session.ws is not None and not session.ws.closed:
            with contextlib.suppress(ConnectionResetError):  # the frame is replayed on RESUME
                await session.ws.send_str(json.dumps(frame))

    async def dispatch_if_connected(self, event: str, data: dict[str, Any]) -> None:
        if self.session is not None:
            await self.dispatch(event, data)

    def require_session(self) -> GatewaySession:
        if self.session is None:
            raise RuntimeError("no bot has identified: start one with `async with fake.run_bot(bot)`")
        return self.session

    async def drop_socket(self, *, code: int, wait: bool, timeout: float) -> None:
        ws = self.require_session().ws
        if ws is None:
            raise RuntimeError("the gateway socket is already down")
        resumes = self.resumes
        await ws.close(code=code, message=b"dropped by the test")
        if wait:
            await self.fake.wait_for(lambda: self.resumes > resumes, timeout)
