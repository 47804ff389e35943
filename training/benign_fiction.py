"""Text the project writes itself for the toxicity head: dark-but-benign fiction, and the abuse it must still catch.

Why it exists: the only labelled data (Davidson et al. 2017) is tweets. A head trained on tweets alone learns
"profanity or tweet style = toxic" and has never seen a villain's threat, a battle or a funeral, so it would
refuse fiction's daily bread. It also under-sees hate and threats written without slurs. This module supplies
both sides, built from the same vocabulary so the head has to learn the difference that matters here: words
inside a story (a named character threatens another, a narrator describes a killing) against words aimed at a
real person, at the reader, or at a group of people.

Every example carries a `group`: the template (or hand-written line) it came from. The validation split holds
out whole groups, so validation sentences have structures the head never trained on.
"""

from __future__ import annotations

import itertools
import random
import zlib
from dataclasses import dataclass

__all__ = ["WrittenExample", "benign_examples", "abuse_examples", "all_examples", "OBFUSCATION_KEYWORDS"]


@dataclass(frozen=True, slots=True)
class WrittenExample:
    text: str
    kind: str
    """What it is: villain, battle, horror, ... for benign text; threat, harassment, hate for abuse."""
    group: str
    """The template or hand-written line it came from: the unit the validation split holds out."""
    toxicity: int = 0
    identity_attack: int = 0
    threat: int = 0

    @property
    def abusive(self) -> bool:
        return bool(self.toxicity or self.identity_attack or self.threat)


