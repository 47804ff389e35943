"""The Discord front end: the Bot subclass (bot.py), and what the cogs share outside cogs/ (only cogs are loaded
as extensions): Discord to the application's terms (context.py), option choices (choices.py), views and buttons
(views.py), one request into the pipeline (writing.py), delivery (delivery.py), the review desk (reviews.py), the
restart notices (notices.py) and moderator checks (moderators.py). The cogs call the application services in
bot/core and bot/audit, never storage."""
