"""What each kind of piece must look like, and where a piece may end: one checker for the pipeline, the tests and
`python -m bench writing`.

`problems(kind, text, form)` lists what keeps a piece from the shape its kind promises (empty: presentable);
`ends_cleanly(text, kind)` says whether it ends on a whole sentence, line or section; `clean_end(text, kind)` cuts
a piece back to its last such end (no half word, no broken character, no heading left hanging).
"""

from __future__ import annotations

import re

CHARACTER_FIELDS = ("Name", "Age", "Appearance", "Personality", "Goal", "Flaw", "A line they would say")
"""The character sheet's fields, in order; a Backstory may follow."""
POEM_FORMS: dict[str, tuple[int, ...]] = {"haiku": (3,), "limerick": (5,), "sonnet": (4, 4, 4, 2)}
"""Stanza line counts of the forms a poem may be asked for by name."""
HAIKU_SYLLABLES = (5, 7, 5)
HAIKU_TOLERANCE = 2
"""Syllables are counted by a spelling rule, not a dictionary: a line may be off by this many."""
MAX_LINE_WORDS = 20
"""A poem or lyrics line longer than this is prose in disguise."""

BROKEN = "\ufffd"
ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "St", "Sr", "Jr", "Capt", "Col", "Gen", "Lt", "Sgt", "Rev",
                 "Fr", "Mt", "e.g", "i.e")  # fmt: skip