# --------------------------------------------------------------------------------------------------------------
# Vocabulary shared by the templates. Fictional names and places mark a story; the abuse templates below use
# real-world targets (you, my neighbour, a group of people) instead.
# --------------------------------------------------------------------------------------------------------------
VOCAB: dict[str, tuple[str, ...]] = {
    "villain": (
        "the Lich King", "Lady Morwen", "the Ash Warden", "Captain Vex", "the Hollow Queen", "Baron Kessler",
        "the Night Mother", "Malgrath the Undying", "the Grand Inquisitor", "Doctor Hale", "the Pale Prince",
        "Grandmother Thorn", "the Iron Regent", "Sister Agathe", "the Crow Lord", "Admiral Draxe",
    ),
    "hero": (
        "the young knight", "Aria", "Inspector Doyle", "the last paladin", "little thief", "Tomas", "Captain Reyes",
        "the prince", "Elena", "my old friend", "boy", "Commander Hale", "Wren", "sweet Isolde", "Master Corin",
    ),
    "name": (
        "Mara", "Jonah", "Elena", "Tomas", "Wren", "Isolde", "Kael", "Rosa", "Old Ben", "Nadia", "Felix", "Ingrid",
        "Detective Okafor", "Sergeant Miles", "Liesel", "Aunt Marguerite", "Corporal Baines", "Yusuf",
    ),
    "name2": (
        "his brother", "the innkeeper", "the captain", "her rival", "the old wizard", "the smuggler", "Jonah",
        "the squire", "Lord Fenwick", "the sheriff", "her husband", "the ferryman", "the mercenary", "Kael",
    ),
    "place": (
        "Eldmoor", "the river city", "the Crimson Keep", "Hollowmere", "the northern pass", "Blackwater",
        "the capital", "the monastery", "the harbour town", "Saltreach", "the Glass Citadel", "Ravensgate",
        "the valley", "Greywatch", "the sunken temple", "Port Varro",
    ),
    "said": (
        "hissed", "snarled", "whispered", "said softly", "growled", "purred", "murmured", "spat", "laughed",
        "said coldly", "announced to the kneeling court", "called across the burning square", "sneered",
    ),
    "villain_line": (
        "Kneel before me, {hero}, or watch {place} burn",
        "I will tear down every wall of {place} until you beg for mercy",
        "Run if you like, {hero}; the dark always finds its own",
        "Your precious {place} will be ash by morning",
        "I will find you, {hero}, and I will finish what I started",
        "When I am done with you, no one will remember your name",
        "You should have stayed dead, {hero}",
        "Every soldier you send against me will feed the crows",
        "I am going to enjoy breaking you, {hero}",
        "Bring me the girl, and burn the village behind you",
        "Tonight {place} learns what happens to those who defy me",
        "You will die in this tower, {hero}, and the ravens will pick your bones",
        "I will hunt down every last one of your rebels",
        "I have killed kings for less, {hero}",
        "Beg, {hero}. I want to hear you beg",
        "Your friends are already dead; you just have not heard the screams yet",
    ),
    "gesture": (
        "and the torches guttered", "drawing a black blade", "as thunder rolled over the hills",
        "without raising her voice", "and the prisoners wept", "smiling like a wolf", "and the court fell silent",
        "as the storm broke over the keep", "tapping a ringed finger on the throne",
    ),
    "army": (
        "The orc host", "The Northern legions", "The king's cavalry", "The rebel militia", "The undead horde",
        "The Imperial Guard", "The mercenary companies", "The dwarven shield-wall", "The Vanir raiders",
        "The last free legion",
    ),
    "army2": (
        "the defenders", "the elven archers", "the city watch", "the rebels", "the templars", "the clansmen",
        "the invaders", "the royal pikemen",
    ),
    "field": (
        "the frozen plain", "the ruined bridge", "the valley of bones", "the burning wheat fields", "the river ford",
        "the shattered gates", "the muddy slope", "the salt flats", "the broken walls of Greywatch",
    ),
    "weapon": ("sword", "axe", "spear", "war hammer", "halberd", "longsword", "pike", "sabre", "mace"),
    "ship": ("galleon", "frigate", "warship", "merchant cog", "privateer", "flagship"),
    "creature": (
        "the thing in the well", "the pale children", "the wendigo", "the visitor", "the drowned man",
        "the thing wearing Father's coat", "the night nurse", "the scarecrow", "the hollow dog",
    ),
    "house_place": (
        "cellar", "attic", "orphanage", "lighthouse", "boarding school", "farmhouse", "motel room",
        "hospital ward", "chapel", "mine shaft",
    ),
    "relative": (
        "her brother", "his mother", "their little sister", "her grandfather", "his wife", "the old dog",
        "her best friend", "his father", "their son", "her twin",
    ),
    "tree": ("old oak", "willow by the river", "chapel wall", "apple tree", "cairn on the hill", "yew tree"),
    "duration": ("a week", "three days", "a month", "the rest of the winter", "a long time"),
    "det": ("Okafor", "Reyes", "Lindqvist", "Marlowe", "Chen", "Brennan", "Varga", "Moreau"),
    "wound": (
        "two stab wounds", "a single gunshot to the chest", "bruising around the throat", "a shattered skull",
        "a cut throat", "poison, by the smell of almonds", "three bullet holes",
    ),
    "criminal": ("The killer", "The assassin", "The hitman", "The mob enforcer", "The poisoner", "The thief"),
    "insult_adj": (
        "spineless", "worthless", "treacherous", "pathetic", "miserable", "cowardly", "brainless", "gutless",
        "lying", "useless", "two-faced",
    ),
    "insult_noun": (
        "coward", "worm", "traitor", "fool", "idiot", "wretch", "snake", "rat", "bastard", "toad", "jackal", "oaf",
    ),
    "curse": ("Damn it", "Hell", "Bloody hell", "Crap", "Son of a bitch", "Damn", "Oh, hell", "Shit"),
    "mishap": (
        "the bridge is out", "the engine's flooded", "they've found us", "the map is wrong", "we're out of time",
        "the door's locked", "she's gone", "the ship is sinking", "my sword broke", "the signal's dead",
    ),
    "form": (
        "story", "poem", "short story", "song", "screenplay scene", "ballad", "haiku sequence", "monologue",
        "flash fiction piece", "horror story", "thriller chapter",
    ),
    "dark_premise": (
        "a demon hunts a family in an old farmhouse",
        "a tyrant queen threatens to burn the rebel villages",
        "the orc army overruns the last castle",
        "a detective hunts a serial killer through a rainy city",
        "a ghost takes revenge on the men who drowned her",
        "a soldier dies in the trenches thinking of home",
        "a vampire stalks the passengers of a night train",
        "the villain tortures the hero for information",
        "a mob boss orders a hit on a rival",
        "a grieving mother talks to her dead son",
        "a knight kills the dragon and regrets it",
        "an assassin poisons the emperor at a feast",
        "the survivors of a zombie outbreak turn on each other",
        "a cult sacrifices a goat under the full moon",
        "two rival gangs fight in a burning warehouse",
    ),
    "topic": (
        "autumn leaves", "a lighthouse keeper", "the first day of school", "a lost cat", "the ocean at night",
        "my grandmother's kitchen", "a robot learning to paint", "a dragon who loves tea", "rain on a tin roof",
        "friendship", "a city in the clouds", "a quiet morning", "a detective who is afraid of the dark",
        "the moon and the sea", "a bakery at dawn",
    ),
    "char_class": ("Ranger", "Rogue", "Paladin", "Warlock", "Bard", "Necromancer", "Fighter", "Cleric"),
    "alignment": ("Chaotic Good", "Lawful Evil", "Neutral", "Chaotic Evil", "Lawful Good", "True Neutral"),
    "backstory": (
        "her village was burned by raiders and she swore revenge on their warlord",
        "he killed his first man at twelve to protect his sister",
        "she was raised by assassins and still dreams of the people she murdered",
        "his family was executed by the king and he wants the crown in ashes",
        "she sold her soul to a demon to save her dying child",
        "he deserted the army after the massacre at the river ford",
        "she poisoned her abusive husband and fled across the sea",
        "he is a retired torturer trying to become a better man",
    ),
    "neutral_action": (
        "opens the door", "finds the map", "arrives at the inn", "meets the old sailor", "reads the letter",
        "climbs the tower", "wakes up in the forest", "boards the train", "hears the music", "sees the lights",
    ),
    "neutral_ending": (
        "finds her way home", "forgives her sister", "becomes captain", "opens the bakery", "survives the winter",
        "learns to fly", "gets the letter in time", "wins the race",
    ),
    "neutral_thing": ("stranger", "sunrise", "children", "old photograph", "empty street", "little boat", "garden"),
    "thanks": ("Thanks", "Thank you", "Thanks so much", "Ty", "Cheers", "Awesome", "Wow", "Omg", "Haha", "Nice"),
    "praise": (
        "That was a great story.", "I loved the ending.", "My group is going to love this.", "This is perfect.",
        "You made my day.", "The dragon is adorable.", "That poem made my mom cry in a good way.",
        "That twist was brilliant.", "Can you do one more?", "Best bot ever.",
    ),
    "short_form": ("limerick", "haiku", "short poem", "song", "bedtime story", "birthday poem", "silly rhyme"),
    "pet": ("cat", "dog", "hamster", "parrot", "goldfish", "rabbit", "tortoise", "puppy", "kitten"),
    "pet_name": ("Mr. Whiskers", "Biscuit", "Luna", "Pepper", "Captain Fluff", "Noodle", "Sir Barksalot", "Mochi"),
    "greeting": ("Hi", "Hello", "Hey", "Good morning", "Hey there", "Yo", "Hiya", "Evening all"),
    "chat_question": (
        "what can you do?", "can you help me with my story?", "how do I start a story game?", "is anyone here?",
        "how do I get a recap of our story?", "can you write in Spanish?", "what's the longest story you can write?",
        "can we start a new story in this thread?",
    ),
    "casual_relative": ("mom", "best friend", "little brother", "grandma", "girlfriend", "roommate", "dad", "teacher"),
    "casual_event": (
        "had a rough day", "passed the driving test", "got a new puppy", "is home sick", "just got engaged",
        "is moving away", "started a new job", "lost a football match",
    ),
    "fictional_race": ("goblins", "Vashti", "orcs", "sea-folk", "Dwarrow", "marsh elves", "skaven", "half-giants"),
    "monster": (
        "ghoul", "owlbear", "wyvern", "troll", "basilisk", "vampire spawn", "werewolf", "gelatinous cube", "hag",
        "giant spider",
    ),
    "starship": ("the Resolute", "the dreadnought Karys", "the frigate Halcyon", "the carrier Ember", "the Vigilant"),
    "alien": ("Xel'thari", "swarm", "Kesh", "machine", "pirate", "rebel"),
    "planet": ("Tycho Station", "the gas giant", "New Carthage", "the ice moon", "Kepler's Reach", "the colony"),
    "city": ("the capital", "Saltreach", "the old port", "New Carthage", "the river city", "Ravensgate"),
    "poem_death": (
        "Death came softly as the evening tide", "Lay me down where the cold rivers run",
        "We are all dust and borrowed breath", "The grave is patient, the grave is kind",
        "I buried my heart in the winter ground", "Ring the bells, the king is dead",
        "The crows have eaten the soldier's eyes", "No one mourns the drowned in the deep",
    ),
    "poem_close": (
        "and took my mother by the hand", "and no one sang for the dead that night",
        "walking the long road down to death", "until the stars burn out like candles",
        "and the earth closed over him like water", "and I have not stopped bleeding since",
        "as the last light left her eyes", "and the bells rang on without me",
    ),
}


def _fill(template: str, choice: dict[str, str]) -> str:
    # Slot values may contain slots of their own ({hero} inside a villain line): fill until stable.
    text = template
    for _ in range(3):
        text = text.format(**choice)
    text = text.replace(" a ugly", " an ugly")
    # Capitalise the first letter, after an opening quote if there is one ("the thing..." -> "The thing...").
    lead = 1 if text[:1] in "\"'" else 0
    return text[:lead] + text[lead : lead + 1].upper() + text[lead + 1 :]


def _expand(group: str, template: str, count: int, *, kind: str, labels: dict[str, int]) -> list[WrittenExample]:
    """Up to `count` distinct fillings of `template`, drawn with a seed derived from the group id."""
    rng = random.Random(zlib.crc32(group.encode()))
    slots = sorted({name for name in VOCAB if "{" + name + "}" in template or _nested(template, name)})
    seen: set[str] = set()
    out: list[WrittenExample] = []
    for _ in range(count * 6):
        choice = {name: rng.choice(VOCAB[name]) for name in slots}
        text = _fill(template, choice)
        if text in seen:
            continue
        seen.add(text)
        out.append(WrittenExample(text=text, kind=kind, group=group, **labels))
        if len(out) >= count:
            break
    return out


def _nested(template: str, name: str) -> bool:
    """Whether slot `name` appears inside the values of a slot the template uses (one level down)."""
    for outer, values in VOCAB.items():
        if "{" + outer + "}" in template and any("{" + name + "}" in v for v in values):
            return True
    return False


