"""A loopback Discord: the gateway websocket, the REST routes a bot uses, and a driver that acts as the users.

`FakeDiscord` is an aiohttp server on 127.0.0.1 (random port) that a real, unpatched discord.py client talks to
once `pointed_at(fake)` has aimed discord.py's two base URLs at it. It keeps the world (guilds, channels, roles,
members, messages, synced commands) in memory, enforces the Discord rules a bot must live with, and records
each breach as a `Violation` instead of letting it pass silently:

- a message body over Discord's limits (content > 2,000 characters, embeds, files) gets Discord's 400 (50035);
- an interaction acknowledged after 3 s gets 404 Unknown interaction and a `late_ack` violation with the delay;
- a follow-up or edit with a token older than 15 minutes gets 401 and an `expired_token` violation;
- every message write keeps the `allowed_mentions` sent with it and whether it could ping (`MessageWrite`);
- a DM to a bot, or to a user whose `dms_open` is False, gets 403 50007 (the DM channel itself still opens);
- threads: a name of 1 to 100 characters and a valid `auto_archive_duration` (else 50035), one thread per message
  (160004), SEND_MESSAGES_IN_THREADS to post in one, any write to an archived thread 400 50083 until unarchived.

The driver methods (`slash`, `message_command`, `user_command`, `click`, `post_message`, `delete_message`,
`bulk_delete`, `start_thread`, `join_thread`, `leave_thread`, `drop_socket`) refuse, with `ClientRejected`, what
Discord's own client would not let a user do: an unsynced command, a command hidden by `default_member_permissions`
or age restriction, a missing or invalid option, a button that is not there, deleting someone else's message
without Manage Messages, posting in a thread without SEND_MESSAGES_IN_THREADS or in a locked one.

`FakeDiscord` is composed of mixins over one `World` (world.py: the state and the lookups all share): the REST
areas under `rest/`, the write path every message takes (writes.py), threads (threads.py) and the driver's users
under `driver/`. This module holds the routing table, start and stop, and the middleware that records violations.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import discord
import yarl
from aiohttp import web

from .driver.commands import CommandActions
from .driver.members import MemberActions
from .errors import DiscordHTTPError, unauthorized
from .records import Fault, InteractionRecord, RestCall, Violation
from .rest.applications import ApplicationRoutes
from .rest.http import API_PREFIX, INTERACTION_ID, json_response, route_name
from .rest.interactions import InteractionRoutes
from .rest.messages import MessageRoutes
from .rest.threads import ThreadRoutes
from .rest.users import UserRoutes
from .rest.webhooks import WebhookRoutes

FAST_CLIENT_OPTIONS: dict[str, Any] = {"guild_ready_timeout": 0.01}
"""Client options for tests: `on_ready` waits this long after the last GUILD_CREATE (2 s by default)."""

ClientT = TypeVar("ClientT", bound=discord.Client)


class FakeDiscord(
    UserRoutes,
    ApplicationRoutes,
    MessageRoutes,
    ThreadRoutes,
    InteractionRoutes,
    WebhookRoutes,
    CommandActions,
    MemberActions,
):
    """The server, its world, the records tests assert on, and the driver that plays the users."""

    _runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._rest_middleware], client_max_size=256 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._download_attachment)
        api = API_PREFIX
        app.router.add_get(f"{api}/users/@me", self._get_current_user)
        app.router.add_post(f"{api}/users/@me/channels", self._open_dm)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._get_application)
        app.router.add_get(f"{api}/gateway/bot", self._get_gateway_bot)
        for commands in (
            f"{api}/applications/{{application_id}}/commands",
            f"{api}/applications/{{application_id}}/guilds/{{guild_id}}/commands",
        ):
            app.router.add_get(commands, self._get_commands)
            app.router.add_put(commands, self._put_commands)
        app.router.add_get(f"{api}/channels/{{channel_id}}", self._get_channel)
        app.router.add_patch(f"{api}/channels/{{channel_id}}", self._edit_channel)
        app.router.add_delete(f"{api}/channels/{{channel_id}}", self._delete_channel)
        app.router.add_post(f"{api}/channels/{{channel_id}}/threads", self._start_thread_without_message)
        app.router.add_post(
            f"{api}/channels/{{channel_id}}/messages/{{message_id}}/threads", self._start_thread_from_message
        )
        app.router.add_get(f"{api}/channels/{{channel_id}}/thread-members", self._get_thread_members)
        thread_member = f"{api}/channels/{{channel_id}}/thread-members/{{user_id}}"  # user_id may be @me
        app.router.add_get(thread_member, self._get_thread_member)
        app.router.add_put(thread_member, self._add_thread_member_route)
        app.router.add_delete(thread_member, self._remove_thread_member_route)
        app.router.add_post(f"{api}/channels/{{channel_id}}/messages", self._create_channel_message)
        # Registered before `messages/{message_id}`, which would otherwise take "pins" for a message id.
        app.router.add_get(f"{api}/channels/{{channel_id}}/messages/pins", self._get_pins)
        app.router.add_put(f"{api}/channels/{{channel_id}}/messages/pins/{{message_id}}", self._pin)
        app.router.add_delete(f"{api}/channels/{{channel_id}}/messages/pins/{{message_id}}", self._unpin)
        app.router.add_get(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self._get_channel_message)
        app.router.add_patch(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self._edit_channel_message)
        app.router.add_delete(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self._delete_channel_message)
        app.router.add_post(f"{api}/interactions/{{interaction_id}}/{{token}}/callback", self._interaction_callback)
        app.router.add_post(f"{api}/webhooks/{{application_id}}/{{token}}", self._create_followup)
        webhook_message = f"{api}/webhooks/{{application_id}}/{{token}}/messages/{{message_id}}"
        app.router.add_get(webhook_message, self._get_webhook_message)
        app.router.add_patch(webhook_message, self._edit_webhook_message)
        app.router.add_delete(webhook_message, self._delete_webhook_message)

        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- asserting and faults ------------------------------------------------------------------------------

    def unacknowledged(self) -> list[InteractionRecord]:
        """Interactions whose 3 s have passed without any acknowledgement (the user saw "interaction failed")."""
        now = self.clock()
        return [
            r for r in self.interactions.values() if r.callback is None and now - r.dispatched_at > self.ack_deadline_s
        ]

    def assert_clean(self) -> None:
        """No rule broken, no route the fake lacks, no interaction left unacknowledged."""
        problems = [f"{v.kind}: {v.status} {v.code} {v.message} on {v.route} {v.errors or ''}" for v in self.violations]
        problems += [f"unmodelled route: {call}" for call in self.unmodelled]
        problems += [f"interaction {r.id} never acknowledged" for r in self.unacknowledged()]
        assert not problems, "fake Discord saw problems:\n" + "\n".join(problems)

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 429,
        retry_after: float = 0.05,
        is_global: bool = False,
        match: str | None = None,
    ) -> None:
        """Answer the next `count` REST calls matching `match` (substring of `METHOD /path`) with `status`.

        A 429 carries the `Via` header and JSON `retry_after` of a real Discord rate limit (discord.py retries it);
        a 5xx carries Discord's JSON error body. Faults are logged in `faults_served`, not as violations.
        """
        self.faults.append(
            Fault(status=status, remaining=count, retry_after=retry_after, is_global=is_global, match=match)
        )

    async def drop_socket(self, *, code: int = 4000, wait: bool = True, timeout: float = 10.0) -> None:
        """Close the gateway socket as a network blip would; by default wait until the client has RESUMEd."""
        await self.gateway.drop_socket(code=code, wait=wait, timeout=timeout)

    # -- REST plumbing -------------------------------------------------------------------------------------

    @web.middleware
    async def _rest_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        path = request.path.removeprefix(API_PREFIX)
        call = f"{request.method} {path}"
        fault = next((f for f in self.faults if f.remaining > 0 and (f.match is None or f.match in call)), None)
        response: web.StreamResponse
        if fault is not None:
            fault.remaining -= 1
            self.faults_served.append(call)
            response = self._fault_response(fault)
        else:
            try:
                # Interaction callbacks and webhooks are authorised by the token in their path, not a bot token.
                bot_route = not path.startswith(("/webhooks/", "/interactions/"))
                if bot_route and request.headers.get("Authorization") != f"Bot {self.token}":
                    raise unauthorized()
                response = await handler(request)
            except DiscordHTTPError as error:
                self.violations.append(
                    Violation(
                        kind=error.kind,
                        status=error.status,
                        code=error.code,
                        message=error.message,
                        route=route_name(request),
                        at=self.clock(),
                        errors=error.errors,
                        interaction_id=request.get(INTERACTION_ID),
                        late_by=error.late_by,
                    )
                )
                response = json_response(error.body(), status=error.status)
            except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as missing:
                self.unmodelled.append(call)
                response = json_response({"message": f"{missing.status}: Not Found", "code": 0}, status=404)
        self.requests.append(RestCall(request.method, path, response.status, self.clock()))
        self.changes.notify()
        return response

    def _fault_response(self, fault: Fault) -> web.Response:
        if fault.status != 429:
            return json_response({"message": f"{fault.status}: Server error", "code": 0}, status=fault.status)
        headers = {
            "Via": "1.1 google",  # without it discord.py takes a 429 for a Cloudflare ban and gives up
            "Retry-After": str(max(1, round(fault.retry_after))),
            "X-RateLimit-Scope": "global" if fault.is_global else "user",
        }
        if fault.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": fault.is_global,
            "code": 0,
        }
        return json_response(body, status=429, headers=headers)

    # -- running a bot -------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def run_bot(self, bot: ClientT, *, timeout: float = 10.0) -> AsyncIterator[ClientT]:
        """Log `bot` in with the fake's token, wait for `on_ready`, and close it on exit."""
        if discord.http.Route.BASE != self.api_base:
            raise RuntimeError(
                "discord.py is not pointed at this fake: use `pointed_at(fake)` or the fake_discord fixture"
            )
        runner = asyncio.create_task(bot.start(self.token))
        try:
            deadline = time.monotonic() + timeout
            while not bot.is_ready():
                if runner.done():
                    runner.result()
                    raise RuntimeError("the bot stopped before it was ready")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the bot was not ready within {timeout} s; {self.describe()}")
                await asyncio.sleep(0.01)
            yield bot
        finally:
            await bot.close()
            await runner


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Aim discord.py's REST base (webhooks and interaction callbacks use it too) and gateway at `fake`."""
    previous = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous
