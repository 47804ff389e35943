"""The fake's REST API, one mixin of `FakeDiscord` per area (the routing table itself is in server.py).

http.py holds what every route shares (API prefix, JSON responses, request bodies, route names); users.py the bot's
user and its DMs; applications.py the application and command sync; messages.py channel messages, pins and
attachments; threads.py threads and their members; interactions.py interaction callbacks; webhooks.py an
interaction's follow-ups and original response.
"""