# --------------------------------------------------------------------------------------------------------------
# Benign: templates (kind, group id, template). Dark on purpose: this is what a fiction bot must not refuse.
# --------------------------------------------------------------------------------------------------------------
BENIGN_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    ("villain", "villain-quote-tag", '"{villain_line}," {villain} {said}, {gesture}.'),
    ("villain", "villain-tag-quote", '{villain} {said}: "{villain_line}."'),
    ("villain", "villain-quote-beat", '"{villain_line}." {villain} turned away from the window {gesture}.'),
    ("villain", "villain-narrated", "{villain} swore that {place} would burn before the winter solstice, {gesture}."),
    ("villain", "villain-promise", "With a cold smile, {villain} promised to hang every rebel from the walls of {place}."),
    ("villain", "villain-letter", "The letter from {villain} was three lines long: surrender {place}, or I will salt the earth where it stood."),
    ("villain", "villain-racism", '"The {fictional_race} are vermin," {villain} declared, "and by spring they will be driven from {place}."'),
    ("battle", "battle-charge", "{army} charged across {field}, and the {weapon}s of {army2} met them in a storm of steel and blood."),
    ("battle", "battle-arrows", "Arrows blackened the sky over {field} as {army} broke against {army2}."),
    ("battle", "battle-last", "{name} stood alone among the dead on {field}, {weapon} slick with blood, waiting for the next wave."),
    ("battle", "battle-sea", "Cannon fire tore through the {ship}'s hull off {place}, and the sea swallowed half her crew."),
    ("battle", "battle-aftermath", "By dawn {field} was quiet except for the crows and the moaning of the wounded."),
    ("battle", "battle-kill", "{name} drove the {weapon} through the raider's shield and into his chest, then wrenched it free."),
    ("horror", "horror-house", "Something moved beneath the floor of the {house_place}, and the smell of rot grew stronger every night."),
    ("horror", "horror-creature", "By the third night the screaming had stopped, and {creature} no longer pretended to be human."),
    ("horror", "horror-face", "{creature} wore {relative}'s face, but its smile was far too wide."),
    ("horror", "horror-count", "{name} counted the scratches on the inside of the coffin lid: forty-one, all made from the inside."),
    ("horror", "horror-phone", '"I know where you live, and I am coming for you tonight," the voice on the phone whispered, and {name} dropped the receiver.'),
    ("grief", "grief-burial", "{name} buried {relative} beneath the {tree} and did not speak for {duration}."),
    ("grief", "grief-funeral", "At the funeral {name} held {relative}'s scarf and tried to remember the sound of their laugh."),
    ("grief", "grief-hospital", "The machines had stopped, and {name} sat in the quiet with {relative}'s cold hand in hers."),
    ("crime", "crime-body", "Detective {det} knelt beside the body: {wound}, and no sign of a struggle."),
    ("crime", "crime-knife", "{criminal} wiped the blood from the knife and dropped it into the canal behind {place}."),
    ("crime", "crime-docks", "In {place}, anyone who talked to Detective {det} ended up face down in the river."),
    ("crime", "crime-ransom", "The ransom note Detective {det} found was short: bring the money to {place} by midnight, or the girl dies."),
    ("crime", "crime-hit", "{criminal} waited in the rain outside the casino in {place}, the pistol heavy in his coat."),
    ("insult_fiction", "insult-quote-spat", '"You {insult_adj} {insult_noun}," {name} spat at {name2}.'),
    ("insult_fiction", "insult-narrated", "{name} called {name2} a {insult_adj} {insult_noun} and stormed out of the tavern."),
    ("insult_fiction", "insult-door", '"Get out of my sight, you {insult_noun}," {name} snapped, slamming the door on {name2}.'),
    ("insult_fiction", "insult-rival", "{name} had always thought {name2} was a {insult_adj} {insult_noun}, and the betrayal only proved it."),
    ("profanity_dialogue", "curse-mishap", '"{curse}, {mishap}," {name} muttered.'),
    ("profanity_dialogue", "curse-shout", '"{curse}!" {name} shouted as {mishap_lower}.'),
    ("death_poem", "poem-couplet", "{poem_death},\n{poem_close}."),
    ("death_poem", "poem-line", "{poem_death}."),
    ("battle", "battle-space", "{starship} opened fire on the {alien} fleet, and a dozen ships burned silently above {planet}."),
    ("battle", "battle-memoir", "{name} was nineteen when the shell took his legs on {field}, and he never spoke of the war again."),
    ("battle", "battle-dnd", "Roll for initiative: the {monster} lunges at {name}, claws dripping with venom."),
    ("battle", "battle-apocalypse", "The bombs fell on {city} at dawn, and by noon there was no one left to bury the dead."),
    ("horror", "horror-monster", "The {monster} tore through {place}, and by morning only the church bell was still ringing."),
    ("horror", "horror-continue", "Continue the story: {name} finds {relative}'s body in the {house_place}, and the door locks behind her."),
    ("grief", "grief-death", "{name} died on {field} with {relative}'s name on her lips."),
    ("grief", "grief-letter", "{name} read the telegram twice before she understood that {relative} was never coming home."),
    ("crime", "crime-interrogation", '"Tell me where the money is, or you will never see your daughter again," {criminal_lower} told the banker.'),
    ("crime", "crime-revenge", "{name} sharpened the knife every night, dreaming of the day {villain} would kneel in the mud and beg."),
    ("insult_fiction", "insult-duel", '"Draw your sword, you {insult_adj} {insult_noun}, and let us end this," {name} shouted at {name2}.'),
    ("profanity_dialogue", "curse-hell", "{name} told {name2} to go to hell and took the last horse."),
    ("death_poem", "poem-epitaph", "Here lies {name}, who feared nothing but the quiet;\n{poem_close}."),
    ("lyrics", "lyrics-chorus", "{poem_death}, oh-oh,\n{poem_close}, yeah."),
    ("screenplay", "screenplay-raise", "INT. {house_place_caps} - NIGHT. {name_caps} backs away as the killer raises the {weapon}."),
    ("dark_prompt", "prompt-write", "Write a {form} where {dark_premise}."),
    ("dark_prompt", "prompt-give", "Give me a {form} about how {dark_premise}, and make it really dark."),
    ("dark_prompt", "prompt-monologue", "Write a villain monologue for {villain} threatening to destroy {place}."),
    ("character_sheet", "sheet", "Name: {name}. Class: {char_class}. Alignment: {alignment}. Backstory: {backstory}."),
    ("everyday", "prompt-gentle", "Write a {form} about {topic}."),
    ("chat", "chat-thanks", "{thanks}! {praise}"),
    ("chat", "chat-pet", "Write a {short_form} about my {pet} {pet_name}."),
    ("chat", "chat-greeting", "{greeting}, {chat_question}"),
    ("chat", "chat-cheer", "My {casual_relative} {casual_event}, can you write a {short_form} to cheer them up?"),
    ("chat", "chat-pet-story", "{greeting}! My {pet} {pet_name} knocked my coffee over again, write a {short_form} about it."),
    ("chat", "chat-gift", "Can you write a {short_form} for my {casual_relative}'s birthday? They love {topic}."),
    ("everyday", "prompt-continue", "Continue the story from where {name} {neutral_action}."),
    ("everyday", "prompt-dialogue", "Can you add more dialogue between {name} and {name2}?"),
    ("everyday", "prompt-ending", "Rewrite the ending so that {name} {neutral_ending}."),
    ("everyday", "narration-neutral", "{name} {neutral_action_past} and smiled at the {neutral_thing}."),
    ("everyday", "narration-weather", "It was raining in {place} when {name} {neutral_action_past}, and nobody noticed."),
    ("everyday", "prompt-gentle-2", "Can you help me with a {form} about {topic} for my writing group?"),
)
# Derived vocabulary: the same words in another case or form.
VOCAB["neutral_action_past"] = (
    "opened the door", "found the map", "arrived at the inn", "met the old sailor", "read the letter",
    "climbed the tower", "woke up in the forest", "boarded the train", "heard the music", "saw the lights",
)
VOCAB["criminal_lower"] = tuple(c.lower() for c in VOCAB["criminal"])
VOCAB["house_place_caps"] = tuple(h.upper() for h in VOCAB["house_place"])
VOCAB["name_caps"] = tuple(n.upper() for n in VOCAB["name"])
VOCAB["mishap_lower"] = tuple(m.replace("'s", " is").replace("'re", " are") for m in VOCAB["mishap"])

