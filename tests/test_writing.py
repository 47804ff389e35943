"""The writing itself: clean endings, kind-shaped pieces (bot/core/scaffolds.py) and the shape checker
(bot/core/shapes.py), on the shipped SmolLM2 and through the pipeline on the loopback OpenAI-compatible server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from bot.config import Settings
from bot.core import prompts, scaffolds, shapes
from bot.core.app import Core
from bot.core.replies import GO_ON
from bot.core.request import WriteJob
from bot.core.scaffolds import Scaffold
from bot.core.streaming import SentenceChunker
from bot.engines.base import Delta, SamplingParams, StopMatcher, Usage, render_chat
from bot.engines.openai_engine import OpenAIEngine
from bot.engines.detokenizer import IncrementalDetokenizer
from storage.models import Generation, Request, RequestStatus
from tests.plugins.bot import records
from tests.test_pipeline import AUTHOR, RecordingSink

# -- the shape checker and clean endings (no model) --------------------------------------------------------------

SHEET = """**Name:** Mara Quill
**Age:** 34
**Appearance:** Tall, with ink on her fingers.
**Personality:** Patient and dry.
**Goal:** To finish the map her father began.
**Flaw:** She trusts no one twice.
**A line they would say:** "Maps lie less than people."
**Backstory:** She grew up above a print shop."""

LYRICS = """[Verse 1]
The tide came in at seven
and took the boats away

[Chorus]
Hold the light, hold the light
till the harbour calls me home

[Verse 2]
The gulls forgot our names
the rope forgot the knot

[Chorus]
Hold the light, hold the light
till the harbour calls me home"""

SCRIPT = """INT. LIGHTHOUSE - NIGHT

Rain hammers the glass. MARA climbs the stairs.

MARA
Is anyone up here?

THE KEEPER
Only the light, and me."""

SCENE = """The picture shows a market at dawn. Stalls stand in a row and lanterns glow on wet stones.

