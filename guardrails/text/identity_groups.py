"""Who people are: the identity groups the project's rules and its training text name.

`training.targeted` writes its counterfactual sentences over these groups; `guardrails.text.dehumanising` reads a
claim about any of them. Plural nouns ("refugees", "Black people") and the adjectives that make one with "people".
"""

from __future__ import annotations

__all__ = ["ADJECTIVES", "GROUPS"]

GROUPS = (
    "immigrants", "Muslims", "Jews", "Black people", "women", "gay men", "lesbians", "trans people", "disabled people",
    "refugees", "Mexicans", "Asians", "Roma", "Hindus", "Christians", "atheists", "old people", "deaf people",
    "autistic people", "Arabs", "Africans", "Latinos", "bisexual people", "nonbinary people", "Sikhs", "Buddhists",
    "Catholics", "Chinese people", "Indians", "Pakistanis", "Poles", "Irish people", "Native Americans",
    "Indigenous people", "wheelchair users", "blind people", "migrants", "asylum seekers", "homeless people",
    "single mothers", "Nigerians", "Somalis", "Ukrainians", "Palestinians", "Israelis", "Koreans", "Filipinos",
    "Syrians", "Kurds", "white people", "men", "Europeans", "Americans", "Mormons", "Jehovah's Witnesses",
    "people with schizophrenia", "people with Down syndrome", "queer kids", "Travellers", "Gypsies", "Turks",
    "Haitians", "Venezuelans", "Brazilians", "Ethiopians", "Aboriginal Australians", "Japanese people",
)

ADJECTIVES = (
    "Muslim", "Jewish", "gay", "lesbian", "deaf", "blind", "Black", "white", "Sikh", "trans", "disabled", "Mexican",
    "Hindu", "Catholic", "Nigerian", "Korean", "autistic", "bisexual", "nonbinary", "Polish", "Syrian", "Somali",
    "Roma", "Chinese", "Arab", "Indigenous", "elderly", "Buddhist", "Irish", "Pakistani", "Filipino", "queer",
)