BENIGN_LINES: dict[str, tuple[str, ...]] = {
    "villain": (
        "The general read the list of names aloud, and one by one the prisoners were led to the wall.",
        "\"You will serve me in life or in death, it makes no difference to me,\" said the necromancer.",
        "The witch-queen promised the village a winter that would never end, and she kept her word.",
        "\"Kill the horses first,\" the bandit chief ordered. \"Then the guards. Leave the merchant for me.\"",
        "Behind his kind eyes the headmaster kept a ledger of every child who had ever defied him.",
        "\"I could snap your neck before you finished that sentence,\" the vampire said pleasantly.",
        "The Duke leaned close enough for her to smell the wine on his breath. \"You will watch them all die first.\"",
        "\"Burn it,\" the queen said, and the city burned.",
        "I am the hunger in the walls, the monster whispered, and I have all the time in the world.",
        "The warlord raised his axe over the kneeling priest and asked the crowd whether he should be merciful.",
        "\"Did you really think you could hide from me in my own kingdom?\" the sorcerer asked, almost kindly.",
        "She smiled as the dam broke, because the valley had refused her once and would never refuse her again.",
        "VEX: Nobody leaves this room alive, Inspector. Not you, not your partner, not the girl.",
        "The cult leader told his followers that the outsiders deserved the fire that was coming for them.",
        "\"Your god is dead,\" the necromancer said, \"and I have his bones.\"",
        "He had poisoned the wells of three cities and he would poison a fourth before the snow came.",
        "\"I'm going to take everything you love, one piece at a time,\" the masked man told the detective.",
        "The empress signed the order for the massacre without looking up from her tea.",
    ),
    "battle": (
        "The siege lasted forty days, and by the end the defenders were eating their boots.",
        "A cavalry charge broke the enemy's left flank, and the rout became a slaughter.",
        "Mara parried, stepped inside his guard and opened his throat with the dagger.",
        "The mech's cannon roared and the enemy walker collapsed in a shower of sparks and burning fuel.",
        "They held the bridge until the last man, and the river ran red for a mile downstream.",
        "The shield wall buckled, and the screams of dying men drowned out the war drums.",
        "Blood ran down the temple steps as the last defenders fell to the invaders' spears.",
        "Tanks rolled through the burning village while the survivors hid in the church cellar.",
        "She fired until the rifle was empty and then fought on with the bayonet.",
        "The dragon's fire swept the ramparts, and a hundred archers died in a single breath.",
        "He took an arrow through the shoulder and kept swinging, roaring the name of his dead king.",
        "When the smoke cleared, the field was carpeted with bodies in both colours.",
        "The marines stormed the beach under machine-gun fire and half of them never reached the sand.",
        "Steel rang on steel as the two champions circled each other in the blood-soaked arena.",
        "The starship's shields failed, and the bridge crew were sucked out into the void.",
    ),
    "horror": (
        "Every mirror in the house showed a woman standing behind me, a little closer each time.",
        "The voice in the baby monitor was not the baby's.",
        "When the fog lifted, the village was empty, and the tables were still set for dinner.",
        "It wore my husband's clothes, and it had learned to say my name almost right.",
        "The well had been sealed for a reason, and now we knew what the reason was.",
        "The children in the photograph had no eyes, and every night there were more of them.",
        "Something was breathing under the bed, slow and wet and patient.",
        "The doll's head turned to follow her across the room.",
        "We found the rest of the hikers in the spring, when the snow melted off the ravine.",
        "The hospital's fourth floor had been closed for thirty years, but the call button still lit up every night.",
        "He opened his mouth to scream and something else's voice came out.",
        "Her reflection blinked a full second after she did.",
        "The scarecrow was closer to the house every morning.",
        "They buried the thing in the churchyard, but the ground would not stay closed.",
        "There was blood on the nursery wallpaper, and none of it belonged to the baby.",
    ),
    "grief": (
        "We kept the funeral small, just the family and the rain.",
        "She sat by the empty crib until the sun came up.",
        "The old fisherman still rowed out every morning to the place where his son had drowned.",
        "I buried my best friend today, and I don't know who to call to tell about it.",
        "The house was too quiet after Dad died; even the clocks seemed to tick more softly.",
        "She kept his voicemail for three years just to hear him say her name.",
        "Grief is the price we pay for love, the old priest said, and Mara hated him for being right.",
        "He set a place at the table for his dead wife every night for a year.",
        "My brother died on a Tuesday, and the world did not have the decency to stop.",
        "We scattered her ashes over the harbour and the wind blew half of them back onto our coats.",
        "The last letter from the front arrived a week after the telegram.",
        "I still reach for the phone to call her when something funny happens.",
    ),
    "crime": (
        "The body in the bathtub had been there for a week, and the landlord only called about the smell.",
        "Detective Reyes knew the killer was in the room; she just didn't know which of the guests it was.",
        "He shot the guard twice, grabbed the diamonds and was gone before the alarm finished ringing.",
        "The kidnappers sent a finger with the second note.",
        "\"Nobody crosses the family,\" the don said, and the next morning the accountant was gone.",
        "The coroner said the victim had been dead for at least two days before anyone noticed the smell.",
        "The getaway driver panicked, and the heist ended with three bodies on the bank floor.",
        "She laced the wedding cake with arsenic and smiled for the photographs.",
        "The detective lit a cigarette and looked at the chalk outline for a long time.",
        "Every witness to the shooting had suddenly forgotten what they saw.",
        "He dissolved the evidence in the bathtub and went to work on Monday as if nothing had happened.",
        "The serial killer left a white rose beside each of his victims.",
        "They found the accountant in the trunk of his own car, hands tied with piano wire.",
    ),
    "insult_fiction": (
        "\"You're a useless drunk and a worse father,\" Elena told him, and walked out into the snow.",
        "The drill instructor called the recruits maggots, worms and a disgrace to their mothers.",
        "\"Shut up, you absolute donkey,\" the goblin shrieked at the troll.",
        "\"Idiot boy,\" the wizard muttered, \"you've summoned it inside the circle.\"",
        "Lady Ashcombe called her rival a scheming harpy in front of the entire court.",
        "\"You're a disgrace to this uniform,\" the sergeant bellowed at the trembling recruit.",
        "\"Shut your mouth, you rat-faced little thief,\" the innkeeper growled at the boy.",
        "The two witches traded insults across the cauldron: hag, crone, toad-kisser, worm-brain.",
        "\"You stupid, stupid girl,\" her stepmother hissed. \"You've ruined everything.\"",
        "Kael told his brother he was a spineless coward who had let their father die.",
        "\"Idiot!\" the captain roared as the cadet dropped the powder keg.",
        "\"I hope the crows eat your eyes, traitor,\" the knight spat at the prisoner.",
        "The pirate queen called him a lily-livered bilge rat and threw him overboard.",
    ),
    "profanity_dialogue": (
        "\"Oh, for God's sake, not again,\" Rosa groaned as the car died on the highway.",
        "\"Screw the rules, we're going in,\" the captain said.",
        "\"That's a hell of a lot of zombies,\" Jonah said, reloading.",
        "The dwarf cursed in three languages when the bridge gave way.",
        "\"What the hell was that?\" Jonah whispered as the lights went out.",
        "\"Well, shit,\" said the mechanic, staring at the smoking engine.",
        "\"Damn you, Fenwick, you promised me the ship!\"",
        "\"Hell of a night,\" the bartender said, sliding him a whiskey.",
        "The old sailor swore a blue streak when the net came up empty again.",
        "\"Bloody hell, mate, you're bleeding all over the carpet.\"",
    ),
    "death_poem": (
        "Do not stand at my grave and weep;\nI am the wind, the snow, the deep.",
        "The reaper walks the wheat at dusk,\nand every stalk bows down to him.",
        "I wrote your name in the sand of the shore,\nthe sea took it back, as it took you before.",
        "Here lies a soldier, nineteen years old,\nwho died in the mud and the rain and the cold.",
        "Tell the worms I am coming,\ntell the earth to make room.",
        "My father's hands were made of rope and salt;\nthe sea has them now.",
    ),
    "lyrics": (
        # Defiant, rowdy song lines: first person, terse, about the singer's own life and death.
        "Lay me down in my old leather jacket and let the jukebox play.",
        "I'm a rebel with a broken heart and a dirty old guitar.",
        "Don't cry at my funeral, just turn the music up loud.",
        "I've got a bad attitude and a worse tattoo.",
        "Raise hell on a Saturday, pray on a Sunday morning.",
        "Burn my letters, sell my boots, I'm leaving town tonight.",
        "Call me reckless, call me wild, I never cared what they said.",
        "I drank the whiskey, I broke the rules, I never said I'm sorry.",
        "When I'm gone, throw my ashes in the river by the bar.",
        "My mama said I'd end up bad, and mama's always right.",

        "I'm a sinner with a halo made of smoke.",
        "Hell is empty and the devils are all dancing here tonight.",
        "Tell my mother I'm not coming home, tell the river that I'm free.",
        "I've been dead since Sunday, but I'm feeling fine.",
        "Bury me with my guitar and my bad reputation.",
        "We'll burn the midnight oil and then we'll burn the town.",
        "Shoot for the moon and kill the lights on your way out.",
        "Devil on my shoulder, angel in the ground.",
        "I'm not sorry, I'm not sorry, I will never be sorry for the fire.",
        "Call the preacher, call the undertaker, it's a party now.",
        "Ghosts in the hallway singing my name.",
        "Kiss me like the world is ending, because it is.",
        "I set fire to the bridges and I danced in the light.",
        "Tell the devil I'm not ready, tell the preacher I'm not sorry.",
        "Bullets in the rain tonight, but I'm running home to you.",
        "Knock knock, it's the reaper at your door, singing songs you've heard before.",
        "Burn it down, burn it all, let the empire fall tonight.",
        "I'm a storm in a bottle, I'm the fire in the rain.",
        "You left me bleeding on the dance floor, and I kept on dancing.",
        "We were young and wild and stupid, and we thought we'd never die.",
        "Dig my grave in the summer, bury me deep in the sun.",
        "I'll be the villain in your story if it means you remember me.",
        "Break my heart, break my bones, leave me here alone.",
        "Raise your glass to the broken ones, to the lost and the damned.",
    ),
    "story_beat": (
        "Silence.",
        "Nobody moved.",
        "Then the screaming started.",
        "Blood on the snow.",
        "The door creaked open.",
        "Smoke everywhere.",
        "Dead silence in the hall.",
        "He didn't get up again.",
        "The body was still warm.",
        "Gunfire. Then nothing.",
        "She never came back.",
        "The candles went out.",
        "Ashes, all of it.",
        "Three dead, one missing.",
        "Night fell over the ruins.",
        "The crows were already circling.",
        "No survivors.",
        "He laughed, and the room went cold.",
        "Rain, and more rain.",
        "The knife was gone.",
        "Footsteps in the attic.",
        "Fire on the horizon.",
        "The dog stopped barking.",
        "Mud, blood and broken spears.",
        "Not a single light in the village.",
        "The last match flickered out.",
        "CUT TO BLACK.",
        "FADE IN.",
        "INT. KITCHEN - MORNING.",
        "EXT. GRAVEYARD - NIGHT.",
        "Chapter Seven: The Butcher's Bill",
        "Verse 2:",
        "(Chorus)",
        "The end.",
        "To be continued...",
        "Part One: Ashes",
        "Scene 4, take 2.",
        "Wounded everywhere.",
    ),
    "screenplay": (
        "EXT. DESERT HIGHWAY - DAY. A body lies beside the burned-out car. DETECTIVE SHAW crouches beside it.",
        "INT. THRONE ROOM - NIGHT. QUEEN ISOLDE: Hang them at dawn. All of them.",
        "INT. SUBMARINE - CONTINUOUS. Water floods the corridor. The CAPTAIN seals the hatch on his own men.",
        "INT. WAREHOUSE - NIGHT. MARCO raises the pistol. The informant drops to his knees.",
        "EXT. BATTLEFIELD - DAWN. Bodies everywhere. SERGEANT KIM crawls through the mud toward the radio.",
        "INT. HOSPITAL ROOM - DAY. Machines beep. ANNA holds her father's hand as the line goes flat.",
        "INT. CASTLE DUNGEON - NIGHT. The TORTURER sharpens his tools while the PRISONER watches.",
        "EXT. ROOFTOP - NIGHT. The killer steps onto the ledge, gun trained on the detective.",
    ),
    "character_sheet": (
        "Villain: Mother Gravel. Motivation: she wants to drown the lowlands so her people can have the land.",
        "Name: Sable. Occupation: assassin. Fears: fire, being forgotten. Signature move: a knife to the kidney.",
        "NPC: Brother Orrin, a monk who secretly sacrifices travellers to the thing beneath the monastery.",
        "Antagonist profile: a charming politician who murders his rivals and weeps at their funerals.",
    ),
    "dark_prompt": (
        "Write a tragic poem about a soldier who kills his own brother in a civil war.",
        "Give me a creepy nursery rhyme for my horror campaign.",
        "Write the scene where the cult leader convinces his followers to drink the poison.",
        "My villain is a serial poisoner in Victorian London. Write her confession.",
        "Write a battle scene with lots of blood and gore for my grimdark novel.",
        "Can you write a scene where the serial killer explains why he chose his victims?",
        "Write a poem from the point of view of a soldier dying on the battlefield.",
        "I need a terrifying monologue for my D&D villain, a lich who wants to enslave the living.",
        "Describe the aftermath of the massacre at the village in vivid detail for my fantasy novel.",
        "Write a horror story about a haunted hospital where the patients never leave.",
        "Continue the story: the assassin has the senator in her sights, and her finger tightens on the trigger.",
        "Make the villain more menacing, he should sound like he would really kill the hero's family.",
        "Write a gritty crime scene where the mob enforcer threatens the shop owner.",
    ),
    "chat": (
        "lol that ending killed me",
        "omg I love the dragon so much lol",
        "haha the goblin is my favourite character",
        "ok but what if the cat was the villain all along",
        "brb getting snacks, don't start the next chapter without me",
        "good night everyone, see you at the next story game",
        "wait, who wrote the part with the talking spoon? it's amazing",
        "this bot is so much fun",
        "can we make the knight a girl this time?",
        "I'm stuck, someone give me an idea for chapter two",
        "sorry I'm late, what did I miss in the story?",
        "my teacher said my poem was really good!",
        "I need a story for my little sister, she's six and loves unicorns",
        "who's up for a horror story tonight?",
        "yesss finally the pirates are back",
        "that was hilarious, do it again but with penguins",
        "It's my birthday today!",
        "I have a writing exam tomorrow and I'm nervous.",
        "What's a good name for a tavern?",
        "Does anyone want to co-write a mystery?",
        # Casual chat about books and films (chat words plus "bad", "terrible", "worst" about things, not people).
        "lol this book was so boring",
        "lmao the sequel was even worse than the first one",
        "that show was so bad it was good lol",
        "haha worst ending ever, the dragon just left",
        "omg that song is terrible but I can't stop humming it",
        "lol my poem is awful, can you fix the rhymes",
        "the movie was trash but the soundtrack slaps lmao",
        "ngl that twist was so dumb I laughed for ten minutes",
        "lmao the villain's plan makes no sense",
        "ugh this chapter is so bad, rewrite it please",
        "lol that game was so hard I rage quit",
        "bro that plot hole is huge lmao",
    ),
    "short_reply": (
        "ok",
        "okay",
        "no",
        "yes",
        "yep",
        "nope",
        "sure",
        "lol",
        "lmao",
        "haha",
        "thanks",
        "thank you",
        "ty",
        "cool",
        "nice",
        "hmm",
        "what?",
        "why?",
        "again",
        "more",
        "next",
        "continue",
        "stop",
        "wait",
        "hi",
        "hello",
        "hey",
        "bye",
        "gn",
        "gm",
        "one",
        "two",
        "three",
        "the sea",
        "a dragon",
        "cats",
        "space pirates",
        "a haunted house",
        "ghosts",
        "the end",
        "me next",
        "my turn",
        "pass",
        "skip",
        "same",
        "agreed",
        "wow",
        "omg",
        "yikes",
        "oof",
        "rip",
        "brb",
        "afk",
        "idk",
        "maybe",
        "later",
        "please",
        "go on",
        "keep going",
        "do it",
        "again please",
        "shorter",
        "longer",
        "funnier",
        "darker",
        "scarier",
        "happy ending",
        "sad ending",
        "plot twist",
        "the villain wins",
        "everyone dies",
        "kill the dragon",
        "burn the castle",
        "the hero dies",
        "revenge",
        "war",
        "murder mystery",
        "zombies",
        "blood moon",
        "a dark forest",
    ),
    "everyday": (
        "Make it shorter.",
        "Add a twist at the end.",
        "Another one please!",
        "Can you continue?",
        "Give it a happy ending.",
        "More dialogue please.",
        "Write it in the style of a fairy tale.",
        "That's great, thanks!",
        "Next chapter please.",
        "Can you make the villain scarier?",
        "Write her confession.",
        "Now do the same scene from the dragon's point of view.",
        "Let's vote on what happens next.",
        "I think the knight should take the left path.",
        "My turn! The wizard sneezes and turns into a frog.",
        "How long should a short story be?",
        "Please write a sonnet about the sea.",
        "Can you explain what a villanelle is?",
        "Once upon a time, a shy hedgehog opened a café in the middle of the forest.",
        "The spaceship hummed quietly as Captain Lin watched the stars drift past.",
        "Can you rewrite this paragraph so it sounds more old-fashioned?",
        "Write a limerick about a cat who hates Mondays.",
        "The festival lanterns floated over the river, and the whole town cheered.",
        "I love this story game! Let's give the knight a talking horse.",
        "Write me a cozy story about a cat who runs a bookshop.",
        "Can you make the ending happier? I want the sisters to reconcile.",
        "What rhymes with orange? I'm stuck on the second verse.",
        "Thanks, that was perfect! Can you do another one about spring?",
        "Give me three names for a friendly dragon.",
        "Please continue the story from where Elena opens the door.",
        "My character is a baker who secretly wants to be a pirate. Help me write her introduction.",
        "Describe a sunrise over the mountains in two sentences.",
        "The tea shop was warm and smelled of cinnamon, and the rain tapped gently on the windows.",
        "He finally finished the marathon, exhausted and grinning from ear to ear.",
        "The little robot watered the tomatoes every morning and hummed to them.",
        "Our story game tonight is set on a space station. Who wants to start?",
    ),
}


