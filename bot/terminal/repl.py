"""Terminal mode: the same core and commands as Discord, typed as text, streamed to stdout.

On a terminal it is an interactive prompt; otherwise it reads one command per line and exits 0 at end of input,
so scripts can drive it. The local user is the administrator of a local guild.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from bot.terminal.parser import USAGE, CommandError, TypedCommand, parse
from bot.config import Settings
from bot.core import pieces
from bot.core.app import Core, freeze_startup_heap
from bot.core.request import Author, Outcome, Posted, WriteJob
from bot.shutdown import StopSignals
from bot.core.visible import for_terminal

log = logging.getLogger(__name__)

LOCAL_USER_ID = 1
WRITING_NOTE_AFTER_S = 0.25
"""A request that shows nothing for this long says "writing…": the first sentence can take seconds."""


class _Terminal:
    """The terminal mode's stdout. A reader that leaves (`storyloom local < script | head`) is no error inside a
    request: writes are dropped from then on and `on_gone` ends the session (what is open is interrupted)."""

    def __init__(self, out: TextIO, on_gone: Callable[[], None]) -> None:
        self._out = out
        self._on_gone = on_gone
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self._out.write(text)
            except BrokenPipeError:
                self._left()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._out.flush()
            except BrokenPipeError:
                self._left()

    def isatty(self) -> bool:
        return self._out.isatty()

    def _left(self) -> None:
        self.gone = True
        self._on_gone()


class TerminalSink:
    """Prints text as it passes the rails; a withdrawn text is marked as such (a terminal cannot unprint)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._printed = ""
        self._said_anything = False

    def note_writing(self) -> None:
        """Called when the first text is slow to come: one line that says the bot is at work."""
        if not self._said_anything:
            self._out.write("writing…\n")
            self._out.flush()

    async def show(self, text: str) -> None:
        self._said_anything = True
        self._out.write(text[len(self._printed) :])
        self._out.flush()
        self._printed = text

    async def restart(self, note: str) -> None:
        self._out.write(f"\n[the text above was withdrawn]\n{note}\n")
        self._out.flush()
        self._printed = ""

    async def deliver(self, text: str, footer: str) -> list[Posted]:
        self._said_anything = True
        kept = len(os.path.commonprefix([self._printed, text]))
        rest = text[kept:]
        if kept < len(self._printed):  # the end was cut back to a whole sentence, and a terminal cannot unprint
            # The shown text may share the line break that begins the note after the piece: quote the piece's end
            # without it, and start what follows on a line of its own.
            self._out.write(f"\n[cut back: the piece ends at “…{text[:kept].rstrip()[-40:].lstrip()}”]\n")
            rest = rest.lstrip("\n")
        # Discord's small-text marker means nothing in a terminal (the footer drops it too).
        self._out.write("\n".join(line.removeprefix("-# ") for line in rest.split("\n")))
        self._out.write(f"\n{footer.removeprefix('-# ')}\n")
        self._out.flush()
        return [Posted(None, None, "message")]

    async def refuse(self, message: str, footer: str) -> list[Posted]:
        self._said_anything = True
        if self._printed:
            self._out.write("\n[the text above was withdrawn]")
        self._out.write(f"\n{message}\n{footer.removeprefix('-# ')}\n")
        self._out.flush()
        return [Posted(None, None, "notice")]


def _verdict_lines(outcome: Outcome) -> list[str]:
    lines = []
    for verdict in outcome.verdicts:
        worst = max(verdict.scores.items(), key=lambda item: item[1], default=("-", 0.0))
        where = verdict.stage if verdict.chunk_index is None else f"{verdict.stage}#{verdict.chunk_index}"
        lines.append(f"  [{where}] {verdict.rail}/{verdict.backend}: {verdict.decision} ({worst[0]} {worst[1]:.2f})")
    return lines