NOT_AN_ABBREVIATION = "".join(rf"(?<!\b{re.escape(word)})" for word in ABBREVIATIONS) + r"(?<!\b[A-HJ-Z])"
"""A stop after a title or an initial ends no sentence: a script's first line ended "a brilliant young doctor named
Dr." where the token limit cut it (a fresh clone's `/write script`, stop 43). "I." still ends one ("so am I.")."""
_TERMINAL = re.compile(NOT_AN_ABBREVIATION + r"[.!?…][\"'”’)\]*_]*$")
_SENTENCE_END = re.compile(NOT_AN_ABBREVIATION + r"[.!?…][\"'”’)\]*_]*(?=\s|$)")
_LABEL = re.compile(
    r"^\s*[\[(]?\s*(verse|chorus|bridge|pre-chorus|outro|intro|hook|refrain)\s*(\d+)?\s*[\])]?\s*:?\s*$", re.I
)
"""A lyrics section's label, numbered or not ("[Verse 2]", "Chorus 3:"): only verses are told apart by number."""
_FIELD = re.compile(r"^\W*([A-Za-z][A-Za-z ]{1,30}?)\W*:\W*(.*)$")
_HEADING = re.compile(r"^\s*(INT\.|EXT\.|INT\./EXT\.|I/E\.?)\s+\S", re.I)
_SPEAKER = re.compile(r"^[A-Z][A-Z .'\-]{0,30}(\s*\(.*\))?$")
_TITLE = re.compile(r"^\s*(\*\*|#+\s|title:)", re.I)
_DANGLING = frozenset(
    "a an the and or but nor so yet of to in on at by for with from into onto as than that which who whose "
    "his her its their my our your is are was were be been being has have had do does did will would can could "
    "should may might must not very".split()
)
"""Words a line cannot end on when it is whole."""
_ADVICE = re.compile(
    r"^\W*(begin|start|remember|consider|try|make sure|write|use|think about|avoid|introduce|describe|show)\b"
    r"[^.!?]*\b(story|stories|scene|reader|readers|character|characters|plot|chapter|writing|narrative)\b",
    re.I,
)
"""Advice on how to write the piece instead of the piece ("Begin the story with an image ...")."""
_ECHO = re.compile(
    r"\b\d+\s*(words?|sentences?|lines?|stanzas?|syllables?|paragraphs?|verses?|characters?)\b"
    r"|\b(format|formatting|word count|rhyme scheme|no title|title explanations?)\b"
    r"|^\W*(write|use|keep|include)\b[^.!?]*\b(poem|poems|stanzas?|verses?|lines?|chorus|lyrics|song|images?|rhymes?)\b"
    r"|^\W*write\s+(by|in|about|to|it|a|an|the)\b"
    r"|^\W*here(\s+is|'s|\s+are)\b[^.!?]*:\W*$"
    r"|^\W*here(\s+is|'s|\s+are)\s+(a|an|my|your)\b[^.!?:]*\b(poems?|songs?|lyrics|stor(y|ies)|haikus?|limericks?"
    r"|sonnets?|ballads?|verses|piece)\b",
    re.I,
)
"""The request read back as a verse line: a count of its units ("180 words, format", "6 sentences"), the
instruction's words ("No title explanations"), or an order to the writer ("Use concrete images", "write by myself").
SmolLM2 offered such lines in place of verse (seen in a fresh clone's poem, 2026-12-05); and the reply's own
introduction ("Here is a short version of your creation:", the first line of a `/write poem` read in stop 34; "Here's
a poem about a lighthousekeeper setting sail. I will create it here.", the first line of a fresh clone's, stop 40)."""
_PART_NAMES = ("stanza", "verse", "chorus", "refrain", "couplet", "quatrain", "part", "section")
_ORDINAL_ENDINGS = frozenset({"st", "nd", "rd", "th"})
_WEB_CHROME = re.compile(
    r"\bscroll (down|up)\b|\bclick (here|below)\b|\bcontinue reading\b|\bsubscribe\b"
    r"|^\W*\d+\s+(?:ways|things|reasons|tips|steps|ideas|facts|signs)\s+(?:to|for|that|you|about|of)\b"
    r"|^\W*(?:original|full|official)\s+(?:lyrics|poem|song|text|version)\W*$",
    re.I,
)
"""A web page's words, which SmolLM2 learnt with the poems it read ("Scroll down to see the rest...", a verse line of
a fresh clone's `/write poem`, stop 36; a list article's title "10 ways to celebrate your friday's song" and a lyrics
page's label "Original lyrics", lines of one poem in stop 46's read)."""
_STUDY_QUESTION = re.compile(
    r"^\W*(?:tone|theme|themes|mood|meter|metre|rhyme scheme|imagery|literary devices?|figurative language|adjectives"
    r"|answer|analysis|summary|poetic devices?)\s*:"
    r"|^\W*sentences?(?:\s*:|\s+(?-i:[A-D])\b)|^\W*line\s+\d+\s+of\b"
    r"|(?:\(\s*(?:i{1,3}|iv|[a-e])\s*\).*){2}"
    r"|\b(?:what|which|how)\b[^?]*\b(?:tone|theme|mood|meter|metre|rhyme scheme|imagery|literary device)\b[^?]*\b"
    r"(?:this|the)\s+(?:poem|work|passage|text|stanza|song|lyrics?)\b",
    re.I,
)
"""A study guide's words in place of verse: a label of the poem's analysis ("Tone: Critical Adjectives"), a question
about the poem with its options ("What is the tone of this work? (i) Critical; (ii) ..."). SmolLM2 drifted into such a
quiz for a whole second stanza of the README's `/write poem` in a fresh clone (stop 37), and a rewriting exercise for
one in stop 46's read ("Sentence: Sentence A", "Sentence B 2 Varying sentences ...", "Line 175 of the original line -")."""
_LIST_ITEM = re.compile(r"^\s*(\d+[.)]\s|\d+(?:\s{2,}|\t)|[*\-•]\s)")
"""A list's item: "1. ", "2) ", "- ", and a number set apart by a gap ("1   Start by describing the setting:", the
opening of a `/write story` read in stop 38; one space after a number is prose, "3 ships came in")."""
_CHAPTER = re.compile(
    r"^\W*(\d+(st|nd|rd|th)\s+chapter|chapter\s+(\d+|[ivx]+|one|two|three)\b|part\s+(\d+|one|two)\s*:"
    r"|(sentence|paragraph|scene|step|beat)\s+\d+\s*:)",
    re.I,
)
"""An outline's headings ("1st Chapter:", "Chapter 2", "Part one:", "Sentence 1:") where a short story should be
prose."""
_PLAN_LABEL = re.compile(r"^\W*[A-Z][a-z']*(?:\s+[A-Z][a-z']*){0,2}\s*:\s*\S.*[.!?…]")
"""A plan's label in Title Case before its note, a sentence ("Introduce: ...", "Movie Premise: ...", "Explicitly
Describe: ...", a fresh clone's `/write story` in stop 40, a plan from its first line); "She said: run." is prose, and
a title's subtitle ("Lighthouse: A Tale") has no sentence."""
_PAST = re.compile(r"\b(was|were|had|did)\b", re.I)
_PRESENT = re.compile(r"\b(is|are|has|does|stands|sits|lies|hangs|falls|shines|glows)\b", re.I)
_IMAGE_PROMPT = re.compile(r"^\W*image prompt\W*:\W*(\S.*)$", re.I | re.M)
LINE_KINDS = frozenset({"poem", "lyrics", "script", "character"})


