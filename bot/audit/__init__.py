"""Audit queries typed by moderators and their rendering, shared by every front end."""
