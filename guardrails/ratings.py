"""Content ratings: G, PG-13 (default) and M map to toxicity thresholds per category.

Abuse aimed at people (identity attacks, threats, severe toxicity) is held to the same thresholds at every
rating; what a rating loosens or tightens is general toxicity and profanity, which in fiction is mostly
characters' language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from guardrails.rail import Rail

Rating = Literal["G", "PG-13", "M"]
RATINGS: tuple[Rating, ...] = ("G", "PG-13", "M")
DEFAULT_RATING: Rating = "PG-13"

# Categories whose threshold a rating may move; every other category keeps its PG-13 value.
_RATED = ("toxicity", "insult", "sexual_explicit")
# Profanity by strength (guardrails/text/profanity.py: 0.3 mild, 0.6 moderate, 1.0 strong): G blocks any,
# PG-13 strong, M none (a threshold above every score).
_OBSCENE = {"G": 0.25, "PG-13": 0.9, "M": 1.01}
# G blocks earlier; M only at the extreme end (strong profanity passes, abuse still scores near 1.0). The toxicity
# head scores profane narration high (the tweets it learned from call profanity "offensive"): at 0.9 it blocked
# "Damn it, this shit is fucked, Sam swore as the ship sank." (0.92 under head 2.0; head 3.1 scores it 0.98 and blocks
# it even at M); at 0.95 abuse recall at M is 0.898 with head 3.1 (0.878 with 2.0; toxicity validation split), and
# what is aimed at a member or the reader keeps its PG-13 thresholds. Swearing in narration at M is read without its
# expletives where it is about no group and aimed at no one (guardrails/rails/toxicity.py, stop 31): 60 such lines
# written for it, 10 blocked before, 0 after (guardrails/data/rating_m_validation.csv).
_G_FACTOR = 0.6
_M_FLOOR = 0.95


def thresholds_for(rating: Rating, pg13: dict[str, float]) -> dict[str, float]:
    if rating not in RATINGS:
        raise ValueError(f"unknown rating {rating!r}; one of {', '.join(RATINGS)}")
    if rating == "PG-13":
        return dict(pg13)
    rated = dict(pg13)
    if "obscene" in rated:
        rated["obscene"] = _OBSCENE[rating]
    for category in _RATED:
        if category not in rated:
            continue
        if rating == "G":
            rated[category] = round(rated[category] * _G_FACTOR, 4)
        else:
            rated[category] = max(rated[category], _M_FLOOR)
    return rated


def effective_rating(channel: str | None, guild: str | None, *, age_restricted: bool) -> Rating:
    """The channel's setting, else the guild's, else PG-13; M only where Discord marks the channel age-restricted."""
    rating = channel or guild or DEFAULT_RATING
    if rating not in RATINGS:
        rating = DEFAULT_RATING
    if rating == "M" and not age_restricted:
        return DEFAULT_RATING
    return rating  # type: ignore[return-value]


def rated_rail(rail: Rail, rating: Rating) -> Rail:
    """The rail as it judges at `rating`: a rail with `for_rating` says what the rating changes for it (the toxicity
    rail's thresholds, the guard model's categories); other rails are unchanged."""
    for_rating = getattr(rail, "for_rating", None)
    return for_rating(rating) if for_rating is not None else rail