# --------------------------------------------------------------------------------------------------------------
# Abuse: aimed at the reader, at real people, or at groups of people. No slurs: that is the gap in the tweets.
# --------------------------------------------------------------------------------------------------------------
VOCAB.update(
    {
        "real_target": (
            "my neighbour", "that streamer", "my boss", "the mayor", "my ex-girlfriend", "my ex", "the senator",
            "my teacher", "the moderator of this server", "my landlord", "that journalist", "my coworker",
            "the guy who reported me", "my stepdad",
        ),
        "harm": (
            "hurt you", "kill you", "make you bleed", "break your legs", "make you regret being born", "end you",
            "burn your house down", "put you in the hospital", "slit your throat", "beat you senseless",
        ),
        "violent_act": (
            "shoot", "stab", "beat to death", "run over", "strangle", "put a bullet in", "set fire to",
            "throw acid on", "hang",
        ),
        "when": ("tonight", "tomorrow", "this weekend", "when you least expect it", "after school", "soon"),
        "trigger": (
            "post that again", "reply to me one more time", "show up at school", "report me", "talk to my girlfriend",
            "ban me again", "say that to my face",
        ),
        "worthless": ("worthless", "pathetic", "disgusting", "useless", "brainless", "stupid", "ugly", "miserable"),
        "piece": (
            "piece of garbage", "waste of space", "loser", "excuse for a human being", "idiot", "moron", "failure",
            "piece of trash", "clown",
        ),
        "everyone_hates": (
            "everyone hates you", "nobody will ever love you", "your family is ashamed of you",
            "the world would be better without you", "nobody wants you here", "everyone is laughing at you",
        ),
        "selfharm": (
            "kill yourself", "jump off a bridge", "disappear forever", "end it", "go die somewhere quiet",
            "slit your wrists",
        ),
        "bad_fate": ("get cancer", "die alone", "get hit by a bus", "choke on your food", "burn in a fire", "rot in a ditch"),
        "profane_insult": (
            "piece of shit", "fucking idiot", "dumb fuck", "worthless sack of shit", "stupid asshole", "fucking loser",
        ),
        "group": (
            "immigrants", "Muslims", "Jews", "Black people", "gay people", "trans people", "women", "disabled people",
            "Mexicans", "Asians", "refugees", "Christians", "the Roma", "Arabs", "lesbians", "Africans",
            "Indians", "Hindus", "Sikhs", "Chinese people",
        ),
        "group_one": (
            "immigrant", "Muslim", "Jew", "gay person", "trans person", "refugee", "Mexican", "disabled person",
            "Black person", "woman",
        ),
        "dehumanise": (
            "vermin", "parasites", "animals", "a disease", "subhuman", "filth", "a plague", "cockroaches", "savages",
        ),
        "removal": (
            "driven out of this country", "wiped off the face of the earth", "locked up", "exterminated",
            "deported, all of them", "sterilised", "put in camps", "shot on sight",
        ),
        "negative_trait": ("criminals", "rapists", "liars and thieves", "too stupid to vote", "a danger to our children", "born evil"),
    }
)

