"""Content moderation: prompts checked before any credit moves (`checks.py`), decisions recorded
for the compliance report (`records.py`)."""
