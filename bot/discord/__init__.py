"""The Discord front end: the Bot subclass, delivery of pieces, moderator checks, and the cogs."""
