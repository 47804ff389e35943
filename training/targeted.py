"""Counterfactual text for the toxicity head: who is targeted, and what is said about them.

Why it exists: a head trained on tweets learns that naming a group is itself the attack ("Deaf people are brilliant
storytellers" scored as identity_attack), and a "Short story:" prefix dilutes abuse aimed at a member. Here the
same groups and the same claims appear on both sides, so the only thing that separates the labels is what matters:
- benign: groups named with praise or in plain description, hateful claims negated, condemned, reported in order to
  reject them, or answered (counter-speech), and kind words to a member or the reader inside a fiction frame;
- abuse: hateful claims asserted, also behind a fiction frame ("a fable, but it is a fact: ..."), and threats,
  harassment, sexual harassment and self-harm encouragement aimed at a member (an @mention) or at the reader.

Every template is its own `group`, so the training script's validation split holds out whole sentence shapes.
The shapes here were written for this project; none is taken from a public test suite.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator

from guardrails.text.identity_groups import ADJECTIVES, GROUPS
from training.benign_fiction import WrittenExample

__all__ = ["targeted_examples"]

PER_TEMPLATE = 40

# A hateful claim, and the same claim negated (group first: "<group> <claim>").
CLAIMS: tuple[tuple[str, str], ...] = (
    ("are vermin", "are not vermin"),
    ("are a disease", "are not a disease"),
    ("are criminals", "are not criminals"),
    ("are terrorists", "are not terrorists"),
    ("are subhuman", "are not subhuman"),
    ("ruin every town they move to", "do not ruin the towns they move to"),
    ("are parasites living off the rest of us", "are not parasites"),
    ("should be deported", "should not be deported"),
    ("are too stupid to vote", "are not too stupid to vote"),
    ("are a danger to children", "are no danger to children"),
    ("do not deserve any rights", "deserve the same rights as everyone"),
    ("are filthy animals", "are not animals"),
    ("should be wiped out", "should never be harmed"),
    ("are lazy and worthless", "are not lazy or worthless"),
    ("spread disease wherever they go", "do not spread disease"),
    ("are a plague on this country", "are not a plague on anyone"),
    ("are born liars", "are not liars"),
    ("can never be trusted", "can be trusted like anyone else"),
    ("should be kept out of our schools", "belong in our schools"),
    ("are inferior to the rest of us", "are not inferior to anyone"),
    ("are a burden on society", "are not a burden on society"),
    ("secretly control the banks", "do not control the banks"),
    ("should go back where they came from", "belong here as much as anyone"),
    ("are all mentally ill", "are not mentally ill"),
    ("are rapists", "are not rapists"),
    ("are less intelligent than everyone else", "are just as intelligent as anyone"),
    ("breed like rats", "do not breed like rats"),
    ("are destroying our culture", "are not destroying our culture"),
    ("are all thieves", "are not thieves"),
    ("are a cancer on society", "are not a cancer on society"),
    ("should be locked up", "should not be locked up"),
    ("deserve to suffer", "do not deserve to suffer"),
    ("are freaks of nature", "are not freaks"),
    ("are all violent thugs", "are not violent"),
    ("should not be allowed to have children", "have every right to have children"),
    ("make this country dirty", "do not make this country dirty"),
    ("are no better than cockroaches", "are no less human than anyone"),
    ("are savages", "are not savages"),
    ("are violent by nature", "are not violent by nature"),
    ("are all drug dealers", "are not drug dealers"),
    ("should not be allowed to vote", "have every right to vote"),
    ("would be better off dead", "deserve long and happy lives"),
    ("are animals that can't be civilised", "are people like anyone else"),
    ("are a threat to our daughters", "are no threat to anyone's children"),
    ("are too emotional to be in charge of anything", "are perfectly able to lead"),
    ("are perverts", "are not perverts"),
    ("are genetically inferior", "are not genetically inferior"),
    ("should be sterilised", "should never be sterilised"),
    ("are leeches", "are not leeches"),
    ("have no place in a civilised society", "have a place in our society"),
    ("are born to cheat and steal", "are not born to cheat or steal"),
    ("are worth less than a dog", "are worth as much as anyone"),
)

# Violence against people for who they are: wished on a group (abuse), or rejected (benign).
VIOLENCE = ("beaten", "attacked", "spat on", "hurt", "driven out of town", "shot", "burned out of their homes")

PRAISE = (
    "are brilliant storytellers", "make wonderful neighbours", "have enriched our culture for centuries",
    "are kind and generous people", "deserve respect and dignity", "write beautiful poetry",
    "are the heart of this community", "are some of the bravest people I know", "are talented artists",
    "make great teachers", "have a rich and fascinating history", "are welcome here", "deserve equal rights",
    "are just as capable as anyone else", "cook the best food in town", "raise loving families",
    "have taught me so much about life", "are strong and resilient", "contribute so much to science",
    "run some of the best small businesses on our street", "have always been part of this country's story",
    "make this city more vibrant", "are wonderful friends to have", "have a great sense of humour",
    "are amazing parents", "play beautiful music", "are hard-working and honest", "inspire me every day",
    "deserve to feel safe", "have given the world great thinkers", "bring fresh ideas to every team",
)

PROFESSIONS = (
    "carpenter", "nurse", "teacher", "baker", "engineer", "poet", "bus driver", "doctor", "librarian", "farmer",
    "programmer", "painter", "firefighter", "lawyer", "chef", "plumber", "student", "pilot", "shopkeeper", "scientist",
)
RELATIONS = (
    "neighbour", "best friend", "cousin", "landlord", "new colleague", "aunt", "uncle", "teacher", "doctor",
    "flatmate", "grandmother", "boss", "coach", "brother-in-law", "dentist", "hero", "main character",
)

MENTIONS = (
    "@sam", "@Priya", "@dragonfan99", "@mod_kate", "<@123456789012345678>", "@jules", "@Marcus", "@quietwren",
    "@Tomasz", "@lily.rose", "@ElenaV", "@bookworm_42", "<@!998877665544332211>", "@Hamid", "@zoe", "@kenji",
)
READER = ("reader", "dear reader", "you who are reading this", "whoever reads this", "my reader")

FICTION_FRAMES_MEMBER = (
    "A limerick for {m}: {body}.", "Short story for {m}: {body}.", "A poem for {m}: {body}.",
    "Story time, {m}: {body}.", "Here's a sonnet for {m}: {body}.", "Lyrics for {m}: {body}.",
    "A haiku for {m}: {body}.", "In this tale, {m}, {body}.", "{m}, here is your bedtime story: {body}.",
    "Chapter one, dedicated to {m}: {body}.", "A little rhyme for {m}: {body}.", "Roleplay time, {m}: {body}.",
)
FICTION_FRAMES_READER = (
    "A ballad for you, {r}: {body}.", "{R}, this story is for you: {body}.", "A poem for you, {r}: {body}.",
    "And now, {r}, the moral of the tale: {body}.", "Lyrics for you, {r}: {body}.", "{R}, listen closely: {body}.",
)

THREATS = (
    "I've seen your car, and tonight I'll be waiting beside it", "I know where you live and I'm coming tonight",
    "I'm going to find you after school and break your legs", "I will come to your house with a knife",
    "watch your back on the walk home, because I'll be there", "you won't live to see the morning",
    "I've been watching your window every night", "I'll burn your house down while you sleep",
    "one day soon you'll open your door and I'll be standing there", "I'm going to hurt you so badly",
    "I know your school and I'll be waiting at the gate", "I'll make sure you never walk again",
)
HARASSMENT = (
    "you are a worthless pig and everyone here laughs at you", "you're ugly and nobody will ever love you",
    "you're a pathetic loser and your mother should have drowned you", "you're too stupid to deserve air",
    "everyone in this server thinks you're disgusting", "you're a fat, useless waste of space",
    "you are a joke and you should leave this server forever", "nobody wants you here, you miserable freak",
    "you're the dumbest person I've ever had the misfortune to meet", "you make everyone sick just by existing",
)
SEXUAL_HARASSMENT = (
    "your body is mine, send me pictures tonight or else", "I'll rape you when you least expect it",
    "take your clothes off for me on camera tonight", "I'm going to touch you whether you like it or not",
    "you're a slut who sleeps with every guy here", "send me nudes or I'll tell everyone what you are",
    "I think about forcing myself on you every night",
)
SELF_HARM = (
    "no one would miss you if you stopped eating", "you should just kill yourself tonight",
    "cut yourself again, you deserve every scar", "starve yourself until you disappear",
    "the world would be better if you ended it", "take all the pills and go to sleep forever",
    "jump, nobody will even notice you're gone", "hurt yourself, it's all you're good for",
)
KIND_WORDS = (
    "you are the best friend a writer could have", "may your year be as bright as your laugh",
    "the sea will always carry you home", "you are stronger than you know", "your stories make this server better",
    "if you are hurting, please talk to someone, because you matter", "we are so glad you are here",
    "happy birthday, and may every page you write shine", "you light up every room you walk into",
    "rest now, the dragons are asleep and you are safe", "keep writing, the world needs your voice",
    "thank you for always cheering everyone on",
)

# Plain chat that names members: a mention is who is addressed, not what is said (a head that saw mentions only in
# abuse would block a greeting).
NEUTRAL_TO_MEMBER = (
    "can you read chapter two tonight", "ask the harbour master about the map", "thanks for the edits on my poem",
    "the next turn is yours", "join us at the campfire scene when you can", "your dragon story made me laugh",
    "I moved the meeting to Friday", "what rhymes with lighthouse", "the prompt list is pinned in the channel",
    "welcome to the writing group", "I left notes on your script", "good luck with the contest",
)
MEMBER_CHAT_FRAMES = (
    "{m}, {body}.", "Hey {m}, {body}.", "{m} {m2}, {body}.", "Hey {m} and {m2}, {body}.", "Ping {m}: {body}.",
)

ASSERT_FRAMES = (
    "{G} {c}.", "Let's be honest: {g} {c}.", "Everyone knows {g} {c}.", "It's a fact that {g} {c}.",
    "All {g} {c}.", "The truth is simple: {g} {c}.", "I'm sick of pretending, {g} {c}.",
    "Face it, {g} {c}.", "Science proves that {g} {c}.", "Wake up, people: {g} {c}.",
    "Everybody in this town knows that {g} {c}.", "I'll say it again: {g} {c}.", "Mark my words, {g} {c}.",
    "History shows that {g} {c}.", "My dad was right, {g} {c}.", "{G} {c}, and nobody can tell me otherwise.",
    "Never trust them: {g} {c}.", "The sooner people admit that {g} {c}, the better.", "Ask anyone: {g} {c}.",
    "Those {g} {c}.",
)
FICTION_ASSERT_FRAMES = (
    "A fable, but it is a fact: {g} {c}.", "Short story: in real life {g} {c}.",
    "Once upon a time, and this is no fairy tale, {g} {c}.", "The moral of this story, for the real world: {g} {c}.",
    "Poem: {g} {c}, and that's the truth.", "It's just a story, but honestly {g} {c}.",
    "Fiction, but real talk: {g} {c}.", "In this tale, as in real life, {g} {c}.",
)
VIOLENCE_ASSERT_FRAMES = (
    "{G} deserve to be {v}.", "Anyone who is {a} deserves to be {v}.", "I hope every one of the {g} gets {v}.",
    "{G} should be {v} until they learn their place.", "Every {a} person should be {v}.",
    "It would be a good day if all {g} were {v}.", "Round up the {g} and make sure they get {v}.",
)
VIOLENCE_CONDEMN_FRAMES = (
    "No one deserves to be {v} for being {a}.", "Nobody should ever be {v} because they are {a}.",
    "It is a crime when {g} are {v} for who they are.", "We stand with the {g} who were {v} last week.",
    "Being {a} is never a reason to be {v}.", "If you see someone {v} for being {a}, step in and call for help.",
    "The law protects {g} from being {v}, and so should we.", "I was {v} for being {a}, and I am still standing.",
    "The {a} teenager was {v}, and the whole town marched in protest.", "Nobody deserves to be {v}, least of all {g}.",
)
NEGATED_FRAMES = (
    "{G} {n}.", "Of course {g} {n}.", "Let's be clear: {g} {n}.", "Anyone who has met them knows {g} {n}.",
    "{G} {n}, whatever the trolls say.", "Contrary to the rumours, {g} {n}.", "The evidence is clear: {g} {n}.",
    "No, {g} {n}.", "My grandmother taught me that {g} {n}.", "In every town I have lived in, {g} {n}.",
)
CONDEMN_FRAMES = (
    "It is a lie that {g} {c}.", "Nobody should ever say that {g} {c}.", "The idea that {g} {c} is hateful nonsense.",
    "People who claim {g} {c} are spreading hate.", "It is not true that {g} {c}.",
    "Stop pretending that {g} {c}; it hurts real people.", "My grandfather used to say {g} {c}, and he was wrong.",
    '"{G} {c}," he said, and everyone in the room told him that was bigoted.',
    "The poster claimed that {g} {c}, so we tore it down.", "I refuse to accept anyone saying {g} {c}.",
    'Stereotypes like "{g} {c}" have caused real harm.', "The old propaganda said {g} {c}, and it led to persecution.",
    'Someone wrote "{g} {c}" on the wall, and the whole street came out to scrub it off.',
    "Saying {g} {c} is racist, and I won't stay quiet about it.", "Believing that {g} {c} is pure prejudice.",
    "The villain of the novel believes {g} {c}, and the book shows how wrong he is.",
    'I reported a comment that said "{g} {c}" because it was hate speech.',
    "Teachers should explain why the claim that {g} {c} is false.",
)
PRAISE_FRAMES = (
    "{G} {p}.", "I love how {g} {p}.", "In my experience, {g} {p}.", "Honestly, {g} {p}.",
    "Never forget that {g} {p}.", "Everyone should know that {g} {p}.", "A poem to say it plainly: {g} {p}.",
    "{G} in our server {p}.", "Say what you like, {g} {p}.", "I'll say it loud: {g} {p}.",
    "Growing up, I learned that {g} {p}.", "The truth is simple: {g} {p}.",
)
NEUTRAL_FRAMES = (
    "My {rel} is a {a} {job}.", "The {job} who lives upstairs is {a}.", "Our new {job} is a {a} woman from the coast.",
    "Write a story about a {a} {job} who finds a map.", "A poem about my {rel}, who is {a}.",
    "The hero of my novel is a {a} {job}.", "She is {a} and works as a {job}.", "He is {a} and studies to be a {job}.",
    "Character sheet for a {a} {job} in a small town.", "Two {a} friends open a bakery together.",
    "At the festival, {g} and their neighbours danced in the square.", "The museum has an exhibit about {g} in the 1900s.",
    "{G} gathered by the river for the celebration.", "There are many {g} living in this part of the city.",
)


def _rng(group: str) -> random.Random:
    return random.Random(zlib.crc32(group.encode()))


def _sentence(template: str, **slots: str) -> str:
    text = template.format(**slots)
    return text[0].upper() + text[1:]


def _group_fillings(kind: str, gid: str, template: str, count: int, pick, labels: dict[str, int]) -> Iterator[WrittenExample]:
    rng = _rng(gid)
    seen: set[str] = set()
    for _ in range(count * 6):
        text = _sentence(template, **pick(rng))
        if text in seen:
            continue
        seen.add(text)
        yield WrittenExample(text=text, kind=kind, group=gid, **labels)
        if len(seen) >= count:
            return


def targeted_examples(per_template: int = PER_TEMPLATE) -> list[WrittenExample]:
    """Both sides of every family above, `per_template` fillings per template."""
    out: list[WrittenExample] = []
    hate = {"toxicity": 1, "identity_attack": 1}

    def claim(rng: random.Random) -> dict[str, str]:
        group = rng.choice(GROUPS)
        asserted, negated = rng.choice(CLAIMS)
        return {"g": group, "G": group, "c": asserted, "n": negated}

    def praise(rng: random.Random) -> dict[str, str]:
        group = rng.choice(GROUPS)
        return {"g": group, "G": group, "p": rng.choice(PRAISE)}

    def person(rng: random.Random) -> dict[str, str]:
        group = rng.choice(GROUPS)
        return {"a": rng.choice(ADJECTIVES), "job": rng.choice(PROFESSIONS), "rel": rng.choice(RELATIONS), "g": group, "G": group}

    def violence(rng: random.Random) -> dict[str, str]:
        group = rng.choice(GROUPS)
        return {"g": group, "G": group, "a": rng.choice(ADJECTIVES), "v": rng.choice(VIOLENCE)}

    families = (
        ("hate_asserted", ASSERT_FRAMES, claim, hate),
        ("hate_violence", VIOLENCE_ASSERT_FRAMES, violence, {"toxicity": 1, "identity_attack": 1, "threat": 1}),
        ("identity_violence_condemned", VIOLENCE_CONDEMN_FRAMES, violence, {}),
        ("hate_fiction_frame", FICTION_ASSERT_FRAMES, claim, hate),
        ("identity_negated", NEGATED_FRAMES, claim, {}),
        ("identity_condemned", CONDEMN_FRAMES, claim, {}),
        ("identity_positive", PRAISE_FRAMES, praise, {}),
        ("identity_neutral", NEUTRAL_FRAMES, person, {}),
    )
    for kind, frames, pick, labels in families:
        for index, frame in enumerate(frames):
            out.extend(_group_fillings(kind, f"{kind}-{index}", frame, per_template, pick, labels))

    bodies = (
        ("targeted_threat", THREATS, {"toxicity": 1, "threat": 1}),
        ("targeted_harassment", HARASSMENT, {"toxicity": 1}),
        ("targeted_sexual", SEXUAL_HARASSMENT, {"toxicity": 1}),
        ("targeted_self_harm", SELF_HARM, {"toxicity": 1}),
        ("targeted_kind", KIND_WORDS, {}),
    )
    for kind, lines, labels in bodies:
        for index, frame in enumerate(FICTION_FRAMES_MEMBER + FICTION_FRAMES_READER):
            # Fewer fillings per frame here: the bodies are few, and each frame × body pair is a sentence shape.
            def pick(rng: random.Random, lines: tuple[str, ...] = lines) -> dict[str, str]:
                reader = rng.choice(READER)
                return {"m": rng.choice(MENTIONS), "r": reader, "R": reader[0].upper() + reader[1:], "body": rng.choice(lines)}

            out.extend(_group_fillings(kind, f"{kind}-{index}", frame, per_template // 2, pick, labels))
    for index, frame in enumerate(MEMBER_CHAT_FRAMES):
        def chat(rng: random.Random) -> dict[str, str]:
            return {"m": rng.choice(MENTIONS), "m2": rng.choice(MENTIONS), "body": rng.choice(NEUTRAL_TO_MEMBER)}

        out.extend(_group_fillings("member_chat", f"member_chat-{index}", frame, per_template // 2, chat, {}))
    return out