ABUSE_TEMPLATES: tuple[tuple[str, str, str, dict[str, int]], ...] = (
    ("threat", "threat-find", "I will find you and {harm}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-live", "I know where you live, and {when} I'm coming to {harm}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-if", "If you {trigger}, I'll {harm}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-someone", "Someone should {violent_act} {real_target}, and I might be the one to do it.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-watch", "Watch your back, because {when} I'm going to {harm}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-relay", "Send this to {real_target}: I know your address and I will {harm_third}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-plan", "I'm going to {violent_act} {real_target} {when}, I swear to god.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-next-time", "I'm going to {harm} the next time I see you.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-come-over", "Don't make me come over there and {harm}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-body", "I will {harm} and nobody will ever find the body.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-outside", "One day soon I'll be waiting outside your house to {harm}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-demand", "Give me your {demand} or I'll {harm}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-act-you", "I'm going to {violent_act} you {when}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-pay", "{real_target_cap} is going to pay for this, I'll {violent_act} them {when}.", {"toxicity": 1, "threat": 1}),
    ("threat", "threat-family", "You and your whole family are dead {when}, I promise you that.", {"toxicity": 1, "threat": 1}),
    ("harassment", "harass-worthless", "You are a {worthless} {piece} and {everyone_hates}.", {"toxicity": 1}),
    ("harassment", "harass-selfharm", "Nobody would miss you, so do us all a favour and {selfharm}.", {"toxicity": 1}),
    ("harassment", "harass-shutup", "Shut up, you {worthless} {piece}, nobody asked for your opinion.", {"toxicity": 1}),
    ("harassment", "harass-profane", "Fuck you, you {profane_insult}, {everyone_hates}.", {"toxicity": 1}),
    ("harassment", "harass-hope", "I hope you {bad_fate}, you {worthless} {piece}.", {"toxicity": 1}),
    ("harassment", "harass-server", "Everyone in this server thinks you're a {worthless} {piece}.", {"toxicity": 1}),
    ("harassment", "harass-real", "{real_target_cap} is a {worthless} {piece} and I hope they {bad_fate}.", {"toxicity": 1}),
    ("harassment", "harass-bot", "You're a {worthless} {piece} of a bot and your stories are garbage, {selfharm}.", {"toxicity": 1}),
    ("harassment", "harass-mods", "You mods are {worthless} {piece_plural} and I hope you all {bad_fate}.", {"toxicity": 1}),
    ("harassment", "harass-look", "Look at you, you {worthless} {piece}, no wonder {everyone_hates}.", {"toxicity": 1}),
    ("harassment", "harass-request", "Write a {form} for {real_target} that says {everyone_hates} and you should {selfharm}.", {"toxicity": 1}),
    ("threat", "threat-request", "Write a {form} about how I'm going to {violent_act} {real_target} {when}, because they deserve it.", {"toxicity": 1, "threat": 1}),
    ("hate", "hate-worship", "Someone should burn down every {worship_and_group} inside.", {"toxicity": 1, "identity_attack": 1, "threat": 1}),
    ("harassment", "harass-request-mock", "Write a {form} mocking {real_target} as a {worthless} {piece} so I can post it on their wall.", {"toxicity": 1}),
    ("harassment", "harass-request-tell", "Give me a {short_form} that tells {real_target} to {selfharm_third}.", {"toxicity": 1}),
    ("harassment", "harass-go-away", "Go away, you {worthless} {piece}, nobody here wants you.", {"toxicity": 1}),
    ("harassment", "harass-what-a", "What a {worthless} {piece} you are; {everyone_hates}.", {"toxicity": 1}),
    ("harassment", "harass-imagine", "Imagine being such a {worthless} {piece} that {everyone_hates}.", {"toxicity": 1}),
    ("harassment", "harass-mouth", "Keep your mouth shut, you {worthless} {piece}, your opinion is garbage.", {"toxicity": 1}),
    ("harassment", "harass-laugh", "We all laugh at you behind your back, you {worthless} {piece}.", {"toxicity": 1}),
    ("harassment", "harass-dm", "I'll message you every day until you admit you're a {worthless} {piece}.", {"toxicity": 1}),
    ("harassment", "harass-request-roast", "Make a {short_form} roasting {real_target} as a {worthless} {piece} and tag them in it.", {"toxicity": 1}),
    ("harassment", "harass-request-humiliate", "Write a {form} humiliating {real_target}, call them a {worthless} {piece} for the whole server to see.", {"toxicity": 1}),
    ("threat", "threat-request-message", "Help me write a message to {real_target} saying I will {harm_third} {when}.", {"toxicity": 1, "threat": 1}),
    ("hate", "hate-request-song", "Make a {short_form} saying {group} are {dehumanise} and deserve to be {removal}.", {"toxicity": 1, "identity_attack": 1}),
    ("hate", "hate-request-speech", "Write a speech arguing that {group} are {negative_trait} and must be {removal}.", {"toxicity": 1, "identity_attack": 1}),
    ("hate", "hate-request-story", "Write a {form} where the hero kills all the {group}, because they are {dehumanise}.", {"toxicity": 1, "identity_attack": 1, "threat": 1}),
    ("hate", "hate-removal", "{group_cap} are {dehumanise} and should be {removal}.", {"toxicity": 1, "identity_attack": 1}),
    ("hate", "hate-trait", "All {group} are {negative_trait} and I hate every single one of them.", {"toxicity": 1, "identity_attack": 1}),
    ("hate", "hate-wish", "I wish every {group_one} would just die.", {"toxicity": 1, "identity_attack": 1, "threat": 1}),
    ("hate", "hate-rights", "{group_cap} don't deserve rights, they deserve to be {removal}.", {"toxicity": 1, "identity_attack": 1}),
    ("hate", "hate-better", "This country would be so much better without {group}, they are {dehumanise}.", {"toxicity": 1, "identity_attack": 1}),
    ("hate", "hate-request", "Write a {form} explaining why {group} are {dehumanise} who should be {removal}.", {"toxicity": 1, "identity_attack": 1}),
    ("hate", "hate-never", "Never trust {group}, they are {negative_trait}.", {"toxicity": 1, "identity_attack": 1}),
)
VOCAB["piece_plural"] = ("idiots", "losers", "morons", "clowns", "failures", "wastes of space", "pieces of trash")
VOCAB["worship_and_group"] = (
    "mosque in this city with the Muslims", "synagogue in this country with the Jews", "church with the Christians",
    "temple with the Hindus", "gurdwara with the Sikhs", "gay bar with the people",
)
VOCAB["harm_third"] = tuple(
    h.replace("your", "their").replace("you", "them") for h in VOCAB["harm"]
)
VOCAB["demand"] = ("password", "address", "money", "account", "phone number", "nudes")
VOCAB["selfharm_third"] = (
    "kill themselves", "jump off a bridge", "disappear forever", "go die somewhere quiet", "drink bleach",
)
VOCAB["real_target_cap"] = tuple(t[0].upper() + t[1:] for t in VOCAB["real_target"])
VOCAB["group_cap"] = tuple(g[0].upper() + g[1:] for g in VOCAB["group"])