**Image prompt:** a market at dawn, wet cobblestones, lanterns, watercolour, soft morning light"""


def test_well_shaped_pieces_pass_and_their_broken_copies_do_not() -> None:
    assert shapes.problems("character", SHEET) == []
    assert "no Flaw field" in shapes.problems("character", SHEET.replace("**Flaw:** She trusts no one twice.\n", ""))
    assert "more than one character" in shapes.problems("character", SHEET + "\n**Name:** Tom")
    assert shapes.problems("lyrics", LYRICS) == []
    second_chorus_changed = LYRICS[: LYRICS.rindex("Hold")] + "Hold me close\ntill the morning"
    assert "the chorus is not repeated word for word" in shapes.problems("lyrics", second_chorus_changed)
    unlabelled = LYRICS.replace("[", "").replace("]", "").replace("Verse", "Part")
    assert "sections are not [Verse 1] [Chorus] [Verse 2] [Chorus]" in shapes.problems("lyrics", unlabelled)
    assert shapes.problems("script", SCRIPT) == []
    assert "no scene heading (INT./EXT.) first" in shapes.problems("script", SCRIPT.split("\n", 2)[2])
    lower_case_names = SCRIPT.replace("MARA\n", "Mara\n").replace("THE KEEPER", "The keeper")
    assert "fewer than two lines of dialogue under CAPITALISED names" in shapes.problems("script", lower_case_names)
    assert shapes.problems("scene", SCENE) == []
    past = SCENE.replace("stand", "stood").replace("glow", "glowed").replace("shows", "showed") + ""
    past = past.replace("market at dawn.", "market at dawn. It was cold and the lamps were lit and it had rained.")
    assert any(p.startswith("past tense") for p in shapes.problems("scene", past))
    assert "no one-line image prompt" in shapes.problems("scene", SCENE.split("\n\n")[0])
    assert shapes.problems("poem", "Salt on the sill\nthe lamp burns low\nthe sea breathes in\nand lets me go.") == []
    assert "1 lines, not at least 4" in shapes.problems("poem", "One long line of prose that pretends to be a poem.")
    assert shapes.problems("poem", "An old silent pond\nA frog jumps into the pond\nSplash! Silence again.", "haiku") == []
    assert shapes.problems("story", "**The Map**\n\nShe drew the coast. The sea agreed.") == []
    assert "no title" in shapes.problems("story", "She drew the coast. The sea agreed. Then it rained.")
    outline = "**The Map**\n\n1. She drew the coast.\n2. The sea agreed.\n3. The end."
    assert "a list, not a story" in shapes.problems("story", outline)
    chapters = "**The Keeper**\n\n1st Chapter: (the beginning)\nHe lit the lamp. The sea was calm."
    assert "headings or dated entries, not a story" in shapes.problems("story", chapters)
    assert "a chapter heading for a title" in shapes.problems("story", "**Chapter 1:**\n\nHe lit the lamp. The sea was calm.")
    assert "a label for a title" in shapes.problems("story", "**Sender:**\n\nThe keeper lit the lamp. The sea was calm.")
    sentence = "**She walked down to the harbour and watched the boats come in until the sun went down**"
    assert "no title" in shapes.problems("story", f"{sentence}\n\nThe keeper lit the lamp. The sea was calm.")
    # The scaffold asks again for each of these.
    for title in ("Chapter 1:", "Sender:", sentence.strip("*"), "1. The Map", "She left.", "Episode 1", "Preliminaries",
                  "Prologue", "Act II", "At the beginning of the story's opening scene", "In the middle of this tale",
                  # stop 47's 200 titles asked for: placeholders, a study label, an unfinished one
                  "Title", "Title Page", "Story_1", "short summary", "Opening Section", "The Beginning",
                  "Imagery: Shadowy realms", "The Keeper and the", "Sentence 1", "Background",
                  "Let's start with the world of a bakery in Paris", "Introduce the narrator's name: Elara",
                  "Introduced: The Dreamer's Apprentice", "About the garden on the moon... Write it like this"):  # fmt: skip
        assert shapes.title_problem(title), title
    for title in ("The Keeper of Salt Lamp", "The Last Episode", "Prologue to a Storm", "Summary Judgement",
                  "The Story of the Salt Lamp", "The Story Keeper", "The End of the Story", "Opening Night",
                  "The Title Deed", "Something to Believe In", "Beginnings", "Background Noise", "Let It Snow"):  # fmt: skip
        assert shapes.title_problem(title) is None, title
    # A byline and stray marks are no part of a title (stop 47); "by" in a title is.
    assert scaffolds._title("The Last Tree in a Desert City by A.R. Baldauf") == "The Last Tree in a Desert City"
    assert scaffolds._title("The Last of the Blackbeeds* by") == "The Last of the Blackbeeds"
    assert scaffolds._title("The Lantern by Jane Reed.") == "The Lantern"
    assert scaffolds._title("Stand by Me") == "Stand by Me"
    assert scaffolds._title('The Lighthouse: "Beautiful Sea') == "The Lighthouse: Beautiful Sea"
    assert scaffolds._title('The Word "Home"') == 'The Word "Home"'
    assert scaffolds._title("The Last Supper by the Lamentator") == "The Last Supper by the Lamentator"
    # One the token limit cut is a sentence (stop 47: 9 of 200 titles asked for passed the title check so).
    cut = "Dustin stood on the weathered rock, its worn surface ablaze with"
    assert scaffolds._usable_title(cut, cut=True) == "" and scaffolds._usable_title(cut, cut=False) == cut
    assert scaffolds._usable_title("**The Lantern Keeper", cut=False) == "The Lantern Keeper"
    assert scaffolds._usable_title("Title", cut=False) == ""
    # The model's remark after its title (stop 46: "The Enduring Flame (No Foreshadowing)") is no part of it.
    assert scaffolds._title("The Enduring Flame (No Foreshadowing)") == "The Enduring Flame"
    assert scaffolds._title('Title: "The Salt Lamp".') == "The Salt Lamp"
    assert shapes.title_problem(scaffolds._title("(Untitled)"))  # nothing left: asked again
    talk = ("**The Nightingale**\n\n[In the first paragraph, start by describing the eerie atmosphere.] Light is one element "
            "of this narrative. Let's see... In the second paragraph, we get to explore the darkness.")  # stop 47's bench
    assert "talk about the story's paragraphs, not a story" in shapes.problems("story", talk)
    assert shapes.is_outline(talk.split("\n\n")[1])
    assert shapes.problems("story", "**The Letter**\n\nShe read it twice. In the last paragraph her father wrote of the sea.") == []
    advice = "**About The Beginning**\n\nBegin the story with an image the reader can see. Then add the keeper."
    assert "advice about writing, not a story" in shapes.problems("story", advice)
    numbered = "**The Lighthouse**\n\nSentence 1: The keeper lit the lamp.\nSentence 2: The sea was calm that night."
    assert "headings or dated entries, not a story" in shapes.problems("story", numbered)
    dated = "**Tonight's Forecast**\n\n07/15: The sky burned red. Ships left.\n\n08/03: A roar came. It passed."
    assert "headings or dated entries, not a story" in shapes.problems("story", dated)


def test_a_numbered_label_is_a_label_and_only_verses_are_told_apart_by_number() -> None:
    # SmolLM2 wrote "Chorus 3" as the first line under [Chorus]; it was kept as a lyric line and sung twice.
    numbered = LYRICS.replace("[Verse 1]", "Verse1:").replace("[Chorus]", "[Chorus 2]", 1)
    assert shapes.problems("lyrics", numbered) == []
    assert all(shapes._is_heading(label) for label in ("Chorus 3", "[Bridge 1]", "(Outro 2)", "Verse 2:"))
    assert not scaffolds._verse_line("Chorus 3")
    assert scaffolds._verse_line("Chorus of the harbour bells")


def test_a_run_together_line_is_not_verse_and_a_setting_note_is_not_a_word_of_it() -> None:
    assert not scaffolds._verse_line("1912s   The humble fox was me  (I)ve been wrong all along.")
    assert scaffolds._verse_line("In 1912 the humble fox was me")
    assert scaffolds._FORMAT_NOTE.sub("", "taken by the ghosts of old... (emphasis)") == "taken by the ghosts of old..."
    assert scaffolds._FORMAT_NOTE.sub("", "and the river said (oh-oh)") == "and the river said (oh-oh)"
    # a fresh clone's /write lyrics (stop 33): the model's remark on itself, mid-line
    assert (scaffolds._FORMAT_NOTE.sub("", "With cries that would fall to earth... (no original incantation here) I sail")
            == "With cries that would fall to earth... I sail")  # fmt: skip
    assert scaffolds._FORMAT_NOTE.sub("", "the harbour lights (repeat chorus)") == "the harbour lights"
    assert scaffolds._FORMAT_NOTE.sub("", "we sang () all night") == "we sang all night"
    assert scaffolds._FORMAT_NOTE.sub("", "Despite what we've done yet vowed to keep []") == "Despite what we've done yet vowed to keep"
    assert scaffolds._FORMAT_NOTE.sub("", "no light (there is no light here) at all") == "no light (there is no light here) at all"
    assert scaffolds._FORMAT_NOTE.sub("", "stayin' alive (stayin')") == "stayin' alive (stayin')"
    # bench writing --random-seeds, 190 poems and lyrics (stop 34): asides naming a part of the song, braces, one letter
    for aside in ("(in both chorus)", "(end of verse.)", "(words repeated)", "(verse 3)", "{verse}", "{ajlvz}", "[x]",
                  "[x2]", "[subtext=maiuki]", "(Vocal)", "(Cover song)", "(guitar solo)", "(spoken)"):  # fmt: skip
        assert scaffolds._without_notes(f"the harbour lights {aside} burn") == "the harbour lights burn", aside
    assert (scaffolds._without_notes("I promise you my love... (verses)... Continue it (verse still continues)")
            == "I promise you my love... Continue it")  # fmt: skip
    assert scaffolds._without_notes("the birds (the chorus of the birds at dawn)") == "the birds (the chorus of the birds at dawn)"
    assert scaffolds._without_notes("oh (mother) come home") == "oh (mother) come home"
    assert scaffolds._without_notes("words (left unspoken) between us") == "words (left unspoken) between us"
    assert scaffolds._verse_text("1. A phantom walked the barge,") == "A phantom walked the barge,"  # a list's number
    assert scaffolds._verse_text("3 ships came in") == "3 ships came in"
    assert not scaffolds._verse_line(scaffolds._verse_text("(Cover song)"))  # a line of its own: no verse line left
    assert "\n **" in scaffolds._STORY_STOPS  # a bold paragraph after a space is a heading, not the story


def test_a_script_line_is_what_is_said_not_a_list_mark_a_cue_or_a_direction() -> None:
    # Read from a fresh clone's /write at N = 1 (stop 31): action "1. Gentleman: Elizabeth", lines "(leading the
    # room)" and "Pop" under a speaker's cue.
    assert scaffolds._script_line("(leading the room)", cut=False) == ""
    assert scaffolds._script_line("(quietly) I never left the harbour.", cut=False) == "I never left the harbour."
    assert scaffolds._script_line("1. MARA: You came back.", cut=False) == "You came back."
    assert scaffolds._script_line("[beat] Then we wait for the tide", cut=False) == "Then we wait for the tide"
    assert not scaffolds._spoken("Pop") and not scaffolds._spoken("")
    assert not scaffolds._spoken("James berger & rebeccella") and not scaffolds._spoken("Chair maker - tonight")
    assert not scaffolds._spoken("2315 Years Ago") and scaffolds._spoken("She waits by the window.")
    assert scaffolds._roles("the last day of summer") == [] and scaffolds._roles("a doctor and a patient") == [
        "THE DOCTOR", "THE PATIENT"]  # fmt: skip
    assert scaffolds._names("I met a young warrior named Sir Edward, a knight.") == ["EDWARD"]  # not SIR (stop 42)
    assert scaffolds._names("[Enter Eternity, behind a curtain]") == ["ETERNITY"]
    assert scaffolds._names("At two on a stormy Monday, the University of Berlin ...") == ["UNIVERSITY", "BERLIN"]
    assert scaffolds._spoken("No.") and scaffolds._spoken("Then we wait")
    # Read in a fresh clone's /write script (stop 34): the first line '"Me too, ..." (focus on John)', the last 'place?"'.
    assert scaffolds._said('"Me too, I guess." (focus on John)') == "Me too, I guess."
    assert scaffolds._script_line('Is this the place?"', cut=False) == "Is this the place?"
    assert scaffolds._script_line("I know. (beat) I always knew.", cut=False) == "I know. I always knew."
    # N = 20 (stop 42): the heading's made-up place before every line, an outline's label before the action.
    assert scaffolds._script_line("TIMELINE - A map was set down in your mind.", cut=False) == "A map was set down in your mind."
    assert scaffolds._script_line("JAMES'LIGHTNIGHTSKELLA - You want them?", cut=False) == "You want them?"
    assert scaffolds._script_line("Sentence 1: Jim's light is there.", cut=False) == "Jim's light is there."
    assert scaffolds._script_line("I - I never knew.", cut=False) == "I - I never knew."
    assert scaffolds._script_line("6pm: A lone sailor lay on his cot.", cut=False) == "A lone sailor lay on his cot."
    assert scaffolds._script_line("5:20 PM - A long beam lit by the sun.", cut=False) == "A long beam lit by the sun."
    assert scaffolds._script_line("12 ships sailed at dawn.", cut=False) == "12 ships sailed at dawn."
    assert scaffolds._said('He said "go home" and left.') == 'He said "go home" and left.'
    assert scaffolds._said("Meet me at (the old mill) tonight.") == "Meet me at (the old mill) tonight."


def test_a_stanza_answered_in_prose_is_broken_into_its_clauses() -> None:
    # The first stanza of a fresh clone's sonnet (stop 41): five askings, five paragraphs, no line of verse.
    prose = "The wind awoke the old house; it was built to last, warm, welcoming home to all. She wore a crest to honor"
    assert scaffolds._clauses(prose, cut=True) == [
        "The wind awoke the old house;", "it was built to last,", "warm, welcoming home to all."
    ]
    assert scaffolds._clauses("Snow fell.", cut=False) == ["Snow fell."]
    assert shapes.is_stray_line("Sentence 2: The land dried water,") and not scaffolds._verse_line("Scene 3: snow")
    assert not shapes.is_stray_line("The second sentence the judge gave him:")


def test_the_request_read_back_is_not_a_verse_line() -> None:
    # Lines of a fresh clone's poem on SmolLM2 (2026-12-05), and the poem instruction's own words.
    echoes = (
        "180 words, format", '"The stars shine on the endless sea" 1 sentence', "6 sentences",
        "write by myself. Write to let it convey its essence.", "Use concrete images.", "No title explanations.",
        "Here is a short version of your creation:", "Here's your poem about the lighthouse:",  # the reply's own intro
        "Here's a poem about a lighthousekeeper setting sail. I will create it here.",  # a fresh clone's, stop 40
    )
    for echo in echoes:
        assert shapes.is_instruction_echo(echo) and not scaffolds._verse_line(echo), echo
    verses = ("The stars shine on the endless sea", "A thousand words the harbour keeps", "We keep the light for ships",
              "Here is the harbour where we met,", "Here's to the sailors, home at last",
              "Here are the songs the sailors sang,", "I will write my name upon the tide",
              "I'll write a song for you tonight")  # fmt: skip
    for verse in verses:
        assert not shapes.is_instruction_echo(verse) and scaffolds._verse_line(verse), verse
    poem = "The lamp is lit,\nthe tide comes in.\n6 sentences\nThe keeper sleeps."
    assert "the request read back as a line" in shapes.problems("poem", poem)
    assert shapes.problems("poem", poem.replace("6 sentences", "the gulls fly home,")) == []


def test_a_parts_label_or_a_web_pages_words_are_not_verse_lines() -> None:
    # Lines of a fresh clone's /write poem (stop 36): a stanza's label cut off, and a web page's words.
    # Stop 46's /write poem: a list article's title and a lyrics page's label.
    for stray in ("1 stanz", "Stanza 2", "2nd verse", "Part 3:", "Scroll down to see the rest... (behind shadows)",
                  "10 ways to celebrate your friday's song", "Original lyrics"):  # fmt: skip
        assert shapes.is_stray_line(stray) and not scaffolds._verse_line(stray), stray
    for verse in ("Stand by the water", "Part of me stayed", "Verse after verse the river sang", "1 lonely star",
                  "the second part of night", "a thousand ways to say goodbye", "3 things I kept of you",
                  "the original song of the sea"):  # fmt: skip
        assert not shapes.is_stray_line(verse) and scaffolds._verse_line(verse), verse
    poem = "The lamp is lit,\nthe tide comes in.\n1 stanz\nThe keeper sleeps."
    assert shapes.NOT_VERSE in shapes.problems("poem", poem)


def test_two_verse_lines_run_together_are_told_apart() -> None:
    # Stop 46's /write poem: every line held two, the second begun with its capital after a comma.
    assert scaffolds._run_on("In twilight's shade, when moonless night, A family life I love to carry,") == [
        "In twilight's shade, when moonless night,", "A family life I love to carry,"]  # fmt: skip
    for line in ("Oh, Mary, come home to the harbour where the lamps are burning low",  # a name, not a line
                 "I lay my small town bare to the wind, I said, I sang",  # "I" begins no line by itself
                 "Salt on the sill, A lamp burns"):  # fmt: skip  # short: one line
        assert scaffolds._run_on(line) == [line], line


def test_a_study_guides_words_are_not_verse_lines() -> None:
    # The second stanza of a fresh clone's /write poem (stop 37) was a quiz about the poem.
    for quiz in ("Tone: Critical Adjectives", "What is the tone of this work? (i) Critical; (ii) Hopeful",
                 "Which literary device does the poem use?", "Rhyme scheme: ABAB", "Sentence: Sentence A",
                 "Sentence B 2 Varying sentences - no alternative", "Line 175 of the original line -"):  # fmt: skip
        assert shapes.is_stray_line(quiz) and not scaffolds._verse_line(quiz), quiz
    for verse in ("The moon said: There is no world so sacred,", "What tone the evening takes (a hush)",
                  "How the mood of the harbour turns to grey", "Tone of bells across the bay", "Sentenced to the sea",
                  "Sentence a man to the tides", "Line by line the tide came in"):  # fmt: skip
        assert not shapes.is_stray_line(verse) and scaffolds._verse_line(verse), verse
    poem = "The lamp is lit,\nthe tide comes in.\nTone: Critical Adjectives\nThe keeper sleeps."
    assert shapes.NOT_VERSE in shapes.problems("poem", poem)


def test_a_numbered_plan_set_apart_by_spaces_is_not_a_story() -> None:
    # A fresh /write story (stop 38): "1   Start by describing the setting: ..." passed as its opening paragraph.
    assert shapes.is_outline("1   Start by describing the setting: a small village between the trees.")
    assert not shapes.is_outline("3 ships came in at dawn, and the harbour woke.")
    plan = "**The First Step**\n\n1   Start with the village.\n\n2   Then the sisters run to the fair.\n\n3   They win."
    assert "a list, not a story" in shapes.problems("story", plan)


def test_a_plan_under_labels_is_not_a_story() -> None:
    # A fresh clone's /write story (stop 40) was a plan: "Introduce:", "Movie Premise:", "Begin:", "Explicitly
    # Describe:".
    assert shapes.is_outline("Movie Premise: a keeper leaves his light for the first time in forty years.")
    assert not shapes.is_outline("She said: run. And the keeper ran.")
    assert shapes.title_problem("The Keeper: A Tale of the Rock") is None
    plan = ("**The Keeper**\n\nIntroduce: the keeper, old and alone.\n\nBegin: the storm breaks over the rock.\n\n"
            "Explicitly Describe: the lamp going dark.")
    assert "a plan's labels, not a story" in shapes.problems("story", plan)
    story = "**The Keeper**\n\nThe storm broke at dawn. He said: no ship sails today.\n\nBut one did, and he rowed out."
    assert shapes.problems("story", story) == []


def test_an_image_prompt_stops_where_it_echoes_the_request() -> None:
    # Read in the N = 20 run: image prompts that went on with the rules or the instruction's own words.
    echoed = "no disrespectful remarks, no personal attacks, no language of hate"
    assert scaffolds._image_terms(echoed) == ""
    assert scaffolds._image_terms("neon signs, wet streets, setting, light, color palette") == "neon signs, wet streets"
    kept = "wet cobblestones, lanterns, watercolour, soft morning light"
    assert scaffolds._image_terms(kept) == kept


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("story", "**T**\n\nShe walked home. She still", "**T**\n\nShe walked home."),
        ("story", "It rained. The end.\ufffd", "It rained. The end."),
        ("lyrics", LYRICS + "\n\n[Bridge]", LYRICS),
        ("lyrics", LYRICS + "\n\n[Verse 3]\nThe lamps went out and", LYRICS),
        ("character", SHEET + "\n**Secret:**", SHEET),
        ("script", SCRIPT + "\n\nMARA", SCRIPT),
        ("poem", "Salt on the sill\nthe lamp burns low\nthe sea breathes in and", "Salt on the sill\nthe lamp burns low"),
    ],
)
def test_clean_end_cuts_back_to_a_whole_sentence_line_or_section(kind: str, text: str, expected: str) -> None:
    assert not shapes.ends_cleanly(text, kind)
    cleaned = shapes.clean_end(text, kind)
    assert cleaned == expected
    assert shapes.ends_cleanly(cleaned, kind) and shapes.clean_end(cleaned, kind) == cleaned


def test_a_title_or_an_initial_ends_no_sentence() -> None:
    # A fresh clone's /write script (stop 43): the action line was cut by its token limit at "named Dr." and shown so.
    assert scaffolds._sentence("The lab hums at midnight. A brilliant young doctor named Dr.", cut=True) == "The lab hums at midnight."
    assert scaffolds._sentence("The lab hums at midnight. A brilliant young doctor named Dr.", cut=False) == "The lab hums at midnight."
    assert scaffolds._sentence("Dr. Hart calls Mr. J. Smith, e.g. at noon.", cut=True) == "Dr. Hart calls Mr. J. Smith, e.g. at noon."
    assert scaffolds._sentence("The lab hums", cut=False) == "The lab hums"
    assert scaffolds._unbracketed("[Immersed in the lunar landscape, I stood.") == "Immersed in the lunar landscape, I stood."
    assert scaffolds._unbracketed("[Rain] fell on the roof.") == "[Rain] fell on the roof."
    for kind in ("story", "script", "poem"):
        assert not shapes.ends_cleanly("The lab hums.\nA doctor named Dr.", kind), kind
        assert shapes.clean_end("The lab hums.\nA doctor named Dr.", kind) == "The lab hums.", kind
    assert shapes.ends_cleanly("Salt on the sill\nand so am I.", "poem") and shapes.ends_cleanly("So am I.", "story")
    # nor does the stream cut there: the output rails would judge half a sentence
    chunker = SentenceChunker()
    assert chunker.feed("A brilliant young doctor named Dr. Hart waits. Then") == ["A brilliant young doctor named Dr. Hart waits. "]


def test_poem_forms_are_read_from_the_request() -> None:
    assert shapes.poem_form("a haiku about frost") == "haiku"
    assert shapes.poem_form("the sea", "sonnet") == "sonnet"
    assert shapes.poem_form("limericks about cats") == "limerick"
    assert shapes.poem_form("a lighthouse keeper") is None
    assert [shapes.syllables(w) for w in "an old silent pond".split()] == [1, 1, 2, 1]


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("Barnaby Blackbeard Age: 64", "Barnaby Blackbeard"),
        ("Reddolphin the Blackheart Age", "Reddolphin the Blackheart"),
        ("Old Tom Age : 70, a sailor", "Old Tom"),
        ("Ada, 34, a pilot, and her brother", "Ada"),
        ("Captain Mara Vell", "Captain Mara Vell"),
        ("Mr. Hercules Vane. He lifted the circus", "Mr. Hercules Vane"),  # a title's stop ends no name (stop 46)
        ("Dr. J. R. Stone", "Dr. J. R. Stone"),
        ("Ada. She flies", "Ada"),
        ("Mr", ""),  # a title alone is no name: asked again
        # stop 47's 200 names asked for
        ("Elara Blackwood - A", "Elara Blackwood"),
        ("Camilla Silverstar - 18-year", "Camilla Silverstar"),
        ("King_Apolonius *", "King Apolonius"),
        ("Aresia *Ares*", "Aresia Ares"),
        ('"Blackbeak Blackbeard"', "Blackbeak Blackbeard"),
        ('Alessandro "Aldi" Rossi', 'Alessandro "Aldi" Rossi'),
        ("Sir Reginald III of", "Sir Reginald III"),
        ("Zorro the Shaper of", "Zorro the Shaper"),
        ("Elena Argento-Fernandez", "Elena Argento-Fernandez"),
        ("178984035", ""),  # a number is no name: asked again
        ("郑水松", "郑水松"),
    ],
)
def test_a_character_name_is_the_name_alone(written: str, shown: str) -> None:
    """The model runs the Name field on into the next field or a description on the same line."""
    from bot.core.scaffolds import _name_alone

    assert _name_alone(written) == shown


def test_a_poem_line_is_trimmed_to_a_phrase_and_its_last_line_ends_it() -> None:
    """A haiku line is chosen from the line drawn and the phrases it begins with; the last line of a poem or a
    chorus loses its trailing comma, and one left on "and" cannot end the piece."""
    from bot.core.scaffolds import _last_line, _phrases

    drawn = "Sunset's final stretch... the fire that smoulders across"
    assert _phrases(drawn, whole=True) == ["Sunset's final stretch...", drawn]
    assert _phrases("In shades of purple, I will", whole=False) == ["In shades of purple"]
    assert _last_line("the lamp burns low,") == "the lamp burns low"
    assert _last_line("the sea breathes in and") == ""


def test_stop_strings_are_found_across_deltas_and_never_released() -> None:
    matcher = StopMatcher(("\n\n", "**"))
    released = []
    for piece in ("Mara", " Quill\n", "\nAge"):
        text, stopped = matcher.feed(piece)
        released.append(text)
        if stopped:
            break
    assert "".join(released) == "Mara Quill" and stopped
    matcher = StopMatcher(("**",))
    assert matcher.feed("bold *") == ("bold ", False)
    assert matcher.feed("ish") == ("*ish", False)


# -- the shipped model ------------------------------------------------------------------------------------------


def test_a_begun_reply_renders_open_and_a_cut_character_is_not_released(prepared_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(prepared_model_dir)
    messages = [{"role": "user", "content": "A character sheet."}, {"role": "assistant", "content": "**Name:**"}]
    assert render_chat(tokenizer, messages).endswith("**Name:**")
    closed = render_chat(tokenizer, messages[:1])
    assert closed.rstrip().endswith("assistant")
    token_ids = tokenizer.encode("café 🎉", add_special_tokens=False)
    detokenizer = IncrementalDetokenizer(lambda ids: tokenizer.decode(ids, skip_special_tokens=True))
    released = "".join(detokenizer.add(token) for token in token_ids[:-1]) + detokenizer.flush()
    assert "\ufffd" not in released and released.startswith("café")


@pytest.mark.slow
@pytest.mark.parametrize("form", ["haiku", "sonnet"])
async def test_a_poem_asked_for_by_form_has_its_lines_on_smollm2(smol_engine, form: str) -> None:
    """The small model stops a stanza early and writes haiku lines of any length: the scaffold asks it to go on
    and picks the line or phrase nearest each count, so the form is there by construction."""
    about = f"the first snow in a mountain village ({form})"
    scaffold = Scaffold(smol_engine, "poem", "short", about)
    messages = prompts.render_write(prompts.CreativeAsk(kind="poem", about=about, length="short"))
    events = [e async for e in scaffold.stream(messages, prompts.sampling_for("poem", "short", 11), "t")]
    text = "".join(e.text for e in events if isinstance(e, Delta))
    assert [len(stanza) for stanza in shapes._stanzas(text)] == list(shapes.POEM_FORMS[form])
    assert shapes.problems("poem", text, form) == [], text


@pytest.mark.slow
async def test_the_engine_continues_a_begun_reply_up_to_a_stop_string(smol_engine) -> None:
    messages = [
        {"role": "user", "content": "Write a character sheet for a pirate: Name, Age, Appearance."},
        {"role": "assistant", "content": "**Name:**"},
    ]
    text, usage = await smol_engine.complete(messages, SamplingParams(max_tokens=24, seed=3, stop=("\n", "**")), "t")
    assert "\n" not in text and "**" not in text
    assert usage.finish_reason in ("stop", "length") and usage.output_tokens <= 24


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["character", "lyrics", "script"])
async def test_a_scaffolded_piece_has_its_kind_shape_on_smollm2(smol_engine, kind: str) -> None:
    about = {"character": "a retired pirate", "lyrics": "leaving home", "script": "a doctor and a patient"}[kind]
    scaffold = Scaffold(smol_engine, kind, "short", about)
    messages = prompts.render_write(prompts.CreativeAsk(kind=kind, about=about, length="short"))
    events = [e async for e in scaffold.stream(messages, prompts.sampling_for(kind, "short", 11), "t")]
    *deltas, usage = events
    assert all(isinstance(d, Delta) for d in deltas) and isinstance(usage, Usage)
    text = "".join(d.text for d in deltas)
    assert usage.extra["parts"] >= 3 and usage.output_tokens > 0
    if kind == "lyrics":  # by construction: labelled sections and the chorus written once, repeated word for word
        first, second = text.split("[Chorus]\n")[1:3]
        assert second.strip() == first.split("\n\n")[0].strip()
        assert text.startswith("[Verse 1]\n") and "[Verse 2]\n" in text
    if kind == "character":
        fields = [line.split(":**")[0].strip("*") for line in text.splitlines()]
        assert fields == [f for f in shapes.CHARACTER_FIELDS if f in fields], "fields in order, none twice"
        assert fields[0] == "Name"
    if kind == "script":
        assert shapes._HEADING.match(text) and not shapes._script(text)
    assert "\ufffd" not in text


# -- the pipeline -------------------------------------------------------------------------------------------------


async def _core(tmp_path, server, rails, **overrides) -> Core:
    settings = Settings(data_dir=tmp_path, engine="openai", engine_urls=[server.base_url], shaped_writing=True, **overrides)
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    return await Core.start(settings, engine=engine, rails=rails)


async def _close(core: Core) -> None:
    await core.close()
    await core.engine.close()


def test_a_script_is_set_where_its_subject_says() -> None:
    # The small model, asked for the place, made up words (stop 42: "INT. LIGHTERKENITH SPENCE - DAY").
    assert scaffolds._subject_place("a lighthouse keeper who decides to set sail") == "LIGHTHOUSE"
    assert scaffolds._subject_place("two old friends meeting at a train station") == "TRAIN STATION"
    assert scaffolds._subject_place("a storm over the harbour") == "HARBOUR"
    assert scaffolds._subject_place("a doctor and a patient") == ""  # none named: the model is asked
    # What follows "at" or "in" (stop 45's read: the model, asked, gave "INT. PLAYING - DAY" for the first).
    assert scaffolds._subject_place("a king who lost his crown at a chess match") == "CHESS MATCH"
    assert scaffolds._subject_place("a heist in Monte Carlo") == "MONTE CARLO"
    assert scaffolds._subject_place("an argument in a lift that is stuck") == "LIFT"
    assert scaffolds._subject_place("two astronauts arguing in a broken airlock") == "BROKEN AIRLOCK"  # asked: PROLOGUE
    for no_place in ("two strangers in love", "a soldier home in the morning", "a knight at the end of his quest"):
        assert scaffolds._subject_place(no_place) == "", no_place  # when or how, not where


def test_a_script_line_ends_as_a_sentence_and_is_no_title() -> None:
    # A fresh clone's /write script (stop 41) and N = 3 (stop 42): a title as the action, headings and fragments spoken.
    for line in ('"The Keeper\'s Last Light"', "About the author", "Begin the day", "A. J. Smith", "Jack Smith.",
                 "The Baker's Bedside - AS THE BARKER'S DIETARY IN THE DAY", "a**l* e **f****n` *Mr***e'd* t***k!"):  # fmt: skip
        assert not scaffolds._script_worthy(line), line
    for line in ("No.", "I am Sam.", "Hello there, Sam!", "Of course! She loves me too.", "Where were you?"):
        assert scaffolds._script_worthy(line), line


def test_a_script_keeps_the_models_place_up_to_its_first_made_up_word() -> None:
    # A fresh clone's /write script (stop 43): "INT. TEMPLE OF THE SOPHERE - DAY" for a subject that names no place.
    assert scaffolds._known_place("TEMPLE OF THE SOPHERE".split()) == "TEMPLE"
    assert scaffolds._known_place("LIGHTERKENITH SPENCE".split()) == ""  # stop 42: the subject's words instead
    assert scaffolds._known_place("MORGAN'S OLD STUDY".split()) == "MORGAN'S OLD STUDY"
    for echo in ("", "PLACE TIME", "PLACES TIME", "TITLE LOCATIONS", "PROLOGUE"):  # the template read back (stop 44: a plural)
        assert scaffolds._reads_heading_back(echo), echo
    assert not scaffolds._reads_heading_back("TEMPLE") and not scaffolds._reads_heading_back("CHESS MATCH")


def test_a_script_line_begins_with_a_capital() -> None:
    # stop 44's read of /write script: the model went on in lower case after the speaker's name
    assert scaffolds._script_line("he placed his crown upon his head.", cut=False) == "He placed his crown upon his head."
    assert scaffolds._script_line("I know. (beat) I always knew.", cut=False) == "I know. I always knew."


def test_a_script_line_is_said_not_shouted() -> None:
    # stop 44's read of /write script: "LEADERS! I own them!!!", "LOHEMORAYEZ AGAIN!"
    line = scaffolds._script_line
    assert line("LEADERS! I own them!!!", cut=False) == "Leaders! I own them!"
    assert line("I KNOW WHAT YOU DID.", cut=False) == "I know what you did."  # all of it shouted
    assert line("What?!?! You did WHAT?", cut=False) == "What?! You did what?"
    assert line("Call the FBI, then wait. OK?", cut=False) == "Call the FBI, then wait. OK?"  # short capitals stay
    assert line("SO AM I. THE REST, i.e. the crew, CAN WAIT.", cut=False) == "So am I. The rest, i.e. the crew, can wait."


async def test_a_script_leaves_out_a_title_and_a_heading_the_model_gives_as_its_lines(
    tmp_path, openai_server, default_rails
) -> None:
    # The subject names no place, so the model is asked: it reads the template back ("INT. PLACE - DAY", "INT. INT TIME
    # - DAY" at N = 20; "TITLE LOCATION", stop 41), and the place is taken from the subject's last words instead.
    openai_server.scripted_parts = [" TITLE LOCATION - DAY", '"The Last Gambit: The End"', "About the author", "Begin the day"]
    openai_server.scripted_reply = "Your move, and take your time."
    core = await _core(tmp_path, openai_server, default_rails)
    try:
        sink = RecordingSink()
        outcome = await core.pipeline.run(AUTHOR, WriteJob("write", "script", "two rivals and their last chess match"), sink)
        assert outcome.status == RequestStatus.DELIVERED, outcome.message
        piece = sink.delivered.split("\n-# ")[0]
        heading, *turns = piece.split("\n\n")
        assert heading == "INT. CHESS MATCH - DAY"  # the template's words read back: the subject's place instead
        assert turns and all(t.split("\n") == [name, "Your move, and take your time."] for t, name in
                             zip(turns, ["FIRST RIVAL", "SECOND RIVAL"] * 3))  # fmt: skip
    finally:
        await _close(core)


async def test_a_piece_cut_by_its_budget_is_shown_to_its_last_sentence_with_an_offer_to_go_on(
    tmp_path, openai_server, default_rails
) -> None:
    openai_server.scripted_reply = "The keeper lit the lamp. The sea was calm that night. But she still " + "waited " * 400
    core = await _core(tmp_path, openai_server, default_rails)
    try:
        job = WriteJob("continue", "story", None, previous_text="It was late.", previous_checked=True, length="short")
        sink = RecordingSink()
        outcome = await core.pipeline.run(AUTHOR, job, sink)
        assert outcome.status == RequestStatus.DELIVERED
        assert sink.delivered.startswith("The keeper lit the lamp. The sea was calm that night.\n-# Stopped at the length")
        assert GO_ON.strip() in sink.delivered and "she still" not in sink.delivered
        [generation] = await records(core, Generation, Generation.request_id == outcome.request_id)
        assert generation.finish_reason == "length" and "But she still" in generation.raw_output
        assert "she still" not in generation.shown_output and generation.shown_output.endswith(GO_ON.strip())
    finally:
        await _close(core)


async def test_a_piece_that_misses_its_shape_is_written_once_more_with_a_new_seed(
    tmp_path, openai_server, default_rails
) -> None:
    # The loopback server answers every part with words and no line breaks: a story gets its title and body,
    # but the words never end a sentence, so the piece misses its shape and is written once more (not twice).
    core = await _core(tmp_path, openai_server, default_rails)
    try:
        sink = RecordingSink()
        outcome = await core.pipeline.run(AUTHOR, WriteJob("write", "story", "a quiet harbour", length="short"), sink)
        generations = await records(core, Generation, Generation.request_id == outcome.request_id)
        assert len(generations) == 2, "one retry for the shape, within the attempts budget"
        assert generations[0].seed != generations[1].seed
        assert sink.restarts == ["*Still writing…*"]
        [request] = await records(core, Request, Request.id == outcome.request_id)
        assert request.status in ("delivered", "failed")
        for generation in generations:
            assert "\ufffd" not in (generation.shown_output or "")
            assert generation.template_version == prompts.TEMPLATE_VERSION
    finally:
        await _close(core)


async def _harbour_lyrics(core: Core):
    """Short lyrics about the harbour through the pipeline, delivered: the outcome and the piece without its footer."""
    sink = RecordingSink()
    outcome = await core.pipeline.run(AUTHOR, WriteJob("write", "lyrics", "the harbour", length="short"), sink)
    assert outcome.status == RequestStatus.DELIVERED, outcome.message
    return outcome, sink.delivered.split("\n-# ")[0]


async def test_a_verse_line_the_rails_cannot_read_is_asked_again_not_shown_as_a_hole(
    tmp_path, openai_server, default_rails
) -> None:
    # The small model now and then drifts into another language (or words the identifier takes for one) for a line;
    # the language rail masks such a chunk as "[sentence removed]". The scaffold leaves the line out instead.
    openai_server.scripted_reply = (
        "I walk the shore tonight\nLa noche cae sobre el puerto y las olas cantan\nthe lanterns swing\n"
        "the ropes all sing\nand I am home\n\nmore"
    )
    core = await _core(tmp_path, openai_server, default_rails)
    try:
        outcome, body = await _harbour_lyrics(core)
        assert "[sentence removed]" not in body and "noche" not in body
        assert body.startswith("[Verse 1]\nI walk the shore tonight\nthe lanterns swing\nthe ropes all sing\nand I am home")
        [generation] = await records(core, Generation, Generation.request_id == outcome.request_id)
        assert "noche" not in generation.raw_output, "left out before the rails, not masked by them"
    finally:
        await _close(core)
    assert default_rails.reads("La noche cae sobre el puerto y las olas cantan", "output") is False
    assert default_rails.reads("I walk the shore tonight", "output") is True


async def test_lyrics_through_the_pipeline_repeat_the_chorus_and_record_every_part(
    tmp_path, openai_server, default_rails
) -> None:
    openai_server.scripted_reply = "I walk the shore tonight\nthe lanterns swing\nthe ropes all sing\nand I am home\n\nmore"
    core = await _core(tmp_path, openai_server, default_rails)
    try:
        _, body = await _harbour_lyrics(core)
        assert shapes.problems("lyrics", body) == []
        assert body.count("[Chorus]") == 2 and body.startswith("[Verse 1]\nI walk the shore tonight")
        sent = [r.body for r in openai_server.chat_requests]
        assert len(sent) == 3, "verse 1, chorus, verse 2: the second chorus is the first, not asked for"
        assert all(b["continue_final_message"] and b["messages"][-1]["role"] == "assistant" for b in sent)
        assert sent[1]["messages"][-1]["content"].endswith("[Chorus]\n") and "\n\n" in sent[0]["stop"]
    finally:
        await _close(core)