async def run_command(core: Core, author: Author, command: TypedCommand, out: TextIO) -> Outcome | None:
    out = for_terminal(out)  # stored text (members' words, model output) cannot drive the terminal
    if command.name == "help":
        out.write(USAGE + "\n")
        return None
    if command.name == "audit":
        from bot.audit.commands import run_typed_audit

        await run_typed_audit(core, author, command.text, out)
        return None
    if command.name == "story":
        await run_story(core, author, command, out)
        return None
    if command.name in ("mine", "privacy"):
        from bot.terminal.member import run_typed_member_command

        await run_typed_member_command(core, author, command, out)
        return None
    if command.name == "write":
        job = WriteJob(
            command="write",
            kind=command.kind,
            prompt=command.text,
            genre=command.options.get("genre"),
            tone=command.options.get("tone"),
            length=command.options.get("length", "medium"),
        )
    else:
        previous = await pieces.last_piece(core, guild_id=author.guild_id, user_id=author.user_id)
        job = WriteJob(
            command="continue",
            kind=previous.kind if previous else None,
            prompt=command.text,
            length=command.options.get("length", "medium"),
            previous_text=previous.text if previous else None,
            previous_checked=True,
            parent_request_id=previous.request_id if previous else None,
        )
    sink = TerminalSink(out)
    slow = asyncio.get_running_loop().call_later(WRITING_NOTE_AFTER_S, sink.note_writing)
    try:
        outcome = await core.pipeline.run(author, job, sink)
    finally:
        slow.cancel()
    out.write(f"[{outcome.status.value}]\n" + "\n".join(_verdict_lines(outcome)) + "\n")
    out.flush()
    return outcome


async def run_local(
    settings: Settings, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout, *, freeze_heap: bool = False
) -> int:
    """Serve typed commands until end of input, `/quit`, or SIGTERM/SIGINT (then drain: see `Core.drain`).

    `freeze_heap`: the process's own entry point (see `freeze_startup_heap`)."""
    interactive = stdin.isatty()
    stopping = asyncio.Event()
    core: Core | None = None

    def reader_left() -> None:
        log.warning("the terminal's reader has gone (a closed pipe): stopping, and interrupting what is open")
        stopping.set()
        if core is not None:
            core.pipeline.hurry()

    terminal = _Terminal(out, reader_left)
    out = for_terminal(terminal)  # type: ignore[arg-type]
    if interactive:
        out.write("Storyloom: loading the model and guardrails…\n")
        out.flush()
    core = await Core.start(settings)
    if freeze_heap:
        freeze_startup_heap()
    author = Author(
        interface="local",
        user_id=LOCAL_USER_ID,
        user_name=getpass.getuser(),
        guild_id=settings.guild_id_for_local,
        channel_id=None,
        exempt_from_rate_limit=True,
    )
    signals = StopSignals(stopping.set, core.pipeline.hurry)
    serve = asyncio.create_task(_serve(core, author, _LineReader(stdin, interactive), out, interactive), name="local")
    stop = asyncio.create_task(stopping.wait())
    try:
        with signals.installed():
            await asyncio.wait((serve, stop), return_when=asyncio.FIRST_COMPLETED)
            if serve.done():
                serve.result()  # end of input or /quit; an error in serving is raised here
            else:
                await core.drain()  # a command in progress may finish within the grace; a new one is refused
                serve.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await serve
    finally:
        stop.cancel()
        serve.cancel()
        await core.close()
    if terminal.gone:  # bot.cli stops quietly, with nothing left to flush into the closed pipe
        raise BrokenPipeError("the terminal's reader has gone")
    return 0


async def _serve(core: Core, author: Author, lines: _LineReader, out: TextIO, interactive: bool) -> None:
    if interactive:
        out.write(f"Ready ({core.engine.name}: {core.engine.model_id}). {USAGE}\n")
    while True:
        line = await lines.next()
        if line is None:
            break
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            command = parse(line)
        except CommandError as error:
            out.write(f"{error}\n")
            continue
        if command.name in ("quit", "exit"):
            break
        if not interactive:
            out.write(f"> {line.strip()}\n")
        await run_command(core, author, command, out)


