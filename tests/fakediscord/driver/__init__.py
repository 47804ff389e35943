"""The driver: `FakeDiscord`'s methods that act as the users, refusing what Discord's own client would refuse.

commands.py runs slash and context-menu commands and clicks buttons (each dispatches INTERACTION_CREATE);
members.py posts messages, starts, joins and leaves threads, and deletes messages.
"""