def poem_form(*texts: str | None) -> str | None:
    """The form a poem is asked for by name (in its subject or genre), if any."""
    words = set(re.findall(r"[a-z]+", " ".join(t for t in texts if t).lower()))
    return next((form for form in POEM_FORMS if form in words or f"{form}s" in words), None)


# -- endings ----------------------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _is_heading(line: str) -> bool:
    """A line that announces content: a lyrics label, a field with nothing after it, a scene heading, a speaker."""
    line = line.strip()
    if _LABEL.match(line):
        return True
    field = _FIELD.match(line)
    if field and not field.group(2).strip(" *_\"'") and len(field.group(1).split()) <= 5:
        return True
    if _SPEAKER.match(line) and len(line.split()) <= 4:
        return True
    return bool(re.match(r"^\s*(INT|EXT)\.?\s*$", line, re.I))


def is_instruction_echo(line: str) -> bool:
    """Whether a poem's or a song's line is the request read back instead of verse (see _ECHO)."""
    return bool(_ECHO.search(line))


NOT_VERSE = "a line that is no verse (a part's label, a web page's or a study guide's words)"
"""The problem `problems` names for a poem or a song holding a line `is_stray_line` refuses."""


def is_stray_line(line: str) -> bool:
    """Whether a poem's or a song's line is no verse: a part's name with its number, whole or cut off ("Stanza 2",
    "1 stanz", a line of a fresh clone's poem in stop 36), a web page's words (`_WEB_CHROME`), a study guide's
    (`_STUDY_QUESTION`) or an outline's heading ("Sentence 2: The land dried water,", a sonnet's line, stop 41)."""
    if _WEB_CHROME.search(line) or _STUDY_QUESTION.search(line) or _CHAPTER.match(line):
        return True
    words = re.findall(r"[^\W\d_]+|\d+", line.lower())
    names = [word for word in words if not word.isdigit() and word not in _ORDINAL_ENDINGS]
    if len(words) > 3 or len(names) != 1:
        return False
    numbered = len(names) < len(words)
    return any(part == names[0] or (numbered and len(names[0]) >= 4 and part.startswith(names[0])) for part in _PART_NAMES)


def ends_on_abbreviation(text: str) -> bool:
    """Whether `text` stops on a title's or an initial's stop ("... named Dr."): no sentence ends there."""
    return text.endswith(".") and not _TERMINAL.search(text)


def _line_is_whole(line: str) -> bool:
    line = line.strip()
    if not line or _is_heading(line):
        return False
    if _TERMINAL.search(line) or line[-1] in ",;:—-":
        return line[-1] not in ":—-"
    if line.endswith("."):  # a stop _TERMINAL does not count: a title's or an initial's ("named Dr.")
        return False
    last = re.findall(r"[A-Za-z']+", line)
    return bool(last) and last[-1].lower() not in _DANGLING


def ends_cleanly(text: str, kind: str) -> bool:
    """Whether `text` ends on a whole sentence (prose) or a whole line (poems, lyrics, scripts, sheets), with no
    broken character anywhere and no heading left without its content."""
    text = text.rstrip()
    if not text or BROKEN in text:
        return False
    last = text.splitlines()[-1].strip()
    if kind == "scene" and _IMAGE_PROMPT.match(last):  # the image prompt is a list of words, not a sentence
        return not last.endswith((",", ":")) and last.split(":", 1)[1].strip(" *") != ""
    if kind in LINE_KINDS:
        return _line_is_whole(last) and not last.endswith(",")
    return bool(_TERMINAL.search(last))