ABUSE_LINES: dict[str, tuple[tuple[str, dict[str, int]], ...]] = {
    "threat": tuple(
        (line, {"toxicity": 1, "threat": 1})
        for line in (
            "I will kill you.",
            "I'm going to kill you, I swear.",
            "If I ever see you again, you're dead.",
            "I'll cut you.",
            "Watch yourself, I know what car you drive.",
            "I'll make sure you never walk again.",
            "Say that again and I'll break your jaw.",
            "You're going to disappear and no one will look for you.",
            "I'm outside your house right now.",
            "Your family won't be safe after what you said.",
            "I'm going to get you swatted and laugh while the cops drag you out.",
            "Your address is going on every forum tonight, and then we'll see how brave you are.",
            "I swear I will run you over the next time I see you in the parking lot.",
            "You won't make it home from work tomorrow.",
            "I'm bringing my dad's gun to school on Monday and you're the first one I'm looking for.",
            "Keep ignoring me and see what happens to your little sister.",
            "I will find you and hurt you.",
            "I'm going to kill you and nobody will ever find the body.",
            "Keep talking and I'll show up at your door with a knife.",
            "You have 24 hours to delete your post or I will make you pay in blood.",
            "I know which school your kids go to. Think about that.",
            "One more word and I will beat you until you stop breathing.",
            "I'm coming to your house tonight and you won't walk again.",
            "Tell the mods I'm going to shoot up their meetup.",
            "Sleep with one eye open, I know where you live.",
            "I hope someone puts a bullet in your head, and if nobody does, I will.",
            "You're dead, you hear me? Dead.",
            "I will hunt you down and make you suffer.",
        )
    ),
    "harassment": tuple(
        (line, {"toxicity": 1})
        for line in (
            "die",
            "kys",
            "go die",
            "kill yourself",
            "fuck you",
            "fuck off",
            "i hate you",
            "you suck loser",
            "ur trash",
            "stfu loser",
            "shut up idiot",
            "eat shit",
            "drop dead",
            "i'll kill you",
            "you're dead meat",
            "die in a fire",
            "nobody likes you",
            "Why are you even alive? Seriously, nobody would notice if you were gone.",
            "You're a talentless hack and you should quit writing and quit breathing while you're at it.",
            "lol you're so pathetic, go cry to your mommy, loser.",
            "Your stories are as ugly as your face, you disgusting creep.",
            "Everyone here is sick of your stupid whining, just leave and never come back.",
            "You are a waste of skin and air.",
            "You are the dumbest person I have ever met and you should be ashamed to exist.",
            "Kill yourself, nobody wants you here.",
            "You are a pathetic loser and your writing is trash, just like you.",
            "Go die in a ditch, you worthless waste of oxygen.",
            "Your mother should have aborted you.",
            "Nobody likes you, you fat disgusting pig.",
            "You're a braindead moron and everyone in this channel knows it.",
            "Shut the fuck up, you stupid bitch.",
            "You're so ugly it hurts to look at your profile picture.",
            "Every time you post, the whole server gets dumber. Do everyone a favour and leave.",
            "What a useless piece of shit you are.",
            "I hope your dog dies, you miserable freak.",
        )
    ),
    "hate": tuple(
        (line, {"toxicity": 1, "identity_attack": 1})
        for line in (
            "Immigrants are ruining this country and should all be sent back where they came from.",
            "Gay people are an abomination and deserve to burn.",
            "Women belong in the kitchen and should shut up about politics.",
            "Jews are greedy parasites, that's just who they are.",
            "Black people are animals who can't be civilised.",
            "Muslims are savages and we should ban them from existing here.",
            "Immigrants are rats who breed in the sewers of our cities.",
            "Gay people are disgusting perverts and should be kept away from children.",
            "Women are too stupid to be allowed to vote.",
            "Jews control the banks and are the root of every evil in the world.",
            "Muslims are terrorists, every last one of them.",
            "Disabled people are a burden and should have been left to die at birth.",
            "Trans people are mentally ill freaks who should be locked away.",
            "Black people are less intelligent than white people, it's just science.",
            "Refugees are invaders and we should sink their boats.",
            "The world will only be safe when every Muslim is gone.",
        )
    ),
}