class _LineReader:
    """Reads stdin on a daemon thread, one line per `next()`: a blocked read never holds up the process's exit."""

    def __init__(self, stdin: TextIO, interactive: bool) -> None:
        self._stdin = stdin
        self._interactive = interactive
        self._wanted = threading.Semaphore(0)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read_forever, name="stdin", daemon=True).start()

    async def next(self) -> str | None:
        self._wanted.release()
        return await self._queue.get()

    def _read_forever(self) -> None:
        while True:
            self._wanted.acquire()
            try:
                line = _read_line(self._stdin, self._interactive)
            except (OSError, ValueError):  # stdin closed under us
                line = None
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                return
            if line is None:
                return


def _read_line(stdin: TextIO, interactive: bool) -> str | None:
    if interactive:
        try:
            return input("storyloom> ")
        except EOFError:
            return None
    line = stdin.readline()
    return line if line else None


async def run_story(core: Core, author: Author, command: TypedCommand, out: TextIO) -> None:
    """`/story ...` for one local player, or several named with `--as NAME` (the terminal's own user moderates)."""
    from dataclasses import replace

    from bot.core.story import StoryError, StoryService
    from bot.core.story.service import local_user_id

    service = StoryService(core)
    moderator = True
    name = command.options.get("as")
    if name and name != author.user_name:
        author = replace(author, user_id=local_user_id(name, author.user_name, author.user_id), user_name=name[:100])
        moderator = False
    sub, text, options = command.kind, command.text, command.options
    try:
        if sub == "start":
            view = await service.start(
                author, text, options.get("premise", ""), mode=options.get("mode", "round-robin"),
                rating=options.get("rating"), lines=options.get("lines"), veils=options.get("veils"),
                turn_timeout_s=int(options["timeout"]) if "timeout" in options else None,
            )  # fmt: skip
            out.write(f"Story {view.id} started.\n{view.describe()}\n")
        elif sub in ("join", "leave", "status", "end"):
            method = {"join": service.join, "leave": service.leave, "status": service.status}.get(sub)
            view = await (method(author) if method else service.end(author, moderator=moderator))
            out.write(view.describe() + "\n")
        elif sub == "add":
            result = await service.add_turn(author, text)
            out.write(f"[{result.status}] {result.message}\n")
        elif sub == "skip":
            result = await service.skip(author, moderator=moderator)
            out.write(f"[{result.status}] {result.message}\n")
        elif sub == "undo":
            result = await service.undo(author, moderator=moderator)
            out.write(f"[{result.status}] {result.message}\n")
        elif sub == "kick":
            view = await service.status(author)
            target = next((p for p in view.players if p.name.lower() == text.lower() and p.status == "active"), None)
            if target is None:
                raise StoryError(f"No active player called {text!r}.")
            view = await service.kick(author, target.user_id, moderator=moderator)
            out.write(f"{target.name} was removed from the story.\n{view.describe()}\n")
        elif sub == "ai":

            def sink_for(index: int) -> TerminalSink:
                out.write(f"\n-- choice {index} --\n")
                return TerminalSink(out)

            choices = int(options["choices"]) if "choices" in options else None
            result = await service.ai_turn(author, choices, text or None, moderator=moderator, sink_for=sink_for)
            out.write(f"{result.message}\n")
        elif sub == "vote":
            closing = text.lower() == "close"
            result = await (service.close_vote(author, moderator=moderator) if closing else service.vote(author, int(text)))
            out.write(f"{result.message}\n")
        elif sub == "recap":
            outcome = await service.recap(author, TerminalSink(out))
            out.write(f"[{outcome.status.value}]\n")
        elif sub == "export":
            out.write(await service.export(author))
    except StoryError as error:
        out.write(f"{error}\n")
    out.flush()