def clean_end(text: str, kind: str) -> str:
    """`text` cut back to its last clean end: broken characters removed, a cut sentence or line dropped, then any
    heading left with nothing under it. Text that already ends cleanly comes back as it was (less U+FFFD)."""
    text = text.replace(BROKEN, "").rstrip()
    for _ in range(64):  # each pass removes something; a piece has far fewer lines than this
        if not text or ends_cleanly(text, kind):
            return text
        head, _, last = text.rpartition("\n")
        line = last.strip()
        if _is_heading(line) and head.strip():
            text = head.rstrip()
            continue
        ends = list(_SENTENCE_END.finditer(last))
        if ends and ends[-1].end() < len(last.rstrip()):
            text = (head + "\n" if head else "") + last[: ends[-1].end()]
            text = text.rstrip()
            if ends_cleanly(text, kind):
                return text
            continue
        if not head.strip():  # one line and no sentence ends in it: the whole words, no dangling end
            words = line.split()
            while words and words[-1].lower().strip(",;:—-") in _DANGLING:
                words.pop()
            return " ".join(words).rstrip(",;:—-") if kind in LINE_KINDS else ""
        text = head.rstrip()
    return text


# -- shapes -----------------------------------------------------------------------------------------------------


def syllables(word: str) -> int:
    """English syllables by spelling: vowel groups, less a silent final e, at least one."""
    word = re.sub(r"[^a-z]", "", word.lower())
    if not word:
        return 0
    count = len(re.findall(r"[aeiouy]+", word))
    if word.endswith("e") and not word.endswith(("le", "ee", "ye")) and count > 1:
        count -= 1
    return max(count, 1)


def _stanzas(text: str) -> list[list[str]]:
    return [_lines(block) for block in re.split(r"\n\s*\n", text.strip()) if _lines(block)]


def _character(text: str) -> list[str]:
    found: list[str] = []
    for line in _lines(text):
        field = _FIELD.match(line)
        if field and field.group(2).strip(" *_\"'"):
            found.append(field.group(1).strip().lower())
    problems = []
    position = -1
    for name in CHARACTER_FIELDS:
        if name.lower() not in found:
            problems.append(f"no {name} field")
            continue
        if found.index(name.lower()) < position:
            problems.append(f"{name} out of order")
        position = found.index(name.lower())
    if found.count("name") > 1:
        problems.append("more than one character")
    return problems


def _lyrics(text: str) -> list[str]:
    sections: list[tuple[str, list[str]]] = []
    for line in _lines(text):
        label = _LABEL.match(line)
        if label:
            name, number = label.group(1).lower(), label.group(2)
            sections.append((f"{name} {number}" if name == "verse" and number else name, []))
        elif sections:
            sections[-1][1].append(line)
    labels = [label for label, _ in sections]
    problems = []
    expected = ["verse 1", "chorus", "verse 2", "chorus"]
    at = 0
    for label in labels:
        if at < len(expected) and label == expected[at]:
            at += 1
    if at < len(expected):
        problems.append("sections are not [Verse 1] [Chorus] [Verse 2] [Chorus]")
    if any(not lines for _, lines in sections):
        problems.append("a section with no lines")
    choruses = {tuple(" ".join(line.lower().split()) for line in lines) for label, lines in sections if label == "chorus"}
    if len(choruses) > 1:
        problems.append("the chorus is not repeated word for word")
    if any(len(line.split()) > MAX_LINE_WORDS for _, lines in sections for line in lines):
        problems.append("prose lines")
    if any(is_instruction_echo(line) for _, lines in sections for line in lines):
        problems.append("the request read back as a line")
    if any(is_stray_line(line) for _, lines in sections for line in lines):
        problems.append(NOT_VERSE)
    return problems