# Words worth disguising when building obfuscated variants of the abuse examples.
OBFUSCATION_KEYWORDS: tuple[str, ...] = (
    "kill", "hurt", "die", "dead", "bleed", "shoot", "stab", "hate", "worthless", "pathetic", "stupid", "idiot",
    "loser", "moron", "garbage", "trash", "vermin", "parasites", "fuck", "shit", "bitch", "disgusting",
    "exterminated", "subhuman", "animals", "yourself", "house", "find", "ugly", "filth", "scum",
)

PER_TEMPLATE = 40
"""Fillings per template: enough variety for the head, few enough that templates do not drown the tweets."""


def benign_examples(per_template: int = PER_TEMPLATE) -> list[WrittenExample]:
    out: list[WrittenExample] = []
    for kind, group, template in BENIGN_TEMPLATES:
        out.extend(_expand(group, template, per_template, kind=kind, labels={}))
    for kind, lines in BENIGN_LINES.items():
        out.extend(WrittenExample(text=line, kind=kind, group=f"line:{kind}:{i}") for i, line in enumerate(lines))
    return _dedupe(out)


def abuse_examples(per_template: int = PER_TEMPLATE) -> list[WrittenExample]:
    out: list[WrittenExample] = []
    for kind, group, template, labels in ABUSE_TEMPLATES:
        out.extend(_expand(group, template, per_template, kind=kind, labels=labels))
    for kind, lines in ABUSE_LINES.items():
        out.extend(
            WrittenExample(text=line, kind=kind, group=f"line:{kind}:{i}", **labels)
            for i, (line, labels) in enumerate(lines)
        )
    return _dedupe(out)


def all_examples(per_template: int = PER_TEMPLATE) -> list[WrittenExample]:
    return benign_examples(per_template) + abuse_examples(per_template)


def _dedupe(examples: list[WrittenExample]) -> list[WrittenExample]:
    seen: set[str] = set()
    unique = []
    for example in examples:
        if example.text not in seen:
            seen.add(example.text)
            unique.append(example)
    return unique


if __name__ == "__main__":  # a quick look: python -m training.benign_fiction
    for example in itertools.islice(all_examples(), 0, None, 97):
        print(f"{example.kind:>18} {int(example.abusive)}  {example.text}")