def _poem(text: str, form: str | None) -> list[str]:
    stanzas = _stanzas(text)
    if stanzas and len(stanzas[0]) == 1 and len(stanzas) > 1 and _TITLE.match(stanzas[0][0]):
        stanzas = stanzas[1:]  # a title above the poem
    lines = [line for stanza in stanzas for line in stanza]
    problems = []
    if form is not None:
        wanted = sum(POEM_FORMS[form])
        if len(lines) != wanted:
            problems.append(f"a {form} has {wanted} lines, not {len(lines)}")
        elif form == "haiku":
            counts = [sum(syllables(word) for word in line.split()) for line in lines]
            if any(abs(c - w) > HAIKU_TOLERANCE for c, w in zip(counts, HAIKU_SYLLABLES, strict=True)):
                problems.append(f"syllables {'-'.join(map(str, counts))}, not 5-7-5")
    elif len(lines) < 4:
        problems.append(f"{len(lines)} lines, not at least 4")
    if any(len(line.split()) > MAX_LINE_WORDS for line in lines):
        problems.append("prose lines")
    if any(is_instruction_echo(line) for line in lines):
        problems.append("the request read back as a line")
    if any(is_stray_line(line) for line in lines):
        problems.append(NOT_VERSE)
    return problems


def _script(text: str) -> list[str]:
    lines = _lines(text)
    problems = []
    if not lines or not _HEADING.match(lines[0]):
        problems.append("no scene heading (INT./EXT.) first")
    speakers = sum(
        1
        for line, following in zip(lines, lines[1:], strict=False)
        if _SPEAKER.match(line) and len(line.split()) <= 4 and not _HEADING.match(line) and not _SPEAKER.match(following)
    )
    if speakers < 2:
        problems.append("fewer than two lines of dialogue under CAPITALISED names")
    return problems


def _scene(text: str) -> list[str]:
    prompt = _IMAGE_PROMPT.search(text)
    description = text[: prompt.start()] if prompt else text
    problems = []
    past, present = len(_PAST.findall(description)), len(_PRESENT.findall(description))
    if past > 1 and past * 3 > present:
        problems.append(f"past tense ({past} past, {present} present verbs)")
    if not description.strip():
        problems.append("no description")
    if prompt is None:
        problems.append("no one-line image prompt")
    return problems


_BOLD_HEADING = re.compile(r"^\s*\*\*[^*]{1,60}\*\*\s*:?\s*$|^\s*\*\*[^*]{1,40}:\*\*")
_DATED = re.compile(r"^\s*\d{1,4}[/.-]\d{1,2}([/.-]\d{1,4})?\s*:")


def _heading_or_entry(line: str) -> bool:
    """A chapter heading, a bold heading or a dated entry."""
    return bool(_CHAPTER.match(line) or _BOLD_HEADING.match(line) or _DATED.match(line))


_SELF_TALK = re.compile(
    r"\b(?:in|for)\s+(?:the|this|my|our|your)\s+(?:first|second|third|fourth|next|last|final|opening|closing)\s+"
    r"paragraph,?\s+(?:we|you|i|i'll|i will|let's|let us|the reader|readers|start|begin|describe|introduce|show|focus)\b",
    re.I,
)
"""A story that speaks of its own paragraphs: "[In the first paragraph, start by describing the eerie atmosphere ...]
... In the second paragraph, we get to explore the darkness", a whole piece of a writing benchmark run (stop 47). A
letter's last paragraph in a story ("In the last paragraph her father wrote ...") is no such talk."""


def is_outline(line: str) -> bool:
    """A list item, a chapter heading, a bold heading, a dated entry, a plan's label, advice about writing or talk of
    the story's paragraphs: what a short story's prose is not."""
    outline = _LIST_ITEM.match(line) or _ADVICE.match(line) or _PLAN_LABEL.match(line) or _SELF_TALK.search(line)
    return bool(outline) or _heading_or_entry(line)


_SECTION_TITLE = re.compile(
    r"^(?:(?:episode|part|act|book|chapter|scene|sentence|paragraph|step|beat)\s+(?:\d+|[ivx]+|one|two|three)"
    r"|prologue|epilogue|introduction|preliminaries|preface|synopsis|(?:short )?summary|outline|overview"
    r"|opening(?: section)?|the (?:beginning|end)|(?:the )?title(?: page)?|untitled|(?:a )?story(?:[ _#]*\d+)?"
    r"|background|setting|characters)$",
    re.I,
)
"""A section's name where a story's title belongs ("**Episode 1**", a fresh clone's `/write story`, stop 37;
"**Preliminaries**", stop 38), or a placeholder for one ("Title", "Title Page", "Story_1": 9 of 200 titles asked for
in stop 47, with "The Beginning" 4 and "short summary", "Opening Section")."""
NOT_A_LAST_WORD = frozenset("a an the and or but nor of by my your his her their our its".split())
"""Words a title or a name cannot end on: "The Last Tree by", "The Night's Light by" (a byline begun where the token
limit or a stop cut it), "Sir Reginald III of" (stop 47). Prepositions may end a title ("Something to Believe In")."""


_STORY_TALK = re.compile(
    r"\b(?:the|this) (?:story|tale)'s\b|\b(?:the|this|its) opening (?:scene|line|paragraph)\b"
    r"|\b(?:beginning|middle) of (?:the|this) (?:story|tale|scene)\b|^\W*(?:let's|let us|introduc\w*)\b"
    r"|\bwrite (?:it|this)\b",
    re.IGNORECASE,
)
"""A title that talks about the story it heads: the instruction ("Tell it in prose with a clear beginning, middle and
end") read back ("At the beginning of the story's opening scene", a fresh clone's `/write story`, stop 45), or the model
setting to work ("Let's start with the world of a bakery in Paris", "Introduce the narrator's name: Elara", "About the
garden growing on the moon... Write it like this", stop 47). "The Story of the Salt Lamp", "The Story Keeper" and "The
End of the Story" are titles."""


def title_problem(line: str) -> str | None:
    """Why `line` cannot stand as a story's title (None where it can): the scaffold asks again on the same grounds
    the checker fails a story on."""
    title = line.strip("*#_ \"'")
    if _CHAPTER.match(title) or _SECTION_TITLE.match(title.rstrip(":. ")):
        return "a chapter heading for a title"
    if title.endswith(":"):  # "**Sender:**": a letter's label, not a title
        return "a label for a title"
    if _STORY_TALK.search(title) or _STUDY_QUESTION.match(title):
        return "the instruction read back for a title"
    if title.split() and title.split()[-1].lower() in NOT_A_LAST_WORD:
        return "an unfinished title"
    if not title or len(title.split()) > 12 or _TERMINAL.search(title) or is_outline(title):
        return "no title"
    return None


def _story(text: str) -> list[str]:
    lines = _lines(text)
    problems = []
    title = title_problem(lines[0]) if len(lines) > 1 else "no title"
    if title:
        problems.append(title)
    body = " ".join(lines[1:])
    if len(_SENTENCE_END.findall(body)) < 2:
        problems.append("no story under the title")
    if sum(bool(_LIST_ITEM.match(line)) for line in lines[1:]) >= 2:
        problems.append("a list, not a story")
    if len(lines) > 1 and _ADVICE.match(lines[1]):
        problems.append("advice about writing, not a story")
    if _SELF_TALK.search(body):
        problems.append("talk about the story's paragraphs, not a story")
    if any(_heading_or_entry(line) for line in lines[1:]):
        problems.append("headings or dated entries, not a story")
    if sum(bool(_PLAN_LABEL.match(line)) for line in lines[1:]) >= 2:
        problems.append("a plan's labels, not a story")
    return problems


def problems(kind: str, text: str, form: str | None = None) -> list[str]:
    """What keeps `text` from the shape its kind promises, and from a clean end; empty when it is presentable."""
    found: list[str] = []
    if not text.strip():
        return ["empty"]
    if kind == "character":
        found = _character(text)
    elif kind == "lyrics":
        found = _lyrics(text)
    elif kind == "poem":
        found = _poem(text, form)
    elif kind == "script":
        found = _script(text)
    elif kind == "scene":
        found = _scene(text)
    elif kind == "story":
        found = _story(text)
    if not ends_cleanly(text, kind):
        found.append("does not end cleanly")
    return found
